/**
 * The lab: a fleet of hypervisors on one machine (DESIGN.md, "The lab").
 *
 * Per host: a network namespace `<lab>-<host>` with its own ovsdb-server + ovs-vswitchd (userspace
 * datapath) and bridge `br-<host>`, an LXC path, and a veth `uplink` whose other end is a trunk
 * port on the top-of-rack OVS in `<lab>-tor`. Every veth is created directly inside lab namespaces,
 * so nothing ever appears in (or is taken from) the machine's own namespace; every address lives in
 * a lab namespace. Teardown reads the state file and also sweeps namespaces by the `<lab>-` prefix,
 * so it works after a crash; processes are stopped only by the pids in the lab's own pid files.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from './errors.js';
import { hostNames, labDir, labLayout, clientNetns, type LabHost, type LabLayout, type LabRef } from './names.js';
import { isAlive, killAndWait, livePid, startOvs, stopOvs, vsctl } from './ovs-instance.js';
import { parseTarget, relayFiles, type RelayPorts, type RelayRoute } from './relay.js';
import { sh, type ShResult } from './sh.js';
import { readState, writeState, type LabClient, type LabState } from './state.js';

/** What `labUp` builds. */
export interface LabUpOptions extends LabRef {
  /** Number of hosts (`hv1`..`hvN`) or their names (default 3). */
  hosts?: number | readonly string[];
  /**
   * Control-plane services workers reach through the lab's relay, so that `labPartition` can cut
   * them off (e.g. `[{name: 'nats', target: '127.0.0.1:4222'}]`). See relay.ts.
   */
  controlPlane?: readonly RelayRoute[];
}

/** A running lab: its layout and state. */
export interface Lab extends LabLayout {
  state: LabState;
}

/** Tools the lab needs on the machine. */
export const LAB_TOOLS = ['ip', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovsdb-tool', 'lxc-create', 'lxc-start', 'ethtool', 'nsenter', 'tcpdump'] as const;

/** Why the lab cannot run here (not root, tools missing), or null when it can. */
export function labPrerequisiteProblem(): string | null {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, OVS, LXC)';
  const path = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  const missing = LAB_TOOLS.filter((t) => !path.some((d) => existsSync(join(d, t))));
  return missing.length > 0 ? `the lab needs ${missing.join(', ')} (Debian: openvswitch-switch lxc iproute2 ethtool util-linux tcpdump)` : null;
}

