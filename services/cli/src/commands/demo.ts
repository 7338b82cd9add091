import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { isLabName, LAB_NAME_RULE, MAX_LAB_HOSTS } from '@fjord/lab';
import { runDemo } from '../demo/run.js';
import { globalOptions } from '../context.js';
import { printJson } from '../output.js';
import { parsePositive, wholeNumber } from './options.js';

/** Each tenant spreads one container per host, so the demo needs at least three; a lab has at most {@link MAX_LAB_HOSTS}. */
const demoHostCount = wholeNumber({ min: 3, max: MAX_LAB_HOSTS, what: 'a host count', minWhy: 'each tenant spreads one container per host' });

/** The lab's name, also a NATS subject prefix and a database stem. */
function demoName(value: string): string {
  if (!isLabName(value)) throw new CommanderArgumentError(`expected ${LAB_NAME_RULE}, got "${value}"`);
  return value;
}

/** Adds `fjordctl demo`: the main job, start to finish, on this machine (see demo/run.ts). */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description("run Fjord's main job on this machine and remove everything after: scheduler, a lab of hosts with workers (root; simulated hosts otherwise), two tenants on one subnet, placements, isolation proven with packets")
    .option('--hosts <n>', `number of hypervisors (3 to ${MAX_LAB_HOSTS}: each tenant spreads one container per host)`, demoHostCount, 3)
    .option('--simulate', 'use simulated hosts even where the lab could run', false)
    .option('--name <name>', `lab name, NATS subject prefix and database stem (${LAB_NAME_RULE})`, demoName, 'fjdemo')
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
