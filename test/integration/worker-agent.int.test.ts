import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, deleteStreams, encode, ensureStreams, HostVerb, subjects, type Subjects } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';
import { natsTestEnv } from '@fjord/testkit';
import { Agent, FakeRuntime, FakeSwitch, runSimulator, type Simulator } from '@fjord/worker';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function container(runtimeName: string, vlan = 100, address = '10.0.0.10'): workerV1.DesiredContainer {
  return {
    runtimeName,
    tenant: 'acme',
    name: `web-${runtimeName}`,
    template: 'busybox',
    vlan,
    address,
    prefixLength: 24,
    gateway: '10.0.0.1',
    cpuMillis: 100,
    memoryBytes: 64n * 1024n * 1024n,
    command: '',
  };
}

/**
 * A scripted stand-in for the scheduler's side of the worker protocol: answers register and sync
 * from its own table, records heartbeats and status reports, and publishes desired states.
 */
class ScriptedScheduler {
  readonly epochs = new Map<string, bigint>();
  readonly desired = new Map<string, workerV1.DesiredState>();
  readonly heartbeats: workerV1.Heartbeat[] = [];
  readonly statuses: workerV1.StatusReport[] = [];
  registrations = 0;
  syncs = 0;
  /** Refuse this many registrations with an error first. */
  refuse = 0;
  private subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly s: Subjects,
  ) {}

  start(): void {
    this.subs = [
      this.nc.subscribe(this.s.anyHost(HostVerb.Register), {
        callback: (_err, msg) => {
          const req = decode(workerV1.RegisterHostRequest, 'RegisterHostRequest', msg.subject, msg.data);
          if (this.refuse > 0) {
            this.refuse--;
            msg.respond(encode(workerV1.RegisterHostReply, { error: 'host table busy', epoch: 0n, heartbeatIntervalMs: 0 }));
            return;
          }
          this.registrations++;
          const epoch = this.epochs.get(req.host) ?? 1n;
          this.epochs.set(req.host, epoch);
          msg.respond(encode(workerV1.RegisterHostReply, { error: '', epoch, heartbeatIntervalMs: 100 }));
        },
      }),
      this.nc.subscribe(this.s.anyHost(HostVerb.Sync), {
        callback: (_err, msg) => {
          const req = decode(workerV1.SyncRequest, 'SyncRequest', msg.subject, msg.data);
          this.syncs++;
          msg.respond(encode(workerV1.DesiredState, this.stateOf(req.host)));
        },
      }),
      this.nc.subscribe(this.s.anyHost(HostVerb.Heartbeat), {
        callback: (_err, msg) => void this.heartbeats.push(decode(workerV1.Heartbeat, 'Heartbeat', msg.subject, msg.data)),
      }),
      this.nc.subscribe(this.s.anyHost(HostVerb.Status), {
        callback: (_err, msg) => void this.statuses.push(decode(workerV1.StatusReport, 'StatusReport', msg.subject, msg.data)),
      }),
    ];
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs = [];
  }

  stateOf(host: string): workerV1.DesiredState {
    return this.desired.get(host) ?? workerV1.DesiredState.create({ host, epoch: this.epochs.get(host) ?? 1n });
  }

  /** Records a new desired state for `host` (next generation) and returns it, unpublished. */
  want(host: string, containers: workerV1.DesiredContainer[]): workerV1.DesiredState {
    const state = workerV1.DesiredState.create({ host, epoch: this.epochs.get(host) ?? 1n, generation: this.stateOf(host).generation + 1n, containers });
    this.desired.set(host, state);
    return state;
  }

  lastStatus(host: string): workerV1.StatusReport | undefined {
    return this.statuses.filter((s) => s.host === host).at(-1);
  }
}

