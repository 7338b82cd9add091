/**
 * Convergence on real hosts: applying twice changes nothing, a restarted worker adopts what runs,
 * what is removed behind Fjord's back comes back, a deleted placement leaves nothing behind, and
 * the lab's power loss, partition and heal do what they say. Teardown works after a crash.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labHeal, labKill, labPartition, labStatus, labUp, sh, type Lab } from '@fjord/lab';
import { converge, driversFor, inContainerNet, pidOf, requireLab, skipLab, type HostDrivers, type Placement } from './lab-env.js';

const LAB = { name: 'fjtlc' };
const desired: Placement[] = [
  { name: 'a1', host: 'hv1', vlan: 201, ip: '10.30.0.11' },
  { name: 'a2', host: 'hv2', vlan: 201, ip: '10.30.0.12' },
  { name: 'a3', host: 'hv2', vlan: 201, ip: '10.30.0.13' },
];

describe.skipIf(skipLab)('convergence and host failures on a 2-host lab', () => {
  let lab: Lab;
  let drivers: HostDrivers[];
  const hd = (host: string) => drivers.find((d) => d.host.name === host)!;
  const convergeAll = (want: Placement[]) => Promise.all(drivers.map((d) => converge(d, want)));
  // One reply within 5 s: a peer's neighbour entry may still be FAILED from an earlier check.
  const ping = async (from: Placement, to: Placement) => (await inContainerNet(await pidOf(hd(from.host), from.name), 'ping', ['-c', '1', '-w', '5', to.ip])).exitCode;
  const snapshot = async () =>
    Promise.all(drivers.map(async (d) => ({ containers: await d.rt.list(), ports: await d.sw.listPorts() })));

  beforeAll(async () => {
    requireLab();
    await labDown(LAB);
    lab = await labUp({ ...LAB, hosts: 2 });
    drivers = lab.hosts.map((h) => driversFor(lab, h));
    await convergeAll(desired);
  });

  afterAll(async () => {
    if (!skipLab) await labDown(LAB);
  });

  it('changes nothing when the same desired state is applied again', async () => {
    const before = await snapshot();
    for (const r of await convergeAll(desired)) {
      expect(r.ports.added).toEqual([]);
      expect(r.ports.updated).toEqual([]);
      expect(r.removedPorts).toEqual([]);
      expect(Object.values(r.created).every((c) => c === 'unchanged')).toBe(true);
      expect(r.started).toEqual([]);
      expect(r.destroyed).toEqual([]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('adopts what runs when the worker restarts, changing nothing', async () => {
    const before = await snapshot();
    drivers = lab.hosts.map((h) => driversFor(lab, h));
    const results = await convergeAll(desired);
    expect(results.map((r) => [r.ports.added, r.started, r.destroyed])).toEqual([[[], [], []], [[], [], []]]);
    expect(await snapshot()).toEqual(before);
  });

  it('recreates a container and its port removed by hand behind its back', async () => {
    const a2 = desired[1]!;
    const h2 = hd('hv2').host;
    await sh('ovs-vsctl', ['del-port', h2.bridge, 'v-a2'], { env: { OVS_RUNDIR: h2.ovsRundir }, what: 'remove v-a2 by hand' });
    await labExec(LAB, 'hv2', 'lxc-destroy', ['-P', h2.lxcPath, '-n', 'a2', '-f']);
    expect(await ping(desired[0]!, a2)).not.toBe(0);
    const [, r2] = await convergeAll(desired);
    expect(r2!.ports.added).toEqual(['v-a2']);
    expect(r2!.created.a2).toBe('created');
    expect(r2!.started).toEqual(['a2']);
    expect(await ping(desired[0]!, a2)).toBe(0);
  });

  it('removes the container and port of a deleted placement, and nothing else', async () => {
    const want = desired.filter((p) => p.name !== 'a3');
    const [r1, r2] = await convergeAll(want);
    expect(r1!.destroyed).toEqual([]);
    expect(r2!.destroyed).toEqual(['a3']);
    expect(r2!.removedPorts).toEqual(['v-a3']);
    expect((await hd('hv2').rt.list()).map((c) => c.name)).toEqual(['a2']);
    const h2 = hd('hv2').host;
    const onBridge = await sh('ovs-vsctl', ['list-ports', h2.bridge], { env: { OVS_RUNDIR: h2.ovsRundir }, what: 'list ports' });
    expect(onBridge.stdout.trim().split('\n').sort()).toEqual(['uplink', 'v-a2']);
    expect(existsSync(`${h2.lxcPath}/a3`)).toBe(false);
    expect(await ping(desired[0]!, desired[1]!)).toBe(0);
  });

  it('kills a host like a power loss, and heal powers it back with its ports', async () => {
    const want = desired.filter((p) => p.name !== 'a3');
    await labKill(LAB, 'hv2');
    const dead = (await labStatus(LAB)).hosts.find((h) => h.name === 'hv2')!;
    expect(dead).toMatchObject({ killed: true, ovsdbPid: null, vswitchdPid: null, containers: [{ name: 'a2', state: 'stopped' }] });
    await labHeal(LAB, 'hv2');
    const back = (await labStatus(LAB)).hosts.find((h) => h.name === 'hv2')!;
    expect(back.killed).toBe(false);
    expect(back.vswitchdPid).not.toBeNull();
    expect((await hd('hv2').sw.listPorts()).map((p) => p.name)).toEqual(['v-a2']);
    const [, r2] = await convergeAll(want);
    expect(r2!.ports.added).toEqual([]);
    expect(r2!.started).toEqual(['a2']);
    expect(await ping(desired[0]!, desired[1]!)).toBe(0);
  });

  it('records a partition while the data plane keeps running, until healed', async () => {
    await labPartition(LAB, 'hv1');
    expect((await labStatus(LAB)).hosts.map((h) => [h.name, h.partitioned])).toEqual([['hv1', true], ['hv2', false]]);
    expect(await ping(desired[0]!, desired[1]!)).toBe(0);
    await labHeal(LAB);
    expect((await labStatus(LAB)).hosts.every((h) => !h.partitioned)).toBe(true);
  });
});

describe.skipIf(skipLab)('labDown()', () => {
  const CRASH = { name: 'fjtcr' };

  it('removes a lab whose state file was lost in a crash, and is idempotent', async () => {
    requireLab();
    const lab = await labUp({ ...CRASH, hosts: 1 });
    const pidFile = `${lab.hosts[0]!.ovsRundir}/ovs-vswitchd.pid`;
    expect(existsSync(pidFile)).toBe(true);
    await rm(lab.stateFile);
    await labDown(CRASH);
    await labDown(CRASH);
    const ns = await sh('ip', ['netns', 'list'], { what: 'list namespaces' });
    expect(ns.stdout.split('\n').filter((l) => l.startsWith('fjtcr-'))).toEqual([]);
    expect(existsSync(lab.dir)).toBe(false);
    expect((await labStatus(CRASH)).up).toBe(false);
  });
});
