/**
 * The demo scenario: two tenants whose networks use the same subnet, their containers placed across
 * the fleet through the scheduler, and, on a lab, packets proving that only the VLAN keeps them
 * apart. Everything goes through the public gRPC API, as an operator's tool would.
 */
import { callUnary, type Clients } from '../client.js';
import { placementV1 } from '@fjord/proto';
import { captureWhile, containerPid, fetchPage, labClientJoin, macAt, pings, probe, type Lab, type LabRef, type ProbeSite } from '@fjord/lab';
import { runtimeNameOf } from '@fjord/core';
import { waitForRunning } from './wait.js';

/** The subnet both tenants use: only their VLANs keep them apart. */
export const DEMO_CIDR = '10.10.0.0/24';
/** The address each tenant's lab client takes on its VLAN (the same for both, on purpose). */
const CLIENT_ADDRESS = '10.10.0.250/24';

/** Tenants and how many containers each places (red has one more, so one address is red's alone). */
export const DEMO_TENANTS = [
  { tenant: 'red', containers: 3 },
  { tenant: 'blue', containers: 2 },
] as const;

/** A placed container as the demo shows it. */
export interface DemoContainer {
  tenant: string;
  name: string;
  host: string;
  vlan: number;
  address: string;
  runtimeName: string;
  state: string;
}

/** One isolation check and what it saw. */
export interface Proof {
  claim: string;
  ok: boolean;
  evidence: string;
}

/** Creates each tenant's network `web` on `physnet1` with the same subnet; returns tenant → VLAN. */
export async function createNetworks(clients: Clients): Promise<Map<string, number>> {
  const vlans = new Map<string, number>();
  for (const { tenant } of DEMO_TENANTS) {
    const { network } = await callUnary(clients, clients.network, clients.network.createNetwork, {
      tenant,
      name: 'web',
      physicalNetwork: 'physnet1',
      vlan: 0,
      cidr: DEMO_CIDR,
      subnetPool: '',
      prefixLength: 0,
    });
    vlans.set(tenant, network!.vlan);
  }
  return vlans;
}

/** Places every tenant's containers in one batch each, one per host at most (anti-affinity). */
export async function placeContainers(clients: Clients): Promise<void> {
  for (const { tenant, containers } of DEMO_TENANTS) {
    const specs = Array.from({ length: containers }, (_, i): placementV1.ContainerSpec => ({
      tenant,
      name: `web-${i + 1}`,
      network: 'web',
      template: 'busybox',
      cpuMillis: 100,
      memoryBytes: BigInt(64 * 1024 * 1024),
      constraints: [],
      antiAffinityGroup: `${tenant}-web`,
      spreadLabel: '',
      command: '', // the worker's default: busybox httpd serving a page that names the container
    }));
    await callUnary(clients, clients.placement, clients.placement.placeBatch, { containers: specs, policy: 'spread' });
  }
}

/** Waits until every demo container is reported RUNNING by its worker; sorted by tenant and name. */
export async function waitRunning(clients: Clients, timeoutMs: number): Promise<DemoContainer[]> {
  const count = DEMO_TENANTS.reduce((n, t) => n + t.containers, 0);
  const containers = await waitForRunning(clients, { count, timeoutMs });
  return containers.map(toDemoContainer).sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
}

function toDemoContainer(c: placementV1.Container): DemoContainer {
  return {
    tenant: c.spec!.tenant,
    name: c.spec!.name,
    host: c.host,
    vlan: c.vlan,
    address: c.address,
    runtimeName: runtimeNameOf(c.id),
    state: c.state,
  };
}

/**
 * Proves with packets on the lab that each tenant reaches its own containers across hosts and
 * nothing of the other tenant's, though both use the same addresses.
 */