async function netnsList(): Promise<string[]> {
  const r = await sh('ip', ['netns', 'list'], { what: 'list network namespaces' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

async function ensureNetns(ns: string): Promise<void> {
  if (!(await netnsList()).includes(ns)) await sh('ip', ['netns', 'add', ns], { what: `add namespace ${ns}` });
  await sh('ip', ['link', 'set', 'lo', 'up'], { netns: ns, what: `bring up lo in ${ns}` });
}

async function linkExists(ns: string, dev: string): Promise<boolean> {
  const r = await sh('ip', ['link', 'show', 'dev', dev], { netns: ns, okExitCodes: [1], what: `look up ${dev} in ${ns}` });
  return r.exitCode === 0;
}

/** Makes a veth pair with one end in each namespace (never in the machine's own), both up, TX offload off. */
async function ensureVeth(nsA: string, devA: string, nsB: string, devB: string): Promise<void> {
  if (!(await linkExists(nsA, devA))) {
    await sh('ip', ['link', 'add', 'name', devA, 'netns', nsA, 'type', 'veth', 'peer', 'name', devB, 'netns', nsB], {
      what: `add veth ${nsA}/${devA} <-> ${nsB}/${devB}`,
    });
  }
  for (const [ns, dev] of [[nsA, devA], [nsB, devB]] as const) {
    await sh('ip', ['link', 'set', dev, 'up'], { netns: ns, what: `bring up ${dev} in ${ns}` });
    await sh('ethtool', ['-K', dev, 'tx', 'off'], { netns: ns, what: `turn off tx offload on ${dev} in ${ns}` });
  }
}

async function upHost(lab: LabLayout, h: LabHost): Promise<void> {
  await ensureNetns(h.netns);
  await startOvs(h.ovsRundir, h.netns, h.bridge);
  await ensureVeth(h.netns, h.uplink, lab.tor.netns, h.torPort);
  await vsctl(h.ovsRundir, ['--may-exist', 'add-port', h.bridge, h.uplink, '--', 'set', 'port', h.uplink, 'external_ids:fjord-lab=uplink'], `add uplink to ${h.bridge}`);
  await vsctl(lab.tor.ovsRundir, ['--may-exist', 'add-port', lab.tor.bridge, h.torPort, '--', 'set', 'port', h.torPort, 'external_ids:fjord-lab=uplink'], `add ${h.torPort} to ${lab.tor.bridge}`);
}

/** Describes an existing lab from its state file, or null when there is none. */
export async function labGet(ref: LabRef = {}): Promise<Lab | null> {
  const { dir } = labDir(ref);
  const state = await readState(join(dir, 'lab.json'));
  return state ? { ...labLayout(ref, state.hosts), state } : null;
}

async function mustGet(ref: LabRef): Promise<Lab> {
  const lab = await labGet(ref);
  if (!lab) throw new LabError(`no lab ${labDir(ref).name} (run lab up first)`);
  return lab;
}

function mustHost(lab: Lab, host: string): LabHost {
  const h = lab.hosts.find((x) => x.name === host);
  if (!h) throw new LabError(`no host ${host} in lab ${lab.name} (hosts: ${lab.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

/**
 * Brings a lab up (idempotent: what exists is kept). A lab that exists with other hosts is refused;
 * take it down first.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<Lab> {
  const problem = labPrerequisiteProblem();
  if (problem) throw new LabError(`lab up: ${problem}`);
  const hosts = hostNames(opts.hosts ?? 3);
  const layout = labLayout(opts, hosts);
  const old = await readState(layout.stateFile);
  if (old && old.hosts.join(',') !== hosts.join(',')) {
    throw new LabError(`lab ${layout.name} exists with hosts ${old.hosts.join(', ')}; run lab down first`);
  }
  const state: LabState = old ?? { version: 1, name: layout.name, hosts, killed: [], partitioned: [], workers: {}, clients: [] };
  // Record the lab before making anything, so a failed or interrupted up is still torn down.
  await writeState(layout.stateFile, state);
  await ensureNetns(layout.tor.netns);
  await startOvs(layout.tor.ovsRundir, layout.tor.netns, layout.tor.bridge);
  await Promise.all(layout.hosts.map((h) => upHost(layout, h)));
  state.killed = [];
  if (opts.controlPlane && opts.controlPlane.length > 0) {
    for (const r of opts.controlPlane) parseTarget(r.target);
    state.controlPlane = opts.controlPlane.map((r) => ({ name: r.name, target: r.target }));
  }
  await writeState(layout.stateFile, state);
  if (state.controlPlane) await startRelay(layout.dir, hosts, state.controlPlane);
  return { ...layout, state };
}

/** Starts the lab's relay process (if not running) and waits until it listens. */
async function startRelay(dir: string, hosts: string[], routes: RelayRoute[]): Promise<void> {
  const f = relayFiles(dir);
  if (await livePid(f.pid)) return;
  await writeFile(f.config, JSON.stringify({ hosts, routes }, null, 2) + '\n');
  await rm(f.ports, { force: true });
  const main = fileURLToPath(new URL('./relay-main.ts', import.meta.url));
  const log = openSync(f.log, 'a');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, dir], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  await writeFile(f.pid, `${child.pid}\n`);
  for (let i = 0; i < 200 && !existsSync(f.ports); i++) {
    if (!child.pid || !isAlive(child.pid)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(f.ports)) throw new LabError(`start control-plane relay: not listening after 10 s (see ${f.log})`);
}

/** Tells the relay to re-read which hosts are cut off, and waits (up to 5 s) until it has. */
async function signalRelay(dir: string): Promise<void> {
  const f = relayFiles(dir);
  const pid = await livePid(f.pid);
  if (!pid) return;
  const acks = async () => Number((await readFile(f.ack, 'utf8').catch(() => '0')).trim()) || 0;
  const before = await acks();
  process.kill(pid, 'SIGHUP');
  for (let i = 0; i < 100 && (await acks()) <= before; i++) await new Promise((r) => setTimeout(r, 50));
  if ((await acks()) <= before) throw new LabError(`control-plane relay (pid ${pid}) did not apply the change within 5 s (see ${f.log})`);
}

/**
 * Where a host's worker reaches each control-plane service: route name → `127.0.0.1:<port>` on
 * the relay (empty when the lab has no relay).
 */
export async function labControlPlane(ref: LabRef, host: string): Promise<Record<string, string>> {
  const lab = await mustGet(ref);
  mustHost(lab, host);
  const file = relayFiles(lab.dir).ports;
  if (!existsSync(file)) return {};
  const ports = JSON.parse(await readFile(file, 'utf8')) as RelayPorts;
  return Object.fromEntries(Object.entries(ports[host] ?? {}).map(([name, port]) => [name, `127.0.0.1:${port}`]));
}

/**
 * A worker configuration for one lab host, in the shape services/worker's config file takes:
 * real drivers pointed at the host's namespace, OVS and LXC path, and NATS through the relay
 * (route `nats`) when the lab has one. Run the worker as an ordinary process with it, then
 * `labRegisterWorker` its pid.
 */
export async function labWorkerConfig(ref: LabRef, host: string): Promise<Record<string, unknown>> {
  const lab = await mustGet(ref);
  const h = mustHost(lab, host);
  const cp = await labControlPlane(ref, host);
  return {
    host: h.name,
    ...(cp.nats ? { natsUrl: `nats://${cp.nats}` } : {}),
    driver: {
      kind: 'lxc-ovs',
      bridge: h.bridge,
      ovsRundir: h.ovsRundir,
      datapathType: 'netdev',
      lxcPath: h.lxcPath,
      netns: h.netns,
      templateCache: lab.templateCache,
    },
  };
}

/** Names of the containers in a host's LXC path (whatever their state). */
async function containerNames(h: LabHost): Promise<string[]> {
  if (!existsSync(h.lxcPath)) return [];
  const entries = await readdir(h.lxcPath, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && existsSync(join(h.lxcPath, e.name, 'config'))).map((e) => e.name);
}

/** Kills every running container of a host (inside its namespace, where LXC's command socket lives). */
async function killContainers(h: LabHost): Promise<void> {
  if (!(await netnsList()).includes(h.netns)) return;
  for (const name of await containerNames(h)) {
    await sh('lxc-stop', ['-P', h.lxcPath, '-n', name, '-k'], { netns: h.netns, okExitCodes: [1, 2], what: `kill container ${name} on ${h.name}` });
  }
}

async function cutUplink(lab: LabLayout, h: LabHost, up: boolean): Promise<void> {
  const state = up ? 'up' : 'down';
  for (const [ns, dev] of [[lab.tor.netns, h.torPort], [h.netns, h.uplink]] as const) {
    if ((await netnsList()).includes(ns) && (await linkExists(ns, dev))) {
      await sh('ip', ['link', 'set', dev, state], { netns: ns, what: `set ${dev} ${state} in ${ns}` });
    }
  }
}

/**
 * Tears a lab down: workers, containers, OVS daemons, namespaces and its state directory. Works from
 * the state file and, when that is gone or partial, from the `<lab>-` namespace prefix and the pid
 * files under the lab's directory. Idempotent.
 */
export async function labDown(ref: LabRef = {}): Promise<void> {
  const { name, dir } = labDir(ref);
  const state = await readState(join(dir, 'lab.json')).catch(() => null);
  const namespaces = (await netnsList()).filter((n) => n.startsWith(`${name}-`));
  const fromDirs = existsSync(dir)
    ? (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'ovs'))).map((e) => e.name)
    : [];
  const fromNs = namespaces.map((n) => n.slice(name.length + 1)).filter((h) => h !== 'tor' && !h.startsWith('cl'));
  const hosts = [...new Set([...(state?.hosts ?? []), ...fromDirs.filter((h) => h !== 'tor'), ...fromNs])].filter((h) => /^[a-z][a-z0-9]{0,9}$/.test(h));
  const layout = labLayout(ref, hosts.length > 0 ? hosts : ['hv1']);
  for (const pid of Object.values(state?.workers ?? {})) if (isAlive(pid)) await killAndWait(pid);
  const relay = await livePid(relayFiles(dir).pid);
  if (relay) await killAndWait(relay);
  await Promise.all(layout.hosts.map((h) => killContainers(h)));
  await Promise.all([...layout.hosts.map((h) => stopOvs(h.ovsRundir)), stopOvs(layout.tor.ovsRundir)]);
  for (const ns of namespaces) await sh('ip', ['netns', 'delete', ns], { okExitCodes: [1], what: `delete namespace ${ns}` });
  await rm(dir, { recursive: true, force: true });
}

/** Per-host health as `labStatus` reports it. */
export interface LabHostStatus {
  name: string;
  netns: string;
  netnsExists: boolean;
  ovsdbPid: number | null;
  vswitchdPid: number | null;
  killed: boolean;
  partitioned: boolean;
  workerPid: number | null;
  containers: { name: string; state: string }[];
}

/** What `labStatus` reports. */
export interface LabStatus {
  name: string;
  dir: string;
  up: boolean;
  tor: { netnsExists: boolean; ovsdbPid: number | null; vswitchdPid: number | null };
  /** The control-plane relay's pid, or null when the lab has none running. */
  relayPid: number | null;
  hosts: LabHostStatus[];
  clients: LabClient[];
}

/** Reports a lab's hosts, daemons, containers and clients as found on the machine now. */
export async function labStatus(ref: LabRef = {}): Promise<LabStatus> {
  const lab = await labGet(ref);
  const { name, dir } = labDir(ref);
  if (!lab) return { name, dir, up: false, tor: { netnsExists: false, ovsdbPid: null, vswitchdPid: null }, relayPid: null, hosts: [], clients: [] };
  const ns = new Set(await netnsList());
  const hosts = await Promise.all(
    lab.hosts.map(async (h): Promise<LabHostStatus> => {
      const worker = lab.state.workers[h.name];
      let containers: { name: string; state: string }[] = [];
      if (ns.has(h.netns) && existsSync(h.lxcPath)) {
        const r = await sh('lxc-ls', ['-P', h.lxcPath, '-f', '-F', 'NAME,STATE'], { netns: h.netns, what: `list containers on ${h.name}` });
        containers = r.stdout
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f.length >= 2 && f[0])
          .map(([n, s]) => ({ name: n ?? '', state: (s ?? '').toLowerCase() }));
      }
      return {
        name: h.name,
        netns: h.netns,
        netnsExists: ns.has(h.netns),
        ovsdbPid: await livePid(join(h.ovsRundir, 'ovsdb-server.pid')),
        vswitchdPid: await livePid(join(h.ovsRundir, 'ovs-vswitchd.pid')),
        killed: lab.state.killed.includes(h.name),
        partitioned: lab.state.partitioned.includes(h.name),
        workerPid: worker && isAlive(worker) ? worker : null,
        containers,
      };
    }),
  );
  return {
    name: lab.name,
    dir: lab.dir,
    up: ns.has(lab.tor.netns),
    tor: {
      netnsExists: ns.has(lab.tor.netns),
      ovsdbPid: await livePid(join(lab.tor.ovsRundir, 'ovsdb-server.pid')),
      vswitchdPid: await livePid(join(lab.tor.ovsRundir, 'ovs-vswitchd.pid')),
    },
    relayPid: await livePid(relayFiles(lab.dir).pid),
    hosts,
    clients: lab.state.clients,
  };
}

