import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, HostVerb, subjects } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';
import { Agent } from './agent.js';
import { FakeRuntime, FakeSwitch } from './drivers/fake.js';

const log = pino({ level: 'silent' });
const s = subjects('fjunit');
const host = 'hv1';

type Handler = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * An in-memory stand-in for the few NatsConnection methods the agent uses: subscribe, publish,
 * request (answered by registered handlers, else "no responders") and status.
 */
class FakeBus {
  readonly published: { subject: string; data: Uint8Array }[] = [];
  readonly handlers = new Map<string, Handler>();
  private readonly subs = new Map<string, (err: Error | null, msg: { subject: string; data: Uint8Array }) => void>();

  connection(): NatsConnection {
    const conn = {
      subscribe: (subject: string, opts: { callback: (err: Error | null, msg: { subject: string; data: Uint8Array }) => void }) => {
        this.subs.set(subject, opts.callback);
        let closed = false;
        return { unsubscribe: () => void ((closed = true), this.subs.delete(subject)), isClosed: () => closed };
      },
      publish: (subject: string, data: Uint8Array) => void this.published.push({ subject, data }),
      request: async (subject: string, data: Uint8Array) => {
        const handler = this.handlers.get(subject);
        if (!handler) throw new Error(`no responders: '${subject}'`);
        return { data: await handler(data) };
      },
      status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) }),
    };
    return conn as unknown as NatsConnection;
  }

  deliver(subject: string, data: Uint8Array): void {
    this.subs.get(subject)?.(null, { subject, data });
  }

  sent<T>(verb: HostVerb, codec: { decode(b: Uint8Array): T }): T[] {
    return this.published.filter((p) => p.subject === s.host(host, verb)).map((p) => codec.decode(p.data));
  }
}

/** A runtime whose start() waits until released, to hold a reconcile pass open. */
class GatedRuntime extends FakeRuntime {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  override async start(name: string): Promise<void> {
    if (this.gate) await this.gate;
    return super.start(name);
  }
}

const container = (runtimeName: string): workerV1.DesiredContainer => ({
  runtimeName,
  tenant: 'acme',
  name: runtimeName,
  template: 'busybox',
  vlan: 100,
  address: '10.0.0.10',
  prefixLength: 24,
  gateway: '',
  cpuMillis: 100,
  memoryBytes: 1n,
  command: '',
});

const desired = (generation: bigint, names: string[], epoch = 1n) =>
  encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch, generation, containers: names.map(container), unchanged: false }));

const delta = (generation: bigint, baseGeneration: bigint, names: string[], removed: string[] = []) =>
  encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: 1n, generation, containers: names.map(container), delta: true, baseGeneration, removed }));

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error(`timed out waiting until ${what}`);
}

let agent: Agent | undefined;
afterEach(async () => agent?.stop());

function setup(opts: { epoch?: () => bigint; refuse?: number; wholeStatusMs?: number; syncIntervalMs?: number } = {}) {
  const bus = new FakeBus();
  const runtime = new GatedRuntime();
  const applied: bigint[] = [];
  let registrations = 0;
  let refuse = opts.refuse ?? 0;
  const registered: workerV1.RegisterHostRequest[] = [];
  bus.handlers.set(s.host(host, HostVerb.Register), (data) => {
    if (refuse-- > 0) return encode(workerV1.RegisterHostReply, { error: 'not now', epoch: 0n, heartbeatIntervalMs: 0 });
    registered.push(decode(workerV1.RegisterHostRequest, 'RegisterHostRequest', 'register', data));
    registrations++;
    return encode(workerV1.RegisterHostReply, { error: '', epoch: opts.epoch?.() ?? 1n, heartbeatIntervalMs: 20 });
  });
  const syncs: workerV1.SyncRequest[] = [];
  bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
    const req = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
    syncs.push(req);
    return encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: req.epoch, generation: 0n, containers: [], unchanged: false }));
  });
  agent = new Agent({
    nc: bus.connection(),
    subjects: s,
    host: { name: host, labels: {}, cpuMillis: 1000, memoryBytes: 1024, slots: 10, physicalNetworks: ['physnet1'] },
    drivers: { switch: new FakeSwitch('br-hv1', host), runtime },
    log,
    timing: { retryMinMs: 5, retryMaxMs: 20, syncIntervalMs: opts.syncIntervalMs ?? 0, reconcileIntervalMs: 0, wholeStatusMs: opts.wholeStatusMs ?? 0 },
    hooks: { onApplied: (generation) => void applied.push(generation) },
  });
  agent.start();
  return { bus, runtime, applied, agent, syncs, registered, registrations: () => registrations };
}

