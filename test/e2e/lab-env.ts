/**
 * Shared helpers for e2e tests on the lab: prerequisite gating (fail under CI, skip elsewhere),
 * per-host drivers, a minimal converge loop standing in for the worker's, and packet helpers.
 */
import { containerMac } from '@fjord/core';
import { captureWhile as capture, labPrerequisiteProblem, macAt, probe, type Lab, type LabHost, type ShResult } from '@fjord/lab';
import { ContainerState, LxcRuntime, OvsSwitch, type ContainerSpec, type CreateOutcome, type PortChanges } from '@fjord/worker';

/** Why the e2e suite cannot run here, or null. */
export const labProblem = labPrerequisiteProblem();
/** Under CI a missing prerequisite is a failure, never a skip (STYLE.md item 18). */
export const inCi = process.env.CI === 'true' || process.env.CI === '1';
/** Skip the suite (with the reason printed) only outside CI. */
export const skipLab = labProblem !== null && !inCi;
if (skipLab) console.warn(`e2e: skipping lab tests: ${labProblem}`);

/** Throws in CI when a prerequisite is missing; call first in beforeAll. */
export function requireLab(): void {
  if (labProblem) throw new Error(`e2e prerequisites missing (CI=true, so this fails instead of skipping): ${labProblem}`);
}

/** The drivers a worker on `host` would use. */
export interface HostDrivers {
  host: LabHost;
  sw: OvsSwitch;
  rt: LxcRuntime;
}

/** Builds the real drivers for one lab host. */
export function driversFor(lab: Lab, host: LabHost): HostDrivers {
  return {
    host,
    sw: new OvsSwitch({ bridge: host.bridge, owner: host.name, ovsRundir: host.ovsRundir, datapathType: 'netdev' }),
    rt: new LxcRuntime({ lxcPath: host.lxcPath, netns: host.netns, templateCache: lab.templateCache }),
  };
}

/** A container of a tenant as the tests place it. */
export interface Placement {
  name: string;
  host: string;
  vlan: number;
  ip: string;
}

/** The spec of a placed container: busybox serving `hello from <name>` over HTTP. */
export function specOf(p: Placement, host: LabHost): ContainerSpec {
  return {
    name: p.name,
    template: 'busybox',
    network: { bridge: host.bridge, vlan: p.vlan, vethPair: `v-${p.name}`, ip: p.ip, prefix: 24, hwaddr: containerMac(p.vlan, p.ip) },
    command: ['/bin/sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'],
  };
}

/** What one converge pass changed on a host. */
export interface ConvergeResult {
  ports: PortChanges;
  removedPorts: string[];
  created: Record<string, CreateOutcome>;
  started: string[];
  destroyed: string[];
}

/**
 * A minimal stand-in for the worker's reconcile loop (which comes later): make the host's ports and
 * containers exactly `desired`, touching only what Fjord owns.
 */
export async function converge(d: HostDrivers, desired: readonly Placement[]): Promise<ConvergeResult> {
  const mine = desired.filter((p) => p.host === d.host.name);
  const specs = mine.map((p) => specOf(p, d.host));
  await d.sw.ensureBridge();
  const ports = await d.sw.applyPorts(specs.map((s) => ({ name: s.network.vethPair, vlan: s.network.vlan, externalIds: { 'fjord-container': s.name } })));
  const wantedPorts = new Set(specs.map((s) => s.network.vethPair));
  const removedPorts = await d.sw.removePorts((await d.sw.listPorts()).map((p) => p.name).filter((n) => !wantedPorts.has(n)));
  const wanted = new Set(specs.map((s) => s.name));
  const destroyed: string[] = [];
  for (const c of await d.rt.list()) {
    if (!wanted.has(c.name)) {
      await d.rt.destroy(c.name);
      destroyed.push(c.name);
    }
  }
  const created: Record<string, CreateOutcome> = {};
  const started: string[] = [];
  const running = new Set((await d.rt.list()).filter((c) => c.state === ContainerState.Running).map((c) => c.name));
  await Promise.all(
    specs.map(async (s) => {
      created[s.name] = await d.rt.create(s);
      if (!running.has(s.name) || created[s.name] !== 'unchanged') {
        if (created[s.name] === 'updated') await d.rt.stop(s.name);
        await d.rt.start(s.name);
        started.push(s.name);
      }
    }),
  );
  return { ports, removedPorts, created, started: started.sort(), destroyed };
}

/** Init pid of a running container (for entering its network namespace). */
export async function pidOf(d: HostDrivers, name: string): Promise<number> {
  const c = (await d.rt.list()).find((x) => x.name === name);
  if (!c?.pid) throw new Error(`container ${name} on ${d.host.name} is not running`);
  return c.pid;
}

/** Runs a command in a container's network namespace; a "no answer" exit is returned, not thrown. */
export function inContainerNet(pid: number, cmd: string, args: readonly string[]): Promise<ShResult> {
  return probe({ pid }, cmd, args);
}

/** The MAC address of a container's eth0. */
export function macOf(pid: number): Promise<string> {
  return macAt({ pid });
}

/** Captures every frame on eth0 of each container (by pid) while `during` runs; text per pid. */
export async function captureWhile(pids: readonly number[], during: () => Promise<void>): Promise<Map<number, string>> {
  const texts = await capture(pids.map((pid) => ({ pid })), during);
  return new Map(pids.map((pid, i) => [pid, texts[i]!]));
}