/** Records the worker process of a host, so `labKill` and `labDown` can stop it. */
export async function labRegisterWorker(ref: LabRef, host: string, pid: number): Promise<void> {
  const lab = await mustGet(ref);
  mustHost(lab, host);
  lab.state.workers[host] = pid;
  await writeState(lab.stateFile, lab.state);
}

/**
 * Power loss of one host: its worker is killed, its containers are killed, its OVS daemons are
 * killed (SIGKILL) and its uplink is cut on both ends. Its disks (OVS database, LXC path) survive.
 */
export async function labKill(ref: LabRef, host: string): Promise<void> {
  const lab = await mustGet(ref);
  const h = mustHost(lab, host);
  const worker = lab.state.workers[host];
  if (worker && isAlive(worker)) await killAndWait(worker, 'SIGKILL');
  await killContainers(h);
  await stopOvs(h.ovsRundir, 'SIGKILL');
  await cutUplink(lab, h, false);
  if (!lab.state.killed.includes(host)) lab.state.killed.push(host);
  await writeState(lab.stateFile, lab.state);
  await signalRelay(lab.dir);
}

/**
 * Cuts a host's control-plane connection while its data plane keeps running: the lab's relay (if
 * the lab was brought up with `controlPlane`) drops the host's connections and refuses new ones.
 * Recorded in the state file either way (`labStatus`, `labIsPartitioned`).
 */
