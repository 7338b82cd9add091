#!/usr/bin/env -S npx tsx
import { Command, CommanderError } from 'commander';
import { status } from '@grpc/grpc-js';
import { CallError } from './client.js';
import { registerContainerCommands } from './commands/containers.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerHostCommands } from './commands/hosts.js';
import { registerIpCommands } from './commands/ips.js';
import { registerLabCommands } from './commands/lab.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerNetworkCommands } from './commands/networks.js';
import { registerSimCommand } from './commands/sim.js';
import { registerWatchCommand } from './commands/watch.js';

const program = new Command('fjordctl')
  .description('operate a Fjord control plane')
  .option('--server <host:port>', 'scheduler gRPC address', process.env.FJORD_SERVER ?? '127.0.0.1:50051')
  .option('--json', 'print JSON instead of tables', false)
  .showHelpAfterError()
  .exitOverride();

registerContainerCommands(program);
registerHostCommands(program);
registerNetworkCommands(program);
registerIpCommands(program);
registerWatchCommand(program);
registerSimCommand(program);
registerLabCommands(program);
registerDemoCommand(program);
registerMigrateCommand(program);

/** Turns any failure into one line on stderr and a non-zero exit. */
function explain(err: unknown): string {
  if (err instanceof CallError) {
    if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
      return `cannot reach the scheduler at ${err.server} (${err.details}); is it running? (npm run scheduler)`;
    }
    return `${status[err.code] ?? err.code}: ${err.details}`;
  }
  return err instanceof Error ? err.message : String(err);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  console.error(`fjordctl: ${explain(err)}`);
  process.exit(1);
}
