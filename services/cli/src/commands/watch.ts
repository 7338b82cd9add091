import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { CallError } from '../client.js';
import { withClients } from '../context.js';

/** Adds `fjordctl watch`: streams events until Ctrl-C. */
export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('stream scheduling events as they happen (Ctrl-C to stop)')
    .option('--tenant <tenant>', 'only this tenant\'s events')
    .option('--since <sequence>', 'replay events after this sequence number first', '0')
    .action(async (opts: { tenant?: string; since: string }, command: Command) =>
      withClients(command, (clients, { json }) => {
        if (!/^\d+$/.test(opts.since)) throw new Error(`--since: expected a sequence number, got "${opts.since}"`);
        return new Promise<void>((resolve, reject) => {
          const stream = clients.placement.watch({ afterSequence: BigInt(opts.since), tenant: opts.tenant ?? '' }, new Metadata());
          process.once('SIGINT', () => stream.cancel());
          stream.on('data', ({ event }) => {
            if (!event) return;
            if (json) console.log(JSON.stringify({ ...event, sequence: Number(event.sequence) }));
            else console.log(`${event.at}  #${event.sequence}  ${event.kind.padEnd(20)} ${event.subject.padEnd(24)} ${event.message}`);
          });
          stream.on('error', (err: ServiceError) => (err.code === status.CANCELLED ? resolve() : reject(new CallError(err.code, err.details, clients.server))));
          stream.on('end', resolve);
        });
      }),
    );
}
