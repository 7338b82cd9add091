/**
 * The demo's hypervisors: a lab of real hosts (root: namespaces, Open vSwitch, LXC) with one worker
 * process per host, or, where the lab cannot run, simulated hosts with in-memory drivers.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { labDown, labRegisterWorker, labUp, labWorkerConfig, type Lab, type LabRef } from '@fjord/lab';
import { runSimulator } from '@fjord/worker';
import { startService, type ServiceProcess } from './processes.js';

/** A running fleet of demo hosts. */
export interface Fleet {
  kind: 'lab' | 'simulator';
  hosts: string[];
  /** The lab, when the fleet is one. */
  lab?: Lab;
  /** Stops the workers and removes the lab (or the simulator). Idempotent. */
  stop(): Promise<void>;
}

/** Where the fleet's workers find the control plane. */
export interface FleetOptions {
  dir: string;
  hosts: number;
  natsUrl: string;
  prefix: string;
  lab: LabRef;
}

/** Brings a lab up (removing a leftover one of the same name first) and starts a worker per host. */
export async function startLabFleet(opts: FleetOptions): Promise<Fleet> {
  await labDown(opts.lab);
  const nats = new URL(opts.natsUrl.split(',')[0]!.trim());
  const workers: ServiceProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await labDown(opts.lab);
    })());
  try {
    const lab = await labUp({ ...opts.lab, hosts: opts.hosts, controlPlane: [{ name: 'nats', target: `${nats.hostname}:${nats.port || 4222}` }] });
    for (const [i, h] of lab.hosts.entries()) {
      const config = join(opts.dir, `worker-${h.name}.json`);
      const base = await labWorkerConfig(opts.lab, h.name);
      await writeFile(config, JSON.stringify({ ...base, subjectPrefix: opts.prefix, labels: { rack: `r${i + 1}` }, reconcileIntervalMs: 5000 }));
      const worker = await startService({
        name: `worker ${h.name}`,
        entry: 'services/worker/src/main.ts',
        args: ['--config', config],
        logFile: join(opts.dir, `worker-${h.name}.log`),
        readyText: 'worker connected to nats',
      });
      workers.push(worker);
      await labRegisterWorker(opts.lab, h.name, worker.child.pid!);
    }
    return { kind: 'lab', hosts: lab.hosts.map((h) => h.name), lab, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Simulated hosts (fake drivers) in this process, over real NATS. */
export async function startSimulatedFleet(opts: FleetOptions): Promise<Fleet> {
  const sim = await runSimulator({
    natsUrl: opts.natsUrl,
    prefix: opts.prefix,
    hosts: opts.hosts,
    namePrefix: 'hv',
    labels: (i) => ({ rack: `r${i + 1}` }),
    log: pino({ level: 'warn' }, pino.destination(join(opts.dir, 'simulator.log'))),
  });
  await sim.allRegistered;
  let stopped: Promise<void> | undefined;
  return { kind: 'simulator', hosts: sim.agents.map((a) => a.host.name), stop: () => (stopped ??= sim.stop()) };
}