describe('Agent', () => {
  it('retries a refused registration and then heartbeats with its epoch', async () => {
    const { bus, registrations } = setup({ refuse: 2 });
    await until('registered', () => registrations() === 1);
    await until('heartbeats', () => bus.sent(HostVerb.Heartbeat, workerV1.Heartbeat).length >= 2);
    expect(bus.sent(HostVerb.Heartbeat, workerV1.Heartbeat)[0]).toEqual({ host, epoch: 1n, appliedGeneration: 0n });
  });

  it('applies only the newest of the desired states that arrive while a pass runs', async () => {
    const { bus, runtime, applied, agent } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    runtime.hold();
    const subject = s.host(host, HostVerb.Desired);
    bus.deliver(subject, desired(1n, ['c-one']));
    await until('the pass over generation 1 is under way', () => runtime.containers.has('c-one'));
    bus.deliver(subject, desired(2n, ['c-two']));
    bus.deliver(subject, desired(3n, ['c-three']));
    bus.deliver(subject, desired(4n, ['c-four']));
    runtime.release();
    await until('generation 4 applied', () => applied.at(-1) === 4n);
    await agent.settled();
    expect(applied).toEqual([0n, 1n, 4n]);
    expect([...runtime.containers.keys()]).toEqual(['c-four']);
    expect(bus.sent(HostVerb.Status, workerV1.StatusReport).map((r) => r.appliedGeneration)).toEqual([0n, 1n, 4n]);
  });

  it('ignores stale generations, older epochs, other hosts and garbage, counting what it drops', async () => {
    const { bus, applied, agent } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    const subject = s.host(host, HostVerb.Desired);
    bus.deliver(subject, desired(5n, ['c-five']));
    await until('generation 5 applied', () => applied.at(-1) === 5n);
    bus.deliver(subject, desired(5n, ['c-again']));
    bus.deliver(subject, desired(3n, ['c-old']));
    bus.deliver(subject, desired(9n, ['c-fenced'], 0n));
    bus.deliver(subject, encode(workerV1.DesiredState, workerV1.DesiredState.create({ host: 'hv2', epoch: 1n, generation: 9n, containers: [], unchanged: false })));
    bus.deliver(subject, new Uint8Array([0xff, 0xff, 0xff]));
    await new Promise((r) => setTimeout(r, 30));
    expect(applied).toEqual([0n, 5n]);
    expect(agent.stats()).toMatchObject({ appliedGeneration: 5n, dropped: 2, containersRunning: 1 });
  });

  it('registers again and resyncs when a desired state carries a newer epoch', async () => {
    let epoch = 1n;
    const { bus, applied, registrations } = setup({ epoch: () => epoch });
    await until('the first sync was applied', () => applied.length === 1);
    epoch = 2n;
    bus.deliver(s.host(host, HostVerb.Desired), desired(7n, ['c-seven'], 2n));
    await until('registered again', () => registrations() === 2);
    await until('heartbeats carry epoch 2', () => bus.sent(HostVerb.Heartbeat, workerV1.Heartbeat).at(-1)?.epoch === 2n);
    // The sync after registering is applied, whatever generation the new epoch starts at.
    await until('the resync was applied', () => applied.length === 2);
  });

  it('registers again when a sync is answered for an older epoch than it asked with (its registration was forgotten)', async () => {
    let epoch = 5n;
    const { bus, agent, syncs, registrations } = setup({ epoch: () => epoch, syncIntervalMs: 20 });
    await until('registered with epoch 5', () => agent.stats().epoch === 5n);
    // A database restored from before this registration: no row of the host (epoch 0) until it registers again.
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      const request = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(request);
      return desired(0n, [], registrations() === 1 ? 0n : request.epoch);
    });
    epoch = 1n;
    await until('registered again and synced', () => registrations() === 2 && syncs.at(-1)?.epoch === 1n && agent.stats().desiredApplied === 2);
    expect(agent.stats()).toMatchObject({ registered: true, epoch: 1n });
    expect(registrations()).toBe(2);
  });

  it('takes no `unchanged` answer after registering again until it has a state of the new incarnation, also when the first sync fails', async () => {
    let epoch = 1n;
    const { bus, agent, syncs } = setup({ epoch: () => epoch, syncIntervalMs: 15 });
    await until('a state of epoch 1 applied', () => agent.stats().desiredApplied === 1);
    // Fenced: it registers with epoch 2. Its first sync fails late, after a periodic one queued behind it.
    let failed = false;
    bus.handlers.set(s.host(host, HostVerb.Sync), async (data) => {
      const request = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(request);
      if (request.epoch === 2n && !failed) {
        failed = true;
        await new Promise((r) => setTimeout(r, 60));
        throw new Error('timeout');
      }
      return desired(1n, ['c-a'], request.epoch);
    });
    epoch = 2n;
    syncs.length = 0;
    bus.deliver(s.host(host, HostVerb.Desired), desired(1n, ['c-a'], 2n));
    await until('a state of epoch 2 applied', () => agent.stats().epoch === 2n && agent.stats().desiredApplied === 2);
    const beforeState = syncs.filter((r) => r.epoch === 2n).slice(0, 2);
    expect(beforeState).toHaveLength(2);
    expect(beforeState.map((r) => r.acceptsUnchanged)).toEqual([false, false]);
  });

  it('does not register again for an old-epoch answer to a sync sent before its latest registration', async () => {
    let epoch = 1n;
    const { bus, agent, registrations } = setup({ epoch: () => epoch });
    await until('registered with epoch 1', () => agent.stats().epoch === 1n && agent.stats().appliedGeneration === 0n);
    // The next sync is held; meanwhile a desired state of epoch 2 fences the agent and it registers with 2.
    let answer: (() => void) | undefined;
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      const request = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      if (request.epoch === 1n) return new Promise<Uint8Array>((resolve) => (answer = () => resolve(desired(0n, [], 0n))));
      return desired(1n, ['c-a'], request.epoch);
    });
    agent.reconnected();
    await until('the epoch-1 sync is held', () => answer !== undefined);
    epoch = 2n;
    bus.deliver(s.host(host, HostVerb.Desired), desired(1n, ['c-a'], 2n));
    await until('registered with epoch 2', () => agent.stats().epoch === 2n);
    // The held answer (epoch 0, to a sync of epoch 1) comes now; the sync of epoch 2 waited behind it.
    answer!();
    await until('synced at epoch 2', () => agent.stats().appliedGeneration === 1n);
    await new Promise((r) => setTimeout(r, 30));
    expect(registrations()).toBe(2);
    expect(agent.stats().epoch).toBe(2n);
  });

  it('says in its syncs what it has applied, and takes only a matching unchanged answer as nothing to do', async () => {
    const { bus, runtime, applied, agent, syncs } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    // Until it has applied a state, it asks for the whole of it.
    expect(syncs[0]).toEqual({ host, epoch: 1n, haveGeneration: 0n, acceptsUnchanged: false });
    const desiredSubject = s.host(host, HostVerb.Desired);
    bus.deliver(desiredSubject, desired(5n, ['c-five']));
    await until('generation 5 applied', () => applied.at(-1) === 5n);
    const unchanged = (generation: bigint) => encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: 1n, generation, containers: [], unchanged: true }));
    let answer = unchanged(5n);
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      syncs.push(decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data));
      return answer;
    });
    agent.reconnected();
    await until('a sync was answered', () => syncs.length === 2);
    expect(syncs[1]).toEqual({ host, epoch: 1n, haveGeneration: 5n, acceptsUnchanged: true });
    // An answer for another generation than the one applied is dropped, and so is an 'unchanged'
    // message on the desired subject: neither may stand for an empty state, nor hide generation 6.
    answer = unchanged(6n);
    agent.reconnected();
    await until('the second sync was answered', () => syncs.length === 3);
    bus.deliver(desiredSubject, unchanged(7n));
    await new Promise((r) => setTimeout(r, 30));
    expect(applied).toEqual([0n, 5n]);
    expect([...runtime.containers.keys()]).toEqual(['c-five']);
    expect(agent.stats()).toMatchObject({ appliedGeneration: 5n, dropped: 2 });
    bus.deliver(desiredSubject, desired(6n, ['c-six']));
    await until('generation 6 applied', () => applied.at(-1) === 6n);
  });

  it('says at registration that it applies deltas, and applies each on top of the newest state it has', async () => {
    const { bus, runtime, applied, agent, registered } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    expect(registered[0]?.acceptsDeltas).toBe(true);
    const subject = s.host(host, HostVerb.Desired);
    bus.deliver(subject, desired(1n, ['c-a', 'c-b']));
    await until('generation 1 applied', () => applied.at(-1) === 1n);
    // c-a is removed and c-c added; c-b, unchanged, is not sent.
    bus.deliver(subject, delta(2n, 1n, ['c-c'], ['c-a']));
    await until('generation 2 applied', () => applied.at(-1) === 2n);
    expect([...runtime.containers.keys()].sort()).toEqual(['c-b', 'c-c']);
    // A delta from an older base still covers everything after it: applied on top of generation 2.
    bus.deliver(subject, delta(3n, 1n, ['c-c', 'c-d'], ['c-a']));
    await until('generation 3 applied', () => applied.at(-1) === 3n);
    expect([...runtime.containers.keys()].sort()).toEqual(['c-b', 'c-c', 'c-d']);
    expect(agent.stats()).toMatchObject({ appliedGeneration: 3n, containersRunning: 3, dropped: 0 });
  });

  it('syncs once more after its first whole state when a delta came before it', async () => {
    const { bus, applied, agent, syncs } = setup();
    // Held: the sync after registering gets no answer yet, and is then answered from before the delta.
    let answer: (() => void) | undefined;
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      const request = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(request);
      if (syncs.length > 1) return desired(3n, ['c-a', 'c-b', 'c-c']);
      return new Promise<Uint8Array>((resolve) => (answer = () => resolve(desired(2n, ['c-a', 'c-b']))));
    });
    await until('the sync after registering was sent', () => syncs.length === 1);
    bus.deliver(s.host(host, HostVerb.Desired), delta(3n, 2n, ['c-c']));
    await new Promise((r) => setTimeout(r, 30));
    expect(applied).toEqual([]);
    expect(syncs).toHaveLength(1);
    answer!();
    await until('the state with the delta applied', () => applied.at(-1) === 3n);
    expect(syncs).toHaveLength(2);
    expect(agent.stats()).toMatchObject({ gaps: 0, appliedGeneration: 3n, containersRunning: 3 });
  });

  it('syncs instead of applying a delta whose base generation it has not seen', async () => {
    const { bus, runtime, applied, agent, syncs } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    const subject = s.host(host, HostVerb.Desired);
    bus.deliver(subject, desired(1n, ['c-a']));
    await until('generation 1 applied', () => applied.at(-1) === 1n);
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      syncs.push(decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data));
      return desired(3n, ['c-a', 'c-b', 'c-c']);
    });
    // Generation 2 (which added c-b) was missed: the delta to 3 cannot be applied to 1.
    bus.deliver(subject, delta(3n, 2n, ['c-c']));
    await until('the whole state was synced and applied', () => applied.at(-1) === 3n);
    expect(applied).toEqual([0n, 1n, 3n]);
    expect(agent.stats().gaps).toBe(1);
    expect(syncs.at(-1)).toEqual({ host, epoch: 1n, haveGeneration: 1n, acceptsUnchanged: true });
    expect([...runtime.containers.keys()].sort()).toEqual(['c-a', 'c-b', 'c-c']);
  });

  it('reports the containers whose state changed, and every container after a reconnect', async () => {
    const { bus, applied, agent } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    const subject = s.host(host, HostVerb.Desired);
    const listed = () => bus.sent(HostVerb.Status, workerV1.StatusReport).at(-1)!.containers.map((c) => `${c.runtimeName} ${c.state}`);
    bus.deliver(subject, desired(1n, ['c-a']));
    await until('generation 1 applied', () => applied.at(-1) === 1n);
    expect(listed()).toEqual(['c-a RUNNING']);
    bus.deliver(subject, desired(2n, ['c-a', 'c-b']));
    await until('generation 2 applied', () => applied.at(-1) === 2n);
    expect(listed()).toEqual(['c-b RUNNING']);
    agent.reconnected();
    bus.deliver(subject, desired(3n, ['c-a', 'c-b', 'c-c']));
    await until('generation 3 applied', () => applied.at(-1) === 3n);
    expect(listed()).toEqual(['c-a RUNNING', 'c-b RUNNING', 'c-c RUNNING']);
    expect(bus.sent(HostVerb.Status, workerV1.StatusReport).at(-1)!.appliedGeneration).toBe(3n);
  });

  it('reports every container again every wholeStatusMs, without a reconcile pass', async () => {
    const { bus, applied } = setup({ wholeStatusMs: 40 });
    await until('the first sync was applied', () => applied.length === 1);
    const subject = s.host(host, HostVerb.Desired);
    bus.deliver(subject, desired(1n, ['c-a']));
    await until('generation 1 applied', () => applied.at(-1) === 1n);
    bus.deliver(subject, desired(2n, ['c-a', 'c-b']));
    await until('generation 2 applied', () => applied.at(-1) === 2n);
    const reports = () => bus.sent(HostVerb.Status, workerV1.StatusReport);
    const after = reports().length;
    await until('a whole report', () => reports().slice(after).some((r) => r.containers.length === 2));
    expect(applied).toEqual([0n, 1n, 2n]);
    expect(reports().at(-1)).toMatchObject({ appliedGeneration: 2n });
  });

  it("every tenth periodic sync asks for the whole state, and takes it when the scheduler's differs at the same generation", async () => {
    const { bus, runtime, applied, syncs } = setup({ syncIntervalMs: 5 });
    await until('the first sync was applied', () => applied.length === 1);
    bus.deliver(s.host(host, HostVerb.Desired), desired(1n, ['c-a', 'c-b']));
    await until('generation 1 applied', () => applied.at(-1) === 1n);
    // The scheduler's generation 1 holds c-a only (as if a removal had never reached this agent).
    bus.handlers.set(s.host(host, HostVerb.Sync), (data) => {
      const req = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(req);
      if (req.acceptsUnchanged) return encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: 1n, generation: 1n, unchanged: true }));
      return desired(1n, ['c-a']);
    });
    await until('c-b is gone', () => !runtime.containers.has('c-b'));
    const periodic = syncs.slice(1);
    expect(periodic.filter((r) => !r.acceptsUnchanged).length).toBeGreaterThanOrEqual(1);
    expect(periodic.filter((r) => r.acceptsUnchanged).length).toBeGreaterThanOrEqual(8);
    expect([...runtime.containers.keys()]).toEqual(['c-a']);
    expect(applied.at(-1)).toBe(1n);
  });

  it('sends a whole-state check asked for while another sync was in flight as a check', async () => {
    const { bus, applied, syncs } = setup({ syncIntervalMs: 5 });
    await until('the first sync was applied', () => applied.length === 1);
    // Answers slower than the syncs come: every periodic one, checks included, waits for the one before.
    bus.handlers.set(s.host(host, HostVerb.Sync), async (data) => {
      const req = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(req);
      await new Promise((r) => setTimeout(r, 12));
      return encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: 1n, generation: 0n, unchanged: req.acceptsUnchanged }));
    });
    const first = syncs.length;
    await until('twelve syncs more', () => syncs.length >= first + 12);
    expect(syncs.slice(first).filter((r) => !r.acceptsUnchanged).length).toBeGreaterThanOrEqual(1);
  });

  it('sends a whole-state check that failed as a check again, before a sync queued behind it', async () => {
    const { bus, applied, syncs } = setup({ syncIntervalMs: 5 });
    await until('the first sync was applied', () => applied.length === 1);
    let failed = -1;
    bus.handlers.set(s.host(host, HostVerb.Sync), async (data) => {
      const req = decode(workerV1.SyncRequest, 'SyncRequest', 'sync', data);
      syncs.push(req);
      await new Promise((r) => setTimeout(r, 12)); // periodic syncs queue up meanwhile
      if (!req.acceptsUnchanged && failed < 0) {
        failed = syncs.length - 1;
        throw new Error('timeout');
      }
      return encode(workerV1.DesiredState, workerV1.DesiredState.create({ host, epoch: 1n, generation: 0n, unchanged: req.acceptsUnchanged }));
    });
    await until('a check failed and the next sync went out', () => failed >= 0 && syncs.length > failed + 1);
    expect(syncs[failed + 1]?.acceptsUnchanged).toBe(false);
  });

  it('keeps retrying a sync nobody answers and applies the answer once one comes', async () => {
    const { bus, applied } = setup();
    await until('the first sync was applied', () => applied.length === 1);
    const syncSubject = s.host(host, HostVerb.Sync);
    const answer = bus.handlers.get(syncSubject);
    bus.handlers.delete(syncSubject);
    agent?.reconnected();
    await new Promise((r) => setTimeout(r, 50));
    bus.handlers.set(syncSubject, () => desired(3n, ['c-three']));
    await until('the retried sync was applied', () => applied.at(-1) === 3n);
    expect(answer).toBeDefined();
  });
});