describe('worker agent over real NATS', () => {
  const env = natsTestEnv();
  const s = subjects(env.prefix);
  const host = 'hv1';
  let agentNc: NatsConnection;
  let schedNc: NatsConnection;
  let sched: ScriptedScheduler;
  let agent: Agent;
  const runtime = new FakeRuntime();
  const sw = new FakeSwitch('br-hv1', host);
  const running = () => [...runtime.containers.entries()].filter(([, c]) => c.state === 'running').map(([n]) => n).sort();

  beforeAll(async () => {
    agentNc = await connect({ servers: env.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    schedNc = await connect({ servers: env.url });
    await ensureStreams(schedNc, s);
    sched = new ScriptedScheduler(schedNc, s);
    agent = new Agent({
      nc: agentNc,
      subjects: s,
      host: { name: host, labels: { zone: 'a', rack: 'r1' }, cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3, slots: 50, physicalNetworks: ['physnet1'] },
      drivers: { switch: sw, runtime },
      log,
      timing: { retryMinMs: 50, retryMaxMs: 200, requestTimeoutMs: 500, syncIntervalMs: 0, reconcileIntervalMs: 0 },
    });
  });

  afterAll(async () => {
    await agent?.stop();
    sched?.stop();
    if (schedNc) await deleteStreams(schedNc, s);
    await agentNc?.close();
    await schedNc?.close();
  });

  it('keeps asking to register until the scheduler answers and accepts it, then heartbeats', async () => {
    agent.start();
    await sleep(300); // nobody answers yet: the agent retries
    sched.refuse = 1;
    sched.start();
    await until('the agent registered', () => sched.registrations === 1);
    expect(sched.refuse).toBe(0);
    await until('heartbeats arrive', () => sched.heartbeats.length >= 3);
    expect(sched.heartbeats.at(-1)).toEqual({ host, epoch: 1n, appliedGeneration: 0n });
    await until('the agent synced after registering', () => sched.syncs >= 1);
  });

  it('runs the containers of a desired state published through JetStream and reports them RUNNING', async () => {
    const state = sched.want(host, [container('c-aaa'), container('c-bbb', 200, '10.0.1.10')]);
    await jetstream(schedNc).publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, state));
    await until('both containers run', () => running().length === 2);
    expect(sw.ports.get('vbbb')?.vlan).toBe(200);
    await until('a status report for generation 1 arrives', () => sched.lastStatus(host)?.appliedGeneration === 1n);
    expect(sched.lastStatus(host)?.containers).toEqual([
      { runtimeName: 'c-aaa', state: 'RUNNING', message: '' },
      { runtimeName: 'c-bbb', state: 'RUNNING', message: '' },
    ]);
    await until('heartbeats carry the applied generation', () => sched.heartbeats.at(-1)?.appliedGeneration === 1n);
  });

  it('removes a container that a newer desired state no longer holds', async () => {
    const state = sched.want(host, [container('c-bbb', 200, '10.0.1.10')]);
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, state));
    await until('c-aaa is gone', () => !runtime.containers.has('c-aaa'));
    expect(running()).toEqual(['c-bbb']);
    expect(sw.ports.has('vaaa')).toBe(false);
    await until('status for generation 2', () => sched.lastStatus(host)?.appliedGeneration === 2n);
  });

  it('ignores a desired state with a stale generation and one from an older epoch', async () => {
    const stale = workerV1.DesiredState.create({ host, epoch: 1n, generation: 1n, containers: [container('c-old')] });
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, stale));
    const oldEpoch = workerV1.DesiredState.create({ host, epoch: 0n, generation: 99n, containers: [container('c-old')] });
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, oldEpoch));
    await schedNc.flush();
    await sleep(300);
    expect(running()).toEqual(['c-bbb']);
    expect(agent.stats().appliedGeneration).toBe(2n);
  });

  it('drops a malformed desired message without crashing and keeps applying good ones', async () => {
    const droppedBefore = agent.stats().dropped;
    schedNc.publish(s.host(host, HostVerb.Desired), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    const otherHost = workerV1.DesiredState.create({ host: 'hv2', epoch: 1n, generation: 50n, containers: [container('c-hv2')] });
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, otherHost));
    await until('both were dropped', () => agent.stats().dropped === droppedBefore + 2);

    const state = sched.want(host, [container('c-bbb', 200, '10.0.1.10'), container('c-ccc', 300, '10.0.2.10')]);
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, state));
    await until('c-ccc runs', () => running().includes('c-ccc'));
    expect(running()).toEqual(['c-bbb', 'c-ccc']);
  });

  it('registers again when a desired state shows it was fenced by a newer epoch', async () => {
    const before = sched.registrations;
    sched.epochs.set(host, 2n);
    const state = sched.want(host, [container('c-ccc', 300, '10.0.2.10')]);
    schedNc.publish(s.host(host, HostVerb.Desired), encode(workerV1.DesiredState, state));
    await until('the agent registered again', () => sched.registrations === before + 1);
    await until('it converged to the new epoch\'s state', () => running().join() === 'c-ccc');
    await until('its heartbeats carry epoch 2', () => sched.heartbeats.at(-1)?.epoch === 2n);
    await until('a status report of epoch 2', () => sched.lastStatus(host)?.epoch === 2n);
    expect(sched.lastStatus(host)).toMatchObject({ epoch: 2n, appliedGeneration: state.generation });
  });

  it('asks for its whole desired state again after the scheduler restarts and NATS reconnects', async () => {
    sched.stop();
    // While the scheduler is away its desired state changes; nobody publishes it.
    const state = sched.want(host, [container('c-ccc', 300, '10.0.2.10'), container('c-ddd', 400, '10.0.3.10')]);
    await sleep(100);
    expect(running()).not.toContain('c-ddd');
    const syncs = sched.syncs;
    sched.start();
    await agentNc.reconnect();
    await until('the agent synced', () => sched.syncs > syncs);
    await until('c-ddd runs', () => running().includes('c-ddd'));
    await until('status for the synced generation', () => sched.lastStatus(host)?.appliedGeneration === state.generation);
    // The containers it already had were not recreated.
    expect(runtime.calls.filter((c) => c.method === 'destroy' && c.args[0] === 'c-ccc')).toEqual([]);
  });

  it('leaves containers running when it stops', async () => {
    await agent.stop();
    expect(running()).toEqual(['c-ccc', 'c-ddd']);
    // A heartbeat sent just before stop() may still be on its way.
    await agentNc.flush();
    await schedNc.flush();
    const beats = sched.heartbeats.length;
    await sleep(300);
    expect(sched.heartbeats.length).toBe(beats);
  });
});

