import { Command, Option } from 'commander';
import { pino } from 'pino';
import { formatCpuMillis, formatMemoryBytes } from '@fjord/core';
import { DEFAULT_SIM_CAPACITY, runSimulator, type SimulatorCounters } from '@fjord/worker';
import { parseCpuOption, parseMemoryOption, parsePositive } from './options.js';

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
  cpu: number;
  memory: number;
  slots: number;
  logLevel: string;
}

/** One line of the simulator's counters (`fjordctl sim` prints one as it stops, too). */
function describeCounters(c: SimulatorCounters): string {
  const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
  return `registered ${c.registered}/${c.hosts}  desired applied ${c.desiredApplied}  containers running ${c.containersRunning}  dropped ${c.dropped}  gaps ${c.gaps}  rss ${rssMb} MB`;
}

/** Adds `fjordctl sim`: runs thousands of simulated worker hosts (fake drivers) over one NATS connection. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate worker hosts with in-memory drivers, over real NATS, until Ctrl-C')
    .requiredOption('--hosts <n>', 'number of hosts to simulate', parsePositive)
    .option('--prefix <prefix>', 'NATS subject prefix', 'fjord')
    .option('--nats <url>', 'NATS URL', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
    .option('--heartbeat-ms <ms>', 'heartbeat interval (default: what the scheduler says; placement skips hosts not heard from for the scheduler\'s hostStaleAfterMs, 5 s by default)', parsePositive)
    .option('--name-prefix <prefix>', 'host names are <prefix>-00000, <prefix>-00001, ...', 'sim')
    .option('--register-rate <n>', 'registrations started per second', parsePositive, 2000)
    .option('--sync-ms <ms>', 'safety-net full sync interval per host', parsePositive, 60_000)
    .option('--report-s <s>', 'print counters every this many seconds', parsePositive, 5)
    // The defaults are the simulator's, shown as one would type them.
    .addOption(new Option('--cpu <cpu>', 'cpu of every host, e.g. 64 or 500m').argParser(parseCpuOption).default(DEFAULT_SIM_CAPACITY.cpuMillis, formatCpuMillis(DEFAULT_SIM_CAPACITY.cpuMillis)))
    .addOption(new Option('--memory <memory>', 'memory of every host, e.g. 256Gi').argParser(parseMemoryOption).default(DEFAULT_SIM_CAPACITY.memoryBytes, formatMemoryBytes(DEFAULT_SIM_CAPACITY.memoryBytes)))
    .option('--slots <n>', 'containers every host takes at most', parsePositive, DEFAULT_SIM_CAPACITY.slots)
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
        capacity: { cpuMillis: opts.cpu, memoryBytes: opts.memory, slots: opts.slots },
        log,
        agentLogLevel: opts.logLevel,
      });
      console.log(`simulating ${opts.hosts} hosts (${opts.namePrefix}-00000...) on ${opts.nats}, prefix ${opts.prefix}; Ctrl-C stops`);
      void sim.allRegistered.then(() => console.log(`all ${opts.hosts} hosts registered in ${((Date.now() - started) / 1000).toFixed(1)} s`));
      const report = setInterval(() => console.log(describeCounters(sim.counters())), opts.reportS * 1000);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, resolve);
      });
      clearInterval(report);
      console.log('stopping the simulator');
      await sim.stop();
      console.log(`stopped; ${describeCounters(sim.counters())}`);
    });
}
