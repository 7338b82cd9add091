/**
 * The host simulator: thousands of worker agents with in-memory drivers in one process, over one
 * NATS connection, for benchmarks and scale tests. The agents run the real protocol code; the
 * simulator only shares what one process can share: one connection, one wildcard subscription to
 * every host's desired subject (routed by host name), and one watch of the connection's status.
 * Registrations are spread at `registerPerSecond`, heartbeats over the slots of one shared timer;
 * when nothing changes a host costs one heartbeat publish per interval and a sync per
 * `syncIntervalMs`.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { HostVerb, subjects } from '@fjord/bus';
import { Agent, type AgentTiming } from './agent.js';
import { FakeRuntime, FakeSwitch } from './drivers/fake.js';

/** What every simulated host offers. */
export interface SimCapacity {
  cpuMillis: number;
  memoryBytes: number;
  slots: number;
}

/** What every simulated host offers unless told otherwise: 16 cores, 64 GiB, 110 containers. */
export const DEFAULT_SIM_CAPACITY: Readonly<SimCapacity> = { cpuMillis: 16_000, memoryBytes: 64 * 2 ** 30, slots: 110 };

/** Options of {@link runSimulator}. */
export interface SimulatorOptions {
  /** An open connection to use (not closed by stop()); otherwise one is opened to `natsUrl`. */
  nc?: NatsConnection;
  /** NATS URL when `nc` is not given (default NATS_URL or nats://127.0.0.1:4222). */
  natsUrl?: string;
  /** Subject prefix (default `fjord`). */
  prefix?: string;
  /** Number of hosts. */
  hosts: number;
  /** Host names are `<namePrefix>-<index, 5 digits>` (default `sim`). */
  namePrefix?: string;
  /** Labels of host `index` (default {@link spreadLabels}). */
  labels?: (index: number) => Record<string, string>;
  /** Capacity of every host (default {@link DEFAULT_SIM_CAPACITY}). */
  capacity?: SimCapacity;
  /** Physical networks of every host (default `physnet1`). */
  physicalNetworks?: string[];
  /** Heartbeat interval override (default: the scheduler's). */
  heartbeatMs?: number;
  /** Registrations started per second (default 2000). */
  registerPerSecond?: number;
  /** Other agent timing (defaults: sync and whole status every 60 s, no periodic re-reconcile: fake containers do not die). */
  timing?: Omit<AgentTiming, 'heartbeatMs' | 'startDelayMs'>;
  log: Logger;
  /** Level of the agents' own logs (default `warn`: thousands of hosts registering is not news). */
  agentLogLevel?: string;
}

/** Totals over all simulated hosts. */
export interface SimulatorCounters {
  hosts: number;
  registered: number;
  /** Desired states applied (distinct states, all hosts). */
  desiredApplied: number;
  containersRunning: number;
  /** Malformed or unexpected messages dropped. */
  dropped: number;
  /** Deltas that found their host behind their base generation (each answered with a sync). */
  gaps: number;
}

/** A running simulation. */
export interface Simulator {
  readonly agents: readonly Agent[];
  /** Resolves when every host has registered once. */
  readonly allRegistered: Promise<void>;
  counters(): SimulatorCounters;
  /** Stops every agent, the subscription, and the connection if the simulator opened it. */
  stop(): Promise<void>;
}

/**
 * One timer for the heartbeats of every simulated host (the agents' `repeatHeartbeat`):
 * each host beats in one of the `slotMs` slots of its interval, picked at random, and the beats of
 * a slot go out in one turn of the event loop, so in one socket write rather than one per host.
 * Thousands of hosts writing alone cost the simulator and NATS more than the scheduler's work.
 */
export function sharedHeartbeatTimer(slotMs = 50): (ms: number, beat: () => void) => () => void {
  interface Wheel {
    slots: Set<() => void>[];
    next: number;
    beats: number;
    timer?: ReturnType<typeof setInterval>;
  }
  const wheels = new Map<number, Wheel>(); // by interval
  const turn = (w: Wheel): void => {
    const due = w.slots[w.next]!;
    w.next = (w.next + 1) % w.slots.length;
    for (const beat of due) beat();
  };
  return (ms, beat) => {
    let wheel = wheels.get(ms);
    if (!wheel) {
      const slots = Array.from({ length: Math.max(1, Math.round(ms / slotMs)) }, () => new Set<() => void>());
      const w: Wheel = { slots, next: 0, beats: 0 };
      w.timer = setInterval(() => turn(w), ms / slots.length);
      wheels.set(ms, (wheel = w));
    }
    const w = wheel;
    const slot = w.slots[Math.floor(Math.random() * w.slots.length)]!;
    slot.add(beat);
    w.beats++;
    return () => {
      if (!slot.delete(beat) || --w.beats > 0) return;
      clearInterval(w.timer);
      wheels.delete(ms);
    };
  };
}

