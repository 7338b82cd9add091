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
  /** Stops a host's worker process and starts a new one (lab only). */
  restartWorker(host: string): Promise<void>;
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
  /** How often each worker re-checks its host unprompted (default 5 s, so hand-made damage heals fast). */
  reconcileIntervalMs?: number;
}

/** Starts the worker process of lab host `host` (the `index`th) and registers it with the lab. */
async function startLabWorker(opts: FleetOptions, host: string, index: number): Promise<ServiceProcess> {
  const config = join(opts.dir, `worker-${host}.json`);
  const base = await labWorkerConfig(opts.lab, host);
  await writeFile(config, JSON.stringify({ ...base, subjectPrefix: opts.prefix, labels: { rack: `r${index + 1}` }, reconcileIntervalMs: opts.reconcileIntervalMs ?? 5000 }));
  const worker = await startService({
    name: `worker ${host}`,
    entry: 'services/worker/src/main.ts',
    args: ['--config', config],
    logFile: join(opts.dir, `worker-${host}.log`),
    readyText: 'worker connected to nats',
  });
  await labRegisterWorker(opts.lab, host, worker.child.pid!);
  return worker;
}

/** Brings a lab up (removing a leftover one of the same name first) and starts a worker per host. */
export async function startLabFleet(opts: FleetOptions): Promise<Fleet> {
  await labDown(opts.lab);
  const nats = new URL(opts.natsUrl.split(',')[0]!.trim());
  const workers = new Map<string, ServiceProcess>();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all([...workers.values()].map((w) => w.stop()));
      await labDown(opts.lab);
    })());
  try {
    const lab = await labUp({ ...opts.lab, hosts: opts.hosts, controlPlane: [{ name: 'nats', target: `${nats.hostname}:${nats.port || 4222}` }] });
    const hosts = lab.hosts.map((h) => h.name);
    for (const [i, host] of hosts.entries()) workers.set(host, await startLabWorker(opts, host, i));
    const restartWorker = async (host: string): Promise<void> => {
      const index = hosts.indexOf(host);
      if (index < 0) throw new Error(`no lab host ${host}`);
      await workers.get(host)?.stop();
      workers.set(host, await startLabWorker(opts, host, index));
    };
    return { kind: 'lab', hosts, lab, restartWorker, stop };
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
  // Not waiting for `sim.allRegistered` here: the demo waits for the hosts with a deadline and a
  // message (waitForHosts), and stops the simulator in its cleanup should they never come.
  let stopped: Promise<void> | undefined;
  const restartWorker = (): Promise<void> => Promise.reject(new Error('simulated hosts have no worker processes'));
  return { kind: 'simulator', hosts: sim.agents.map((a) => a.host.name), restartWorker, stop: () => (stopped ??= sim.stop()) };
}