export async function proveIsolation(lab: Lab, ref: LabRef, containers: readonly DemoContainer[]): Promise<Proof[]> {
  const [red, blue] = DEMO_TENANTS.map((t) => containers.filter((c) => c.tenant === t.tenant)) as [DemoContainer[], DemoContainer[]];
  const site = async (c: DemoContainer): Promise<ProbeSite> => ({ pid: await containerPid(lab.hosts.find((h) => h.name === c.host)!, c.runtimeName) });
  const redClient = { netns: (await labClientJoin(ref, red[0]!.vlan, CLIENT_ADDRESS)).netns };
  const blueClient = { netns: (await labClientJoin(ref, blue[0]!.vlan, CLIENT_ADDRESS)).netns };
  const proofs: Proof[] = [];

  // 1. The same address answers with a different container depending on the VLAN asked from.
  const shared = red.find((r) => blue.some((b) => b.address === r.address))!;
  const redPage = await fetchPage(redClient, shared.address);
  const bluePage = await fetchPage(blueClient, shared.address);
  proofs.push({
    claim: `${shared.address} is red's container on VLAN ${shared.vlan} and blue's on VLAN ${blue[0]!.vlan}`,
    ok: redPage?.startsWith(`red/`) === true && bluePage?.startsWith(`blue/`) === true,
    evidence: `red client got "${redPage ?? 'no answer'}", blue client got "${bluePage ?? 'no answer'}"`,
  });

  // 2. A tenant's containers on different hosts reach each other (ICMP and HTTP).
  for (const tenant of [red, blue]) {
    const [a, b] = tenant as [DemoContainer, DemoContainer];
    const from = await site(a);
    const ping = await pings(from, b.address);
    const page = await fetchPage(from, b.address);
    proofs.push({
      claim: `${a.tenant}/${a.name} on ${a.host} reaches ${b.tenant}/${b.name} on ${b.host} at ${b.address}`,
      ok: ping && page?.startsWith(`${b.tenant}/${b.name} `) === true,
      evidence: `ping ${ping ? 'answered' : 'unanswered'}, HTTP got "${page ?? 'no answer'}"`,
    });
  }

  // 3. An address only red uses is unreachable from blue's side, client and container alike.
  const redOnly = red.find((r) => !blue.some((b) => b.address === r.address))!;
  const fromBlue = await site(blue[0]!);
  const blueClientPing = await pings(blueClient, redOnly.address, 2);
  const blueContainerPing = await pings(fromBlue, redOnly.address, 2);
  proofs.push({
    claim: `red's ${redOnly.address} (${redOnly.name}) cannot be reached from blue's VLAN`,
    ok: !blueClientPing && !blueContainerPing,
    evidence: `blue client ping ${blueClientPing ? 'ANSWERED' : 'unanswered'}, blue/${blue[0]!.name} ping ${blueContainerPing ? 'ANSWERED' : 'unanswered'}`,
  });

  // 4. While red talks to all its containers, blue's containers see none of red's frames (not even
  //    its broadcasts), and a red container does: the capture would have caught a leak.
  const redMacs = [await macAt(redClient), ...(await Promise.all(red.map(async (c) => macAt(await site(c)))))];
  const blueSites = await Promise.all(blue.map(site));
  const redWatch = await site(red[red.length - 1]!);
  await probe(redClient, 'ip', ['neigh', 'flush', 'dev', 'eth0']); // so red broadcasts ARP requests again
  const captured = await captureWhile([...blueSites, redWatch], async () => {
    for (const c of red) await fetchPage(redClient, c.address);
  });
  const redSeen = captured.pop()!;
  const leaked = captured.flatMap((text) => text.split('\n').filter((line) => redMacs.some((mac) => line.includes(mac))));
  const redFrames = redSeen.split('\n').filter((line) => line.includes(redMacs[0]!)).length;
  proofs.push({
    claim: `blue's containers capture none of red's frames while red talks`,
    ok: leaked.length === 0 && redFrames > 0,
    evidence: `${leaked.length} red frames in blue's captures; ${redFrames} frames from red's client captured in red/${red[red.length - 1]!.name}`,
  });
  return proofs;
}
