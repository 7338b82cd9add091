/**
 * Two tenants on three real hypervisors, both using 10.20.0.0/24 so that only the VLAN keeps them
 * apart: tenant A reaches itself across hosts by ping and HTTP; tenant B cannot reach A, and captures
 * in every container of one tenant see none of the other tenant's frames — both directions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labClientJoin, labDown, labExec, labUp, sh, type Lab } from '@fjord/lab';
import { captureWhile, converge, driversFor, inContainerNet, macOf, pidOf, requireLab, skipLab, type HostDrivers, type Placement } from './lab-env.js';

const LAB = { name: 'fjtdp' };
const A = 101;
const B = 102;
const placements: Placement[] = [
  { name: 'a1', host: 'hv1', vlan: A, ip: '10.20.0.11' },
  { name: 'a2', host: 'hv2', vlan: A, ip: '10.20.0.12' },
  { name: 'a3', host: 'hv3', vlan: A, ip: '10.20.0.13' },
  { name: 'b1', host: 'hv1', vlan: B, ip: '10.20.0.21' },
  { name: 'b2', host: 'hv2', vlan: B, ip: '10.20.0.22' },
  { name: 'b3', host: 'hv3', vlan: B, ip: '10.20.0.23' },
];
const tenantA = placements.filter((p) => p.vlan === A);
const tenantB = placements.filter((p) => p.vlan === B);

describe.skipIf(skipLab)('data plane on a 3-host lab', () => {
  let lab: Lab;
  const drivers = new Map<string, HostDrivers>();
  const pid = new Map<string, number>();
  const mac = new Map<string, string>();
  const d = (p: Placement) => drivers.get(p.host)!;
  // Reachable: one reply within 5 s. Unreachable: no reply to one echo within 2 s.
  const ping = (from: Placement, to: string) => inContainerNet(pid.get(from.name)!, 'ping', ['-c', '1', '-w', '5', to]);
  const pingOnce = (from: Placement, to: string) => inContainerNet(pid.get(from.name)!, 'ping', ['-c', '1', '-W', '2', to]);
  const curl = (from: Placement, to: string) => inContainerNet(pid.get(from.name)!, 'curl', ['-s', '-m', '3', `http://${to}/`]);

  beforeAll(async () => {
    requireLab();
    await labDown(LAB);
    lab = await labUp({ ...LAB, hosts: 3 });
    for (const h of lab.hosts) drivers.set(h.name, driversFor(lab, h));
    await Promise.all([...drivers.values()].map((hd) => converge(hd, placements)));
    for (const p of placements) {
      pid.set(p.name, await pidOf(d(p), p.name));
      mac.set(p.name, await macOf(pid.get(p.name)!));
    }
  });

  afterAll(async () => {
    if (!skipLab) await labDown(LAB);
  });

  it('places every container on its host, running, on a Fjord-owned port with its tenant tag', async () => {
    for (const hd of drivers.values()) {
      const mine = placements.filter((p) => p.host === hd.host.name);
      expect((await hd.rt.list()).map((c) => [c.name, c.state])).toEqual(mine.map((p) => [p.name, 'running']));
      expect((await hd.sw.listPorts()).map((p) => [p.name, p.vlan, p.externalIds['fjord-owner']])).toEqual(
        mine.map((p) => [`v-${p.name}`, p.vlan, hd.host.name]),
      );
      const links = (await labExec(LAB, hd.host.name, 'ip', ['-br', 'link'])).stdout;
      for (const p of mine) expect(links, `host end of ${p.name}'s veth`).toMatch(new RegExp(`^v-${p.name}@\\S+\\s+UP\\b`, 'm'));
    }
  });

  it("lets tenant A's containers on different hosts ping each other", async () => {
    for (const [from, to] of [[tenantA[0]!, tenantA[1]!], [tenantA[1]!, tenantA[2]!], [tenantA[2]!, tenantA[0]!]] as const) {
      const r = await ping(from, to.ip);
      expect(r.exitCode, `${from.name} -> ${to.name}: ${r.stdout}`).toBe(0);
    }
  });

  it("lets tenant A's containers fetch each other's page over HTTP, each page naming its container", async () => {
    expect((await curl(tenantA[0]!, tenantA[1]!.ip)).stdout.trim()).toBe('hello from a2');
    expect((await curl(tenantA[0]!, tenantA[2]!.ip)).stdout.trim()).toBe('hello from a3');
    expect((await curl(tenantA[2]!, tenantA[0]!.ip)).stdout.trim()).toBe('hello from a1');
    expect((await curl(tenantB[1]!, tenantB[0]!.ip)).stdout.trim()).toBe('hello from b1');
  });

  it("does not let tenant B reach tenant A's addresses in the same subnet", async () => {
    const pairs = tenantB.flatMap((b) => tenantA.map((a) => [b, a] as const));
    const results = await Promise.all(pairs.map(([b, a]) => pingOnce(b, a.ip)));
    pairs.forEach(([b, a], i) => expect(results[i]!.exitCode, `${b.name} -> ${a.name}`).not.toBe(0));
    const r = await curl(tenantB[0]!, tenantA[1]!.ip);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toContain('hello from a2');
  });

  it("lets a client on a tenant's VLAN reach that tenant's containers and no other's", async () => {
    // Both clients use the same address, each in its own namespace: only the VLAN tells them apart.
    const [ca, cb] = [await labClientJoin(LAB, A, '10.20.0.250/24'), await labClientJoin(LAB, B, '10.20.0.250/24')];
    const get = (ns: string, ip: string) => sh('curl', ['-s', '-m', '3', `http://${ip}/`], { netns: ns, okExitCodes: [7, 28], what: `curl ${ip} from ${ns}` });
    expect((await get(ca.netns, tenantA[2]!.ip)).stdout.trim()).toBe('hello from a3');
    expect((await get(cb.netns, tenantB[0]!.ip)).stdout.trim()).toBe('hello from b1');
    expect((await get(cb.netns, tenantA[2]!.ip)).exitCode).not.toBe(0);
    // Running lab up again changes nothing and keeps the clients.
    const again = await labUp({ ...LAB, hosts: 3 });
    expect(again.state.clients.map((c) => c.vlan).sort()).toEqual([A, B]);
    expect((await get(ca.netns, tenantA[0]!.ip)).stdout.trim()).toBe('hello from a1');
  });

  it("shows tenant B none of tenant A's frames while A talks, and vice versa", async () => {
    const flush = (p: Placement) => inContainerNet(pid.get(p.name)!, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    const leaks = (text: string, other: Placement[]) =>
      text.split('\n').filter((l) => other.some((o) => l.includes(mac.get(o.name)!) || new RegExp(`\\b${o.ip.replace(/\./g, '\\.')}\\b`).test(l)));
    for (const [talkers, listeners] of [[tenantA, tenantB], [tenantB, tenantA]] as const) {
      const captured = await captureWhile(
        listeners.map((l) => pid.get(l.name)!),
        async () => {
          // Forget neighbours so the talkers broadcast ARP, the frames a VLAN leak would show first.
          for (const t of talkers) await flush(t);
          expect((await ping(talkers[0]!, talkers[1]!.ip)).exitCode).toBe(0);
          expect((await curl(talkers[1]!, talkers[2]!.ip)).exitCode).toBe(0);
          // A control: the listeners' own tenant talks too, so an empty capture cannot pass by accident.
          await flush(listeners[1]!);
          expect((await ping(listeners[1]!, listeners[0]!.ip)).exitCode).toBe(0);
        },
      );
      for (const l of listeners) {
        const text = captured.get(pid.get(l.name)!)!;
        expect(leaks(text, talkers), `${l.name} saw the other tenant`).toEqual([]);
      }
      expect(captured.get(pid.get(listeners[0]!.name)!)!).toContain(listeners[1]!.ip);
    }
  });
});
