import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode, HostVerb, subjects as buildSubjects } from '@fjord/bus';
import { fleetV1, placementV1, workerV1 } from '@fjord/proto';
import { Scheduler } from '@fjord/scheduler';
import { FailedPreconditionError } from '@fjord/core';
import { Allocator, hostGenerations, lastEventSequence, listEvents } from '@fjord/store';
import { heartbeatFakeHosts } from '../support/fake-hosts.js';
import { seedPhysicalNetwork, startScheduler, stopSchedulerTest } from '../support/placement-setup.js';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { Agent, FakeRuntime, FakeSwitch } from '@fjord/worker';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
const log = pino({ level: 'silent' });
/** The scheduler's `hostStaleAfterMs` here: its default, 25 of the agents' 200 ms heartbeats. */
const STALE_MS = 5000;
let env: TestDatabase;
let scheduler: Scheduler;
let nc: NatsConnection;
let placement: placementV1.PlacementServiceClient;
let fleet: fleetV1.FleetServiceClient;

/** One simulated hypervisor: a real agent over real NATS with in-memory drivers that outlive it. */
interface TestHost {
  name: string;
  runtime: FakeRuntime;
  switch: FakeSwitch;
  agent: Agent;
}
const hosts = new Map<string, TestHost>();

function startAgent(name: string, runtime: FakeRuntime, sw: FakeSwitch, labels: Record<string, string>): Agent {
  const agent = new Agent({
    nc,
    subjects,
    host: { name, labels, cpuMillis: 4000, memoryBytes: 8 * 2 ** 30, slots: 20, physicalNetworks: ['physnet1'] },
    drivers: { switch: sw, runtime },
    log,
    timing: { heartbeatMs: 200, syncIntervalMs: 2000, reconcileIntervalMs: 1000 },
  });
  agent.start();
  return agent;
}

function addHost(name: string, labels: Record<string, string>): TestHost {
  const runtime = new FakeRuntime();
  const sw = new FakeSwitch('br-fjord', name);
  const host = { name, runtime, switch: sw, agent: startAgent(name, runtime, sw, labels) };
  hosts.set(name, host);
  return host;
}