describe('host simulator over real NATS', () => {
  const env = natsTestEnv();
  const s = subjects(env.prefix);
  let nc: NatsConnection;
  let simNc: NatsConnection;
  let sched: ScriptedScheduler;
  let sim: Simulator;

  beforeAll(async () => {
    nc = await connect({ servers: env.url });
    simNc = await connect({ servers: env.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    sched = new ScriptedScheduler(nc, s);
    sched.start();
  });

  afterAll(async () => {
    await sim?.stop();
    sched?.stop();
    await nc?.close();
    await simNc?.close();
  });

  it('registers 200 hosts that all heartbeat and run what they are given', async () => {
    // No periodic syncs: the reconnect test below counts the syncs a reconnect brings.
    sim = await runSimulator({ nc: simNc, prefix: env.prefix, hosts: 200, namePrefix: 'simt', heartbeatMs: 200, log, timing: { syncIntervalMs: 0 } });
    await sim.allRegistered;
    expect(sim.counters()).toMatchObject({ hosts: 200, registered: 200 });
    expect(sched.registrations).toBe(200);
    await until('every host heartbeats', () => new Set(sched.heartbeats.map((h) => h.host)).size === 200);

    for (let i = 0; i < 200; i++) {
      const name = `simt-${String(i).padStart(5, '0')}`;
      const state = sched.want(name, [container(`c-${i.toString(16)}a`), container(`c-${i.toString(16)}b`, 101, '10.0.0.11')]);
      nc.publish(s.host(name, HostVerb.Desired), encode(workerV1.DesiredState, state));
    }
    await until('400 containers run', () => sim.counters().containersRunning === 400);
    // Each host applied generation 1, and maybe the empty generation 0 of its first sync before it.
    const counters = sim.counters();
    expect(counters.desiredApplied).toBeGreaterThanOrEqual(200);
    expect(counters.desiredApplied).toBeLessThanOrEqual(400);
    expect(counters.dropped).toBe(0);
    // Every host reports generation 1 (some more than once: their periodic whole reports).
    await until('a status report for generation 1 from every host', () => new Set(sched.statuses.filter((st) => st.appliedGeneration === 1n).map((st) => st.host)).size === 200);
  });

  it('has every simulated host ask for its desired state again after its connection comes back', async () => {
    const syncs = sched.syncs;
    await simNc.reconnect();
    await until('200 more syncs', () => sched.syncs >= syncs + 200);
    expect(sim.counters().containersRunning).toBe(400);
  });
});
