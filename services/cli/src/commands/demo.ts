import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { runDemo } from '../demo/run.js';
import { globalOptions } from '../context.js';
import { printJson } from '../output.js';
import { parsePositive } from './options.js';

/** Each tenant spreads one container per host, so the demo needs at least three. */
function demoHostCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 3) throw new CommanderArgumentError(`expected a host count of at least 3 (each tenant spreads one container per host), got "${value}"`);
  return Number(value);
}

/** The lab name (the lab's own rule), also a NATS subject prefix and a database stem. */
function demoName(value: string): string {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(value)) throw new CommanderArgumentError(`expected 1-8 of a-z0-9 starting with a letter, got "${value}"`);
  return value;
}

/** Adds `fjordctl demo`: the main job, start to finish, on this machine (see demo/run.ts). */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description("run Fjord's main job on this machine and remove everything after: scheduler, a lab of hosts with workers (root; simulated hosts otherwise), two tenants on one subnet, placements, isolation proven with packets")
    .option('--hosts <n>', 'number of hypervisors (at least 3: each tenant spreads one container per host)', demoHostCount, 3)
    .option('--simulate', 'use simulated hosts even where the lab could run', false)
    .option('--name <name>', 'lab name, NATS subject prefix and database stem (1-8 of a-z0-9, starting with a letter)', demoName, 'fjdemo')
    .option('--grpc-port <port>', 'port of the demo scheduler on 127.0.0.1', parsePositive, 50151)
    .option('--postgres <url>', 'Postgres server the demo creates its database on (an embedded one is started when none answers)', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
    .option('--nats <url>', 'NATS server', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
    .action(async (opts: { hosts: number; simulate: boolean; name: string; grpcPort: number; postgres: string; nats: string }, command: Command) => {
      const { json } = globalOptions(command);
      const result = await runDemo({
        hosts: opts.hosts,
        simulate: opts.simulate,
        name: opts.name,
        grpcPort: opts.grpcPort,
        postgresUrl: opts.postgres,
        natsUrl: opts.nats,
        say: json ? () => undefined : (line) => console.log(line),
      });
      if (json) printJson(result);
      if (result.proofs.some((p) => !p.ok) || result.leftAfterDelete > 0) process.exitCode = 1;
    });
}
