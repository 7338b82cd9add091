import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { callUnary, CallError } from '../client.js';
import { withClients } from '../context.js';
import { parseSequence } from './options.js';

/** How long `watch` waits for the scheduler's first answer. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Adds `fjordctl watch`: streams events until Ctrl-C. */
export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('stream scheduling events as they happen (Ctrl-C to stop)')
    .option('--tenant <tenant>', 'only this tenant\'s events')
    .option('--since <sequence>', 'first replay the events after this sequence number; 0 replays every event kept (default: new events only)', parseSequence)
    .action(async (opts: { tenant?: string; since?: number }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        // A stream has no deadline: a cheap call with one first, so that a scheduler that is down
        // fails at once with the cause and one that never answers fails after CONNECT_TIMEOUT_MS.
        await callUnary(clients, clients.placement, clients.placement.listContainers, { tenant: '', host: '', network: '', limit: 1 }, CONNECT_TIMEOUT_MS).catch((err: unknown) => {
          // Said as unreachable: a read that timed out changed nothing (explain's words for a timeout are about writes).
          if (err instanceof CallError && err.code === status.DEADLINE_EXCEEDED) throw new CallError(status.UNAVAILABLE, `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`, clients.server);
          throw err;
        });
        const request = { afterSequence: BigInt(opts.since ?? 0), fromStart: opts.since === 0, tenant: opts.tenant ?? '' };
        return new Promise<void>((resolve, reject) => {
          const stream = clients.placement.watch(request, new Metadata());
          let stopping = false;
          process.once('SIGINT', () => {
            stopping = true;
            stream.cancel();
          });
          stream.on('data', ({ event }) => {
            if (!event) return;
            if (json) console.log(JSON.stringify({ ...event, sequence: Number(event.sequence) }));
            else console.log(`${event.at}  #${event.sequence}  ${event.kind.padEnd(20)} ${event.subject.padEnd(24)} ${event.message}`);
          });
          // Only Ctrl-C ends a watch well: the scheduler ending it (as it stops, say) is a failure to report.
          const endedByServer = (how: string) => new Error(`the scheduler at ${clients.server} ended the stream of events (${how}); did it stop?`);
          stream.on('error', (err: ServiceError) => {
            if (err.code !== status.CANCELLED) reject(new CallError(err.code, err.details || err.message, clients.server));
            else if (stopping) resolve();
            else reject(endedByServer(err.details || err.message));
          });
          stream.on('end', () => (stopping ? resolve() : reject(endedByServer('it closed the stream'))));
        });
      }),
    );
}
