import type { Command } from 'commander';
import { connect, type Clients } from './client.js';

/** Options every command inherits from the program. */
export interface GlobalOptions {
  server: string;
  json: boolean;
}

/** Reads the global options of the program a subcommand belongs to. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Runs `fn` with clients connected to the scheduler named by the global options, closing them after. */
export async function withClients<T>(command: Command, fn: (clients: Clients, options: GlobalOptions) => Promise<T>): Promise<T> {
  const options = globalOptions(command);
  const clients = connect(options.server);
  try {
    return await fn(clients, options);
  } finally {
    clients.close();
  }
}