function unary<Req, Res>(client: object, method: (req: Req, md: Metadata, opts: object, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => method.call(client, req, new Metadata(), {}, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

function spec(name: string, overrides: Partial<placementV1.ContainerSpec> = {}): placementV1.ContainerSpec {
  return {
    tenant: 'acme',
    name,
    network: 'web',
    template: '',
    cpuMillis: 250,
    memoryBytes: 128n * 2n ** 20n,
    constraints: [],
    antiAffinityGroup: '',
    spreadLabel: '',
    command: '',
    ...overrides,
  };
}

const place = (s: placementV1.ContainerSpec, policy = '') => unary(placement, placement.place, { container: s, policy });

async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function containerState(name: string): Promise<string> {
  const { container } = await unary(placement, placement.getContainer, { tenant: 'acme', name });
  return container!.state;
}

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  await new Allocator(env.db).createNetwork({ tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', subnetPool: 'default' });
  nc = await connect({ servers: nats.url });
  scheduler = await startScheduler(env.db, nats, { hostStaleAfterMs: STALE_MS });
  placement = new placementV1.PlacementServiceClient(`127.0.0.1:${scheduler.port}`, credentials.createInsecure());
  fleet = new fleetV1.FleetServiceClient(`127.0.0.1:${scheduler.port}`, credentials.createInsecure());
  addHost('hv1', { zone: 'a', rack: 'r1' });
  addHost('hv2', { zone: 'a', rack: 'r2' });
  addHost('hv3', { zone: 'b', rack: 'r3' });
  await eventually('three hosts registered', async () => (await unary(fleet, fleet.listHosts, { state: 'READY' })).hosts.length === 3);
});

afterAll(async () => {
  for (const h of hosts.values()) await h.agent.stop();
  placement?.close();
  fleet?.close();
  await stopSchedulerTest({ scheduler, nc, subjects, env });
});

describe('placement end to end: scheduler and three workers over real Postgres and NATS', () => {
  it('places a container, and its host\'s worker runs it on the network\'s VLAN and reports it running', async () => {
    const { container } = await place(spec('web-1'));
    expect(container?.state).toBe('PENDING');
    const host = hosts.get(container!.host)!;
    await eventually('web-1 running', async () => (await containerState('web-1')) === 'RUNNING');
    const running = [...host.runtime.containers.values()].find((c) => c.spec.network.ip === container!.address);
    expect(running?.state).toBe('running');
    expect(running?.spec.network.vlan).toBe(container!.vlan);
    for (const other of hosts.values()) {
      if (other !== host) expect([...other.runtime.containers.values()].some((c) => c.spec.network.ip === container!.address)).toBe(false);
    }
  });

  it('answers a retried request with the container it already placed', async () => {
    const first = await place(spec('retry-1'));
    const again = await place(spec('retry-1'));
    expect(again.container?.id).toBe(first.container?.id);
    const changed = await failure(place(spec('retry-1', { cpuMillis: 500 })));
    expect(changed.code).toBe(status.ALREADY_EXISTS);
  });

  it('answers concurrent copies of one request with one container, also while earlier groups commit', async () => {
    // Requests queue while a group commits, the next group is decided before that commit ends, and
    // requests arriving meanwhile join it before it commits: copies of one request land in
    // different groups and parts of groups, and every copy must get the same container.
    const names = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'dup-1' : `dup-other-${i}`));
    const answers = await Promise.all(
      names.map(async (n, i) => {
        await new Promise((r) => setTimeout(r, (i % 4) * 2)); // four waves, 2 ms apart
        return place(spec(n, { cpuMillis: 10 }));
      }),
    );
    const copies = answers.filter((_, i) => i % 2 === 0).map((a) => a.container?.id);
    expect(new Set(copies).size).toBe(1);
    expect(copies[0]).toBeTruthy();
    expect(new Set(answers.map((a) => a.container?.id)).size).toBe(13);
    for (const name of new Set(names)) await unary(placement, placement.deleteContainer, { tenant: 'acme', name });
  });

  it('places on a network deleted and created again under the same name, and refuses one deleted', async () => {
    // The applier remembers networks between decisions: a network gone or replaced since must not
    // be used from memory.
    const allocator = new Allocator(env.db);
    await allocator.createNetwork({ tenant: 'acme', name: 'again', physicalNetwork: 'physnet1', cidr: '10.50.0.0/24' });
    const first = await place(spec('on-again-1', { network: 'again' }));
    expect(first.container?.address).toMatch(/^10\.50\.0\./);
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'on-again-1' });
    await allocator.deleteNetwork('acme', 'again');
    await allocator.createNetwork({ tenant: 'acme', name: 'again', physicalNetwork: 'physnet1', cidr: '10.51.0.0/24' });
    const second = await place(spec('on-again-2', { network: 'again' }));
    expect(second.container?.address).toMatch(/^10\.51\.0\./);
    const stored = await env.db
      .selectFrom('containers as c')
      .innerJoin('networks as n', 'n.id', 'c.network_id')
      .select('n.cidr')
      .where('c.tenant', '=', 'acme')
      .where('c.name', '=', 'on-again-2')
      .executeTakeFirst();
    expect(String(stored?.cidr)).toBe('10.51.0.0/24');
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'on-again-2' });
    await allocator.deleteNetwork('acme', 'again');
    const gone = await failure(place(spec('on-again-3', { network: 'again' })));
    expect(gone.code).toBe(status.NOT_FOUND);
    expect(gone.details).toContain('container.network');
  });

  it('places a batch on a network too fragmented for the one-statement allocation, then again', async () => {
    // 10.52.0.0/24 is eight blocks of 32 addresses. Filled, then one address freed in each of the
    // first six blocks and the last block emptied: the lowest blocks hold too few for a batch.
    const allocator = new Allocator(env.db);
    await allocator.createNetwork({ tenant: 'acme', name: 'frag', physicalNetwork: 'physnet1', cidr: '10.52.0.0/24' });
    const all = await allocator.allocateAddresses('acme', 'frag', 253);
    const freed = all.filter((a) => {
      const last = Number(a.address.split('.')[3]);
      return (last % 32 === 5 && last < 192) || last >= 224;
    });
    for (const a of freed) await allocator.releaseAddress('acme', 'frag', a.address);
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => spec(`${prefix}-${i}`, { network: 'frag', cpuMillis: 10 }));
    const first = await unary(placement, placement.placeBatch, { containers: names('frag-a', 20), policy: 'spread' });
    const second = await unary(placement, placement.placeBatch, { containers: names('frag-b', 10), policy: 'spread' });
    const addresses = [...first.containers, ...second.containers].map((c) => c.address);
    expect(new Set(addresses).size).toBe(30);
    expect(addresses.every((a) => freed.some((f) => f.address === a))).toBe(true);
    for (const c of [...first.containers, ...second.containers]) await unary(placement, placement.deleteContainer, { tenant: 'acme', name: c.spec!.name });
  });

  it('never puts two members of an anti-affinity group on one host, and spreads them over racks', async () => {
    const { containers } = await unary(placement, placement.placeBatch, {
      containers: [1, 2, 3].map((i) => spec(`ha-${i}`, { antiAffinityGroup: 'ha', spreadLabel: 'rack' })),
      policy: 'binpack',
    });
    expect(new Set(containers.map((c) => c.host)).size).toBe(3);
    const fourth = await failure(place(spec('ha-4', { antiAffinityGroup: 'ha' })));
    expect(fourth.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(fourth.details).toBe('container: place ha-4: no host fits (3 hosts: 3 already holding a member of the group)');
  });

  it('honours label constraints', async () => {
    const { container } = await place(spec('zoned', { constraints: ['zone=b'] }));
    expect(container?.host).toBe('hv3');
    const { container: notR1 } = await place(spec('not-r1', { constraints: ['rack!=r1', 'zone=a'] }));
    expect(notR1?.host).toBe('hv2');
  });

  it('answers the sync of a worker that has applied its host\'s current generation with `unchanged` and no containers', async () => {
    await place(spec('synced', { constraints: ['rack=r1'] }));
    const sync = async (request: Partial<workerV1.SyncRequest>) => {
      const reply = await nc.request(subjects.host('hv1', HostVerb.Sync), encode(workerV1.SyncRequest, { host: 'hv1', epoch: 0n, haveGeneration: 0n, acceptsUnchanged: false, ...request }));
      return decode(workerV1.DesiredState, 'DesiredState', 'sync', reply.data);
    };
    const current = (await hostGenerations(env.db, ['hv1'])).get('hv1')!;
    const epoch = BigInt(current.epoch);
    const generation = BigInt(current.generation);
    expect(await sync({ epoch, haveGeneration: generation, acceptsUnchanged: true })).toEqual(
      workerV1.DesiredState.create({ host: 'hv1', epoch, generation, unchanged: true }),
    );
    // Behind, from another epoch, or not understanding the short answer: the whole state (never a delta).
    for (const request of [{ haveGeneration: generation - 1n, acceptsUnchanged: true }, { epoch: epoch + 1n, acceptsUnchanged: true }, { acceptsUnchanged: false }]) {
      const reply = await sync({ epoch, haveGeneration: generation, ...request });
      expect(reply).toMatchObject({ host: 'hv1', epoch, generation, unchanged: false, delta: false });
      expect(reply.containers.map((c) => c.name)).toContain('synced');
    }
  });

  it.each([
    ['container.name', { name: 'Bad Name' }],
    ['container.tenant', { tenant: '' }],
    ['container.cpu_millis', { cpuMillis: 0 }],
    ['container.memory_bytes', { memoryBytes: 0n }],
    ['container.constraints', { constraints: ['zone'] }],
    ['container.spread_label', { spreadLabel: 'rack' }],
    ['container.spread_label', { antiAffinityGroup: 'g', spreadLabel: 'rack and zone' }],
    ['container.command', { command: 'echo \0' }],
  ])('refuses an invalid %s with INVALID_ARGUMENT naming it', async (field, overrides) => {
    const err = await failure(place(spec('invalid', overrides)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain(field);
  });

  it('names the batch entry that is invalid', async () => {
    const err = await failure(unary(placement, placement.placeBatch, { containers: [spec('ok-1'), spec('bad', { cpuMillis: 0 })], policy: '' }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain('containers[1].cpu_millis');
  });

  it('refuses an impossible placement with RESOURCE_EXHAUSTED and the reasons per filter, placing nothing of the batch', async () => {
    const big = await failure(place(spec('huge', { cpuMillis: 100_000 })));
    expect(big.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(big.details).toBe('container: place huge: no host fits (3 hosts: 3 short of cpu)');
    const batch = await failure(
      unary(placement, placement.placeBatch, { containers: [spec('fits-1'), spec('nowhere', { constraints: ['zone=z'] })], policy: '' }),
    );
    expect(batch.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(batch.details).toMatch(/^containers\[1\]: place request 2 of 2 \(nowhere\): no host fits \(\d+ hosts: .*\)$/);
    const notFound = await failure(unary(placement, placement.getContainer, { tenant: 'acme', name: 'fits-1' }));
    expect(notFound.code).toBe(status.NOT_FOUND);
    const unknownNetwork = await failure(place(spec('lost', { network: 'nope' })));
    expect(unknownNetwork.code).toBe(status.NOT_FOUND);
    expect(unknownNetwork.details).toContain('container.network');
  });

  it('deletes a container: the worker removes it and its port, and its address is free again', async () => {
    const { container } = await place(spec('doomed'));
    await eventually('doomed running', async () => (await containerState('doomed')) === 'RUNNING');
    const host = hosts.get(container!.host)!;
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'doomed' });
    await eventually('doomed removed from its host', () => ![...host.runtime.containers.values()].some((c) => c.spec.network.ip === container!.address));
    const allocations = await new Allocator(env.db).listAllocations('acme', 'web');
    expect(allocations.map((a) => a.address)).not.toContain(container!.address);
    const again = await failure(unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'doomed' }));
    expect(again.code).toBe(status.NOT_FOUND);
  });

  it("refuses to release a container's address or delete its network, even with force, naming the container", async () => {
    const { container } = await place(spec('holder'));
    const allocator = new Allocator(env.db);
    await expect(allocator.releaseAddress('acme', 'web', container!.address)).rejects.toThrow(
      new FailedPreconditionError(`release ${container!.address} in network acme/web: container acme/holder holds it; delete the container instead`),
    );
    await expect(allocator.deleteNetwork('acme', 'web', { force: true })).rejects.toThrow(/delete network acme\/web: containers are placed on it \(acme\/[^)]*\); delete them first/);
    expect((await allocator.listAllocations('acme', 'web')).map((a) => a.address)).toContain(container!.address);
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'holder' });
  });

  it('converges a restarted worker without recreating what is already right', async () => {
    const { container } = await place(spec('survivor', { constraints: ['zone=b'] }));
    await eventually('survivor running', async () => (await containerState('survivor')) === 'RUNNING');
    const host = hosts.get(container!.host)!;
    await host.agent.stop();
    // While the worker is away, one container is placed on it and one is deleted from it.
    const { container: added } = await place(spec('while-away', { constraints: ['zone=b'] }));
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'zoned' });
    const creates = host.runtime.calls.filter((c) => c.method === 'create').length;
    host.agent = startAgent(host.name, host.runtime, host.switch, { zone: 'b', rack: 'r3' });
    await eventually('while-away running', async () => (await containerState('while-away')) === 'RUNNING');
    const ips = [...host.runtime.containers.values()].map((c) => c.spec.network.ip);
    expect(ips).toContain(added!.address);
    expect(ips).toContain(container!.address);
    expect(host.runtime.calls.filter((c) => c.method === 'create').length).toBe(creates + 1);
    const { host: record } = await unary(fleet, fleet.getHost, { name: host.name });
    expect(Number(record?.epoch)).toBeGreaterThanOrEqual(2);
  });

  it("shows each host's last heartbeat and, once its worker applied it, its desired generation as applied", async () => {
    const { container } = await place(spec('shown'));
    // Liveness is written every 2 s (heartbeat times at most every 15 s per host).
    const host = await eventually(
      'the host shows its desired generation applied',
      async () => {
        const { hosts: all } = await unary(fleet, fleet.listHosts, { state: '' });
        const h = all.find((x) => x.name === container?.host);
        return h && h.appliedGeneration === h.desiredGeneration && h.desiredGeneration > 0n ? h : undefined;
      },
      15_000,
    );
    expect(Date.now() - Date.parse(host.lastHeartbeatAt)).toBeLessThan(60_000);
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'shown' });
  });

  it('places nothing new on a cordoned host', async () => {
    const before = await lastEventSequence(env.db);
    await unary(fleet, fleet.cordonHost, { name: 'hv1' });
    await unary(fleet, fleet.cordonHost, { name: 'hv1' });
    // Cordoning a cordoned host changes nothing, and records nothing.
    const hostEvents = (await listEvents(env.db, before)).filter((e) => e.kind.startsWith('host.'));
    expect(hostEvents.map((e) => `${e.kind} ${e.subject}`)).toEqual(['host.cordoned hv1']);
    const { containers } = await unary(placement, placement.placeBatch, { containers: [1, 2, 3, 4].map((i) => spec(`after-cordon-${i}`)), policy: 'spread' });
    expect(containers.map((c) => c.host)).not.toContain('hv1');
    await unary(fleet, fleet.uncordonHost, { name: 'hv1' });
    // At once placeable again: reading the host back after the change keeps when it was last heard from.
    const { container } = await place(spec('after-uncordon', { constraints: ['rack=r1'] }));
    expect(container?.host).toBe('hv1');
    await unary(placement, placement.deleteContainer, { tenant: 'acme', name: 'after-uncordon' });
    const unknown = await failure(unary(fleet, fleet.cordonHost, { name: 'hv9' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
  });

  it('skips a host whose worker has not been heard from for hostStaleAfterMs, and places on it again once it is back', async () => {
    const hv3 = hosts.get('hv3')!;
    const before = await lastEventSequence(env.db);
    await hv3.agent.stop();
    await new Promise((r) => setTimeout(r, STALE_MS + 500));
    const silent = await failure(place(spec('while-silent', { constraints: ['zone=b'] })));
    expect(silent.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(silent.details).toBe('container: place while-silent: no host fits (3 hosts: 1 with a stale heartbeat, 2 failing a label constraint)');
    // Any replica's host list shows which hosts placement skips, and since when they are silent.
    const staleOnes = async () => (await unary(fleet, fleet.listHosts, { state: '' })).hosts.filter((h) => h.stale);
    const [listed] = await eventually('hv3 listed as stale', async () => ((await staleOnes()).length > 0 ? staleOnes() : undefined), 3000);
    expect(listed).toMatchObject({ name: 'hv3', state: 'READY', stale: true });
    expect(Date.parse(listed!.lastHeartbeatAt)).toBeLessThan(Date.now() - STALE_MS);
    // The others' heartbeats kept them placeable all along.
    const { containers } = await unary(placement, placement.placeBatch, { containers: [1, 2, 3].map((i) => spec(`while-silent-${i}`)), policy: 'spread' });
    expect(new Set(containers.map((c) => c.host))).toEqual(new Set(['hv1', 'hv2']));
    // Heartbeats alone (no registration) clear the mark.
    const stopBeats = heartbeatFakeHosts(nc, subjects, [{ host: 'hv3', epoch: Number(listed!.epoch) }], 200);
    try {
      await eventually('hv3 no longer listed as stale', async () => (await staleOnes()).length === 0, 3000);
    } finally {
      stopBeats();
    }
    // Watchers were told, once each way.
    const liveness = (await listEvents(env.db, before)).filter((e) => e.kind === 'host.stale' || e.kind === 'host.heard');
    expect(liveness.map((e) => `${e.kind} ${e.subject}`)).toEqual(['host.stale hv3', 'host.heard hv3']);
    expect(liveness[0]!.message).toMatch(/^not heard from since \d{4}-\d\d-\d\dT[\d:.]+Z; placement skips it$/);
    hv3.agent = startAgent('hv3', hv3.runtime, hv3.switch, { zone: 'b', rack: 'r3' });
    const { container } = await eventually('hv3 placeable again', async () => place(spec('back', { constraints: ['zone=b'] })).catch(() => undefined), 5000);
    expect(container?.host).toBe('hv3');
    await eventually('back running', async () => (await containerState('back')) === 'RUNNING');
    for (const name of ['back', ...containers.map((c) => c.spec!.name)]) await unary(placement, placement.deleteContainer, { tenant: 'acme', name });
  });

  it('streams events to watchers', async () => {
    const stream = placement.watch({ afterSequence: 0n, tenant: 'acme', fromStart: false });
    const seen: string[] = [];
    stream.on('data', (r: placementV1.WatchResponse) => seen.push(`${r.event?.kind} ${r.event?.subject}`));
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await place(spec('watched'));
    await eventually('placed and running events', () => seen.includes('container.placed acme/watched') && seen.includes('container.running acme/watched'));
    stream.cancel();
  });

  it('replays every event kept from the first with from_start, and refuses it with after_sequence or a bad tenant', async () => {
    const stream = placement.watch({ afterSequence: 0n, tenant: '', fromStart: true });
    const replayed: number[] = [];
    stream.on('data', (r: placementV1.WatchResponse) => replayed.push(Number(r.event?.sequence)));
    stream.on('error', () => undefined);
    const first = (await listEvents(env.db, 0, undefined, 1))[0]!.sequence;
    await eventually('the first events replayed', () => replayed.length >= 3);
    stream.cancel();
    expect(replayed[0]).toBe(first);
    const refusal = (request: placementV1.WatchRequest) =>
      new Promise<ServiceError>((resolve) => placement.watch(request).on('error', resolve).on('data', () => undefined));
    const both = await refusal({ afterSequence: 5n, tenant: '', fromStart: true });
    expect([both.code, both.details]).toEqual([status.INVALID_ARGUMENT, 'from_start: replays from the first event: leave after_sequence 0']);
    const tenant = await refusal({ afterSequence: 0n, tenant: 'NOPE', fromStart: false });
    expect(tenant.code).toBe(status.INVALID_ARGUMENT);
    expect(tenant.details).toMatch(/^tenant: "NOPE" is not a valid name/);
  });

  it('gives a watcher of every tenant each event once, in order, while placements and running reports commit side by side', async () => {
    const from = await lastEventSequence(env.db);
    const stream = placement.watch({ afterSequence: BigInt(from), tenant: '', fromStart: false });
    const received: number[] = [];
    stream.on('data', (r: placementV1.WatchResponse) => received.push(Number(r.event?.sequence)));
    stream.on('error', () => undefined);
    // Eight clients placing one by one: the applier's commits and the host protocol's records of
    // containers running (each with its events) interleave.
    const names = Array.from({ length: 24 }, (_, i) => `w${i}`);
    await Promise.all(Array.from({ length: 8 }, (_, k) => (async () => {
      for (const name of names.filter((_, i) => i % 8 === k)) await place(spec(name, { cpuMillis: 10, memoryBytes: 2n ** 20n }));
    })()));
    await eventually('every container running', async () => (await Promise.all(names.map(containerState))).every((s) => s === 'RUNNING'));
    const recorded = (await listEvents(env.db, from, undefined, 10_000)).map((e) => e.sequence);
    expect(recorded.length).toBeGreaterThanOrEqual(2 * names.length);
    await eventually('every recorded event watched', () => received.length >= recorded.length);
    expect(received.slice(0, recorded.length)).toEqual(recorded);
    stream.cancel();
    for (const name of names) await unary(placement, placement.deleteContainer, { tenant: 'acme', name });
  });

  it('registers a worker again once the database no longer holds its registration (restored from before it), and places on it', async () => {
    const name = 'hv-restored';
    const runtime = new FakeRuntime();
    const sw = new FakeSwitch('br-fjord', name);
    let registrations = 0;
    const agent = new Agent({
      nc,
      subjects,
      host: { name, labels: { zone: 'restored' }, cpuMillis: 4000, memoryBytes: 8 * 2 ** 30, slots: 20, physicalNetworks: ['physnet1'] },
      drivers: { switch: sw, runtime },
      log,
      timing: { heartbeatMs: 200, syncIntervalMs: 500, reconcileIntervalMs: 1000 },
      hooks: { onRegistered: () => void registrations++ },
    });
    hosts.set(name, { name, runtime, switch: sw, agent });
    agent.start();
    await eventually('registered', () => registrations === 1);
    await env.db.deleteFrom('hosts').where('name', '=', name).execute();
    // Its heartbeats go unanswered either way; its next periodic sync is answered for epoch 0.
    await eventually('registered again', () => registrations === 2);
    const { container } = await place(spec('after-restore', { constraints: ['zone=restored'] }));
    expect(container?.host).toBe(name);
    await eventually('running on the host registered again', async () => (await containerState('after-restore')) === 'RUNNING');
    expect(registrations).toBe(2);
  });
});