/** Default labels: zones `a`, `b`, `c` round-robin; 20 racks per zone. */
export function spreadLabels(index: number): Record<string, string> {
  const zone = 'abc'[index % 3] ?? 'a';
  return { zone, rack: `${zone}-r${Math.floor(index / 3) % 20}` };
}

/** Starts `hosts` simulated workers; see the file comment. */
export async function runSimulator(opts: SimulatorOptions): Promise<Simulator> {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1) throw new Error(`simulator hosts: want a positive whole number, got ${opts.hosts}`);
  const url = opts.natsUrl ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const ownConnection = !opts.nc;
  const nc =
    opts.nc ??
    (await connect({ servers: url.split(','), name: 'fjord-sim', maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true }).catch((err: unknown) => {
      throw new Error(`connect to nats at ${url}: ${err instanceof Error ? err.message : String(err)}`);
    }));
  const s = subjects(opts.prefix ?? 'fjord');
  const namePrefix = opts.namePrefix ?? 'sim';
  const capacity = opts.capacity ?? DEFAULT_SIM_CAPACITY;
  const labels = opts.labels ?? spreadLabels;
  const perSecond = opts.registerPerSecond ?? 2000;
  const agentLog = opts.log.child({ component: 'sim' }, { level: opts.agentLogLevel ?? 'warn' });

  let registered = 0;
  let resolveAll!: () => void;
  const allRegistered = new Promise<void>((resolve) => (resolveAll = resolve));
  const seen = new Uint8Array(opts.hosts);

  const repeatHeartbeat = sharedHeartbeatTimer();
  const byName = new Map<string, Agent>();
  const agents: Agent[] = [];
  for (let i = 0; i < opts.hosts; i++) {
    const name = `${namePrefix}-${String(i).padStart(5, '0')}`;
    const sw = new FakeSwitch('br-sim', name);
    const runtime = new FakeRuntime();
    const agent = new Agent({
      nc,
      subjects: s,
      host: { name, labels: labels(i), ...capacity, physicalNetworks: opts.physicalNetworks ?? ['physnet1'] },
      drivers: { switch: sw, runtime },
      log: agentLog,
      external: true,
      repeatHeartbeat,
      timing: {
        syncIntervalMs: 60_000,
        reconcileIntervalMs: 0,
        wholeStatusMs: 60_000,
        ...opts.timing,
        heartbeatMs: opts.heartbeatMs,
        startDelayMs: (i * 1000) / perSecond,
      },
      hooks: {
        onRegistered: () => {
          if (seen[i]) return;
          seen[i] = 1;
          if (++registered === opts.hosts) resolveAll();
        },
        // The fakes record every call for tests; a long simulation must not keep them.
        onApplied: () => {
          sw.calls.length = 0;
          runtime.calls.length = 0;
        },
      },
    });
    byName.set(name, agent);
    agents.push(agent);
  }

  const sub = nc.subscribe(s.anyHost(HostVerb.Desired), {
    callback: (err, msg) => {
      if (err) {
        opts.log.warn({ err }, 'simulator desired subscription failed');
        return;
      }
      const agent = byName.get(s.hostOf(msg.subject) ?? '');
      // Another simulator's host, or a real worker's, on the same prefix: not ours to apply.
      if (agent) agent.handleDesired(msg.subject, msg.data);
    },
  });

  let stopped = false;
  void (async () => {
    for await (const st of nc.status()) {
      if (stopped) break;
      if (st.type !== 'reconnect') continue;
      opts.log.info({ hosts: agents.length }, 'simulator reconnected to nats; every host syncs');
      // Spread the syncs like the registrations, so a reconnect does not flood the scheduler.
      agents.forEach((a, i) => setTimeout(() => !stopped && a.reconnected(), (i * 1000) / perSecond));
    }
  })().catch(() => undefined);

  // Subscribe before the first registration, so no desired state published after it is missed.
  await nc.flush();
  for (const a of agents) a.start();

  return {
    agents,
    allRegistered,
    counters: () => {
      const c: SimulatorCounters = { hosts: agents.length, registered, desiredApplied: 0, containersRunning: 0, dropped: 0, gaps: 0 };
      for (const a of agents) {
        const st = a.stats();
        c.desiredApplied += st.desiredApplied;
        c.containersRunning += st.containersRunning;
        c.dropped += st.dropped;
        c.gaps += st.gaps;
      }
      return c;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all(agents.map((a) => a.stop()));
      if (!sub.isClosed()) sub.unsubscribe();
      if (ownConnection) await nc.drain().catch(() => undefined);
    },
  };
}
