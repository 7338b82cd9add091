/**
 * The real worker on real hosts: a scheduler process and a 2-host lab with one worker process per
 * host (OVS, LXC). Placements become running containers with ports on their VLAN; a worker restart
 * changes nothing that was right; a container or port removed behind the worker's back comes back;
 * a deleted placement takes its container and port with it; a host cut off from the control plane
 * is skipped once stale, and taken again after heal.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeNameOf, vethName } from '@fjord/core';
import { containerPid, fetchPage, labHeal, labPartition, pings, sh, type LabHost } from '@fjord/lab';
import type { placementV1 } from '@fjord/proto';
import { callUnary, CallError, connect, type Clients } from '../../services/cli/src/client.js';
import { startControlPlane, type ControlPlane } from '../../services/cli/src/demo/control-plane.js';
import { startLabFleet, type Fleet } from '../../services/cli/src/demo/fleet.js';
import { waitForHosts, waitForRunning } from '../../services/cli/src/demo/wait.js';
import { freePort } from '../support/scheduler-process.js';
import { requireLab, skipLab } from './lab-env.js';

const NAME = 'fjtwk';

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(skipLab)('worker processes on the lab', () => {
  let dir: string;
  let cp: ControlPlane | undefined;
  let fleet: Fleet | undefined;
  let clients: Clients;
  let placed: placementV1.Container[] = [];

  const hostOf = (c: placementV1.Container): LabHost => fleet!.lab!.hosts.find((h) => h.name === c.host)!;
  const portTag = async (c: placementV1.Container): Promise<string | null> => {
    const h = hostOf(c);
    const r = await sh('ovs-vsctl', [`--db=${h.ovsDb}`, '--timeout=5', 'get', 'port', vethName(runtimeNameOf(c.id)), 'tag'], {
      okExitCodes: [1],
      what: 'read port tag',
    });
    return r.exitCode === 0 ? r.stdout.trim() : null;
  };
  const portUuid = async (c: placementV1.Container): Promise<string> =>
    (await sh('ovs-vsctl', [`--db=${hostOf(c).ovsDb}`, '--timeout=5', 'get', 'port', vethName(runtimeNameOf(c.id)), '_uuid'], { what: 'read port uuid' })).stdout.trim();
  const pidOf = (c: placementV1.Container): Promise<number | undefined> => containerPid(hostOf(c), runtimeNameOf(c.id)).catch(() => undefined);

  beforeAll(async () => {
    requireLab();
    dir = await mkdtemp(join(tmpdir(), 'fjord-e2e-worker-'));
    const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
    cp = await startControlPlane({ dir, postgresUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', natsUrl, name: NAME, grpcPort: await freePort() });
    fleet = await startLabFleet({ dir, hosts: 2, natsUrl, prefix: NAME, lab: { name: NAME } });
    clients = connect(cp.server);
    await waitForHosts(clients, fleet.hosts, 60_000);
    await callUnary(clients, clients.network, clients.network.createNetwork, {
      tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', vlan: 0, cidr: '10.30.0.0/24', subnetPool: '', prefixLength: 0,
    });
  }, 120_000);

  afterAll(async () => {
    clients?.close();
    await fleet?.stop();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('runs placed containers on different hosts with their ports tagged with the network vlan', async () => {
    const spec = (name: string): placementV1.ContainerSpec => ({
      tenant: 'acme', name, network: 'web', template: 'busybox', cpuMillis: 100, memoryBytes: BigInt(64 << 20),
      constraints: [], antiAffinityGroup: 'web', spreadLabel: '', command: '',
    });
    placed = (await callUnary(clients, clients.placement, clients.placement.placeBatch, { containers: [spec('a'), spec('b')], policy: 'spread' })).containers;
    expect(new Set(placed.map((c) => c.host)).size).toBe(2);
    await waitForRunning(clients, { tenant: 'acme', count: placed.length, timeoutMs: 120_000 });
    for (const c of placed) {
      expect(await portTag(c)).toBe(String(c.vlan));
      expect(await pidOf(c)).toBeGreaterThan(0);
    }
    const [a, b] = placed as [placementV1.Container, placementV1.Container];
    expect(await fetchPage({ pid: (await pidOf(a))! }, b.address)).toMatch(/^acme\/b \(c-[0-9a-f]{12}\)$/);
    // Still serving a little later, both ways: the command outlives the container's boot.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await fetchPage({ pid: (await pidOf(a))! }, b.address)).toMatch(/^acme\/b /);
    expect(await fetchPage({ pid: (await pidOf(b))! }, a.address)).toMatch(/^acme\/a /);
  }, 180_000);

  it('changes nothing that was right when a worker restarts', async () => {
    const c = placed[0]!;
    const before = { pid: await pidOf(c), port: await portUuid(c) };
    const log = join(dir, `worker-${c.host}.log`);
    const offset = (await readFile(log, 'utf8')).length;
    await fleet!.restartWorker(c.host);
    // The new worker registers, syncs its desired state and reconciles once (logged at info).
    const pass = await until('the restarted worker to reconcile', 30_000, async () => {
      const text = (await readFile(log, 'utf8')).slice(offset);
      return /"msg":"\w+ reconciled: (\d+) actions/.exec(text)?.[1];
    });
    expect(pass).toBe('0');
    expect({ pid: await pidOf(c), port: await portUuid(c) }).toEqual(before);
  }, 60_000);

  it('recreates a container destroyed behind its back', async () => {
    const [a, b] = placed as [placementV1.Container, placementV1.Container];
    const ha = hostOf(a);
    const oldPid = await pidOf(a);
    await sh('lxc-stop', ['-P', ha.lxcPath, '-n', runtimeNameOf(a.id), '-k'], { netns: ha.netns, what: 'kill a container by hand' });
    await sh('lxc-destroy', ['-P', ha.lxcPath, '-n', runtimeNameOf(a.id)], { netns: ha.netns, what: 'destroy a container by hand' });
    // The worker re-reconciles every 5 s in this fleet (reconcileIntervalMs).
    const newPid = await until('the container to be recreated', 60_000, async () => {
      const pid = await pidOf(a);
      return pid !== undefined && pid !== oldPid ? pid : undefined;
    });
    expect(await fetchPage({ pid: newPid }, b.address)).toMatch(/^acme\/b /);
  }, 90_000);

  it('re-adds a port removed behind its back, restarting the container it can no longer vouch for', async () => {
    const [a, b] = placed as [placementV1.Container, placementV1.Container];
    const hb = hostOf(b);
    const oldPid = await pidOf(b);
    await sh('ovs-vsctl', [`--db=${hb.ovsDb}`, '--timeout=5', 'del-port', vethName(runtimeNameOf(b.id))], { what: 'remove a port by hand' });
    expect(await portTag(b)).toBeNull();
    // The port carried the fingerprint of the spec the container was made from; without it the
    // worker recreates the container rather than guess.
    await until('the port to be re-added', 60_000, async () => ((await portTag(b)) === String(b.vlan) ? true : undefined));
    await until('the container to be recreated', 60_000, async () => {
      const pid = await pidOf(b);
      return pid !== undefined && pid !== oldPid ? true : undefined;
    });
    await waitForRunning(clients, { tenant: 'acme', count: placed.length, timeoutMs: 30_000 });
    const from = { pid: (await pidOf(a))! };
    expect(await pings(from, b.address)).toBe(true);
    expect(await fetchPage(from, b.address)).toMatch(/^acme\/b /);
  }, 150_000);

  it('removes the container and port of a deleted placement, and nothing else', async () => {
    const [a, b] = placed as [placementV1.Container, placementV1.Container];
    const keptPid = await pidOf(b);
    await callUnary(clients, clients.placement, clients.placement.deleteContainer, { tenant: 'acme', name: 'a' });
    await until('the container to be removed', 60_000, async () => ((await pidOf(a)) === undefined ? true : undefined));
    await until('the port to be removed', 30_000, async () => ((await portTag(a)) === null ? true : undefined));
    const listed = (await sh('lxc-ls', ['-P', hostOf(a).lxcPath], { netns: hostOf(a).netns, what: 'list containers' })).stdout.trim();
    expect(listed).not.toContain(runtimeNameOf(a.id));
    expect(await pidOf(b)).toBe(keptPid);
  }, 90_000);

  it('skips a host cut off from the control plane once it is stale, lists it so, and takes it again after heal', async () => {
    const lab = { name: NAME };
    const first = fleet!.hosts[0]!; // labelled rack=r1
    const onFirst = (name: string): placementV1.ContainerSpec => ({
      tenant: 'acme', name, network: 'web', template: 'busybox', cpuMillis: 100, memoryBytes: BigInt(64 << 20),
      constraints: ['rack=r1'], antiAffinityGroup: '', spreadLabel: '', command: '',
    });
    const staleOf = async () => (await callUnary(clients, clients.fleet, clients.fleet.getHost, { name: first })).host!.stale;
    const place = (name: string) => callUnary(clients, clients.placement, clients.placement.place, { container: onFirst(name), policy: '' });
    await labPartition(lab, first);
    try {
      await until(`${first} to be listed stale`, 30_000, async () => ((await staleOf()) ? true : undefined));
      const refused = await place('while-cut').then(() => undefined, (err: unknown) => err);
      expect(refused).toBeInstanceOf(CallError);
      expect((refused as CallError).details).toBe('container: place while-cut: no host fits (2 hosts: 1 with a stale heartbeat, 1 failing a label constraint)');
    } finally {
      await labHeal(lab, first);
    }
    await until(`${first} to be heard from again`, 60_000, async () => ((await staleOf()) ? undefined : true));
    const { container } = await place('after-heal');
    try {
      expect(container?.host).toBe(first);
    } finally {
      await callUnary(clients, clients.placement, clients.placement.deleteContainer, { tenant: 'acme', name: 'after-heal' });
    }
  }, 120_000);
});
