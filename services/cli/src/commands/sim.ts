import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { pino } from 'pino';
import { runSimulator } from '@fjord/worker';

function positive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CommanderArgumentError(`expected a positive whole number, got "${value}"`);
  return Number(value);
}

/** Options of `fjordctl sim`. */
interface SimOptions {
  hosts: number;
  prefix: string;
  nats: string;
  heartbeatMs?: number;
  namePrefix: string;
  registerRate: number;
  syncMs: number;
  reportS: number;
  logLevel: string;
}

/** Adds `fjordctl sim`: runs thousands of simulated worker hosts (fake drivers) over one NATS connection. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate worker hosts with in-memory drivers, over real NATS, until Ctrl-C')
    .requiredOption('--hosts <n>', 'number of hosts to simulate', positive)
    .option('--prefix <prefix>', 'NATS subject prefix', 'fjord')
    .option('--nats <url>', 'NATS URL', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
    .option('--heartbeat-ms <ms>', 'heartbeat interval (default: what the scheduler says)', positive)
    .option('--name-prefix <prefix>', 'host names are <prefix>-00000, <prefix>-00001, ...', 'sim')
    .option('--register-rate <n>', 'registrations started per second', positive, 2000)
    .option('--sync-ms <ms>', 'safety-net full sync interval per host', positive, 60_000)
    .option('--report-s <s>', 'print counters every this many seconds', positive, 5)
    .option('--log-level <level>', 'level of the simulated agents\' logs', 'warn')
    .action(async (opts: SimOptions) => {
      const log = pino({ level: opts.logLevel, base: { service: 'sim' } }, pino.destination(2));
      const started = Date.now();
      const sim = await runSimulator({
        natsUrl: opts.nats,
        prefix: opts.prefix,
        hosts: opts.hosts,
        namePrefix: opts.namePrefix,
        heartbeatMs: opts.heartbeatMs,
        registerPerSecond: opts.registerRate,
        timing: { syncIntervalMs: opts.syncMs },
        log,
        agentLogLevel: opts.logLevel,
      });
      console.log(`simulating ${opts.hosts} hosts (${opts.namePrefix}-00000...) on ${opts.nats}, prefix ${opts.prefix}; Ctrl-C stops`);
      void sim.allRegistered.then(() => console.log(`all ${opts.hosts} hosts registered in ${((Date.now() - started) / 1000).toFixed(1)} s`));
      const report = setInterval(() => {
        const c = sim.counters();
        const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
        console.log(`registered ${c.registered}/${c.hosts}  desired applied ${c.desiredApplied}  containers running ${c.containersRunning}  dropped ${c.dropped}  gaps ${c.gaps}  rss ${rssMb} MB`);
      }, opts.reportS * 1000);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(report);
      console.log('stopping the simulator');
      await sim.stop();
    });
}