export async function labPartition(ref: LabRef, host: string): Promise<void> {
  const lab = await mustGet(ref);
  mustHost(lab, host);
  if (!lab.state.partitioned.includes(host)) lab.state.partitioned.push(host);
  await writeState(lab.stateFile, lab.state);
  await signalRelay(lab.dir);
}

/** Whether a host's control-plane connection is cut (the hook a worker or relay consults). */
export async function labIsPartitioned(ref: LabRef, host: string): Promise<boolean> {
  return (await labGet(ref))?.state.partitioned.includes(host) ?? false;
}

/**
 * Heals one host (or every host): ends its partition and powers a killed host back on: its OVS
 * starts again from its database (bridge and ports come back) and its uplink is restored. Its
 * containers stay stopped; bringing them back is the worker's job.
 */
export async function labHeal(ref: LabRef, host?: string): Promise<void> {
  const lab = await mustGet(ref);
  const targets = host ? [mustHost(lab, host)] : lab.hosts;
  for (const h of targets) {
    if (lab.state.killed.includes(h.name)) {
      await startOvs(h.ovsRundir, h.netns, h.bridge);
      await cutUplink(lab, h, true);
    }
  }
  const names = new Set(targets.map((h) => h.name));
  lab.state.killed = lab.state.killed.filter((n) => !names.has(n));
  lab.state.partitioned = lab.state.partitioned.filter((n) => !names.has(n));
  await writeState(lab.stateFile, lab.state);
  await signalRelay(lab.dir);
}

/** Runs a command inside a host's namespace (`ip netns exec <lab>-<host> ...`). */
export async function labExec(ref: LabRef, host: string, cmd: string, args: readonly string[], opts: { okExitCodes?: number[]; timeoutMs?: number } = {}): Promise<ShResult> {
  const h = mustHost(await mustGet(ref), host);
  return sh(cmd, args, { netns: h.netns, env: h.env, what: `run ${cmd} on ${host}`, ...opts });
}

/**
 * Attaches a client namespace `<lab>-cl<vlan>` to a tenant VLAN: its `eth0` is an access port with
 * that tag on the top-of-rack switch, addressed `address` (e.g. `10.20.0.250/24`). Idempotent.
 */
export async function labClientJoin(ref: LabRef, vlan: number, address: string): Promise<LabClient> {
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) throw new LabError(`bad vlan ${vlan}: want 1-4094`);
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(address)) throw new LabError(`bad client address ${JSON.stringify(address)}: want a.b.c.d/len`);
  const lab = await mustGet(ref);
  const ns = clientNetns(lab.name, vlan);
  const torPort = `cl${vlan}`;
  await ensureNetns(ns);
  await ensureVeth(ns, 'eth0', lab.tor.netns, torPort);
  await vsctl(lab.tor.ovsRundir, ['--may-exist', 'add-port', lab.tor.bridge, torPort, '--', 'set', 'port', torPort, `tag=${vlan}`, 'external_ids:fjord-lab=client'], `add client port ${torPort} to ${lab.tor.bridge}`);
  await sh('ip', ['addr', 'flush', 'dev', 'eth0'], { netns: ns, what: `flush client address in ${ns}` });
  await sh('ip', ['addr', 'add', address, 'dev', 'eth0'], { netns: ns, what: `address client in ${ns}` });
  const client = { vlan, netns: ns, address };
  lab.state.clients = [...lab.state.clients.filter((c) => c.vlan !== vlan), client];
  await writeState(lab.stateFile, lab.state);
  return client;
}

/** Detaches and deletes the client namespace of a VLAN (no-op when absent). */
export async function labClientLeave(ref: LabRef, vlan: number): Promise<void> {
  const lab = await mustGet(ref);
  const ns = clientNetns(lab.name, vlan);
  await vsctl(lab.tor.ovsRundir, ['--if-exists', 'del-port', lab.tor.bridge, `cl${vlan}`], `remove client port cl${vlan}`);
  if ((await netnsList()).includes(ns)) await sh('ip', ['netns', 'delete', ns], { what: `delete namespace ${ns}` });
  lab.state.clients = lab.state.clients.filter((c) => c.vlan !== vlan);
  await writeState(lab.stateFile, lab.state);
}
