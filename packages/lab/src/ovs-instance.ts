/**
 * A private Open vSwitch (ovsdb-server + ovs-vswitchd) for one lab host or the top-of-rack switch:
 * database, sockets, pid files and logs all live in its own run directory, and ovs-vswitchd runs in
 * the host's network namespace with the userspace datapath. The machine's own OVS (if any, under
 * /var/run/openvswitch) is never contacted: every command names this directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { sh } from './sh.js';

const SCHEMAS = ['/usr/share/openvswitch/vswitch.ovsschema', '/usr/local/share/openvswitch/vswitch.ovsschema'];

/** The daemons of one private OVS, in start order. */
export const OVS_DAEMONS = ['ovsdb-server', 'ovs-vswitchd'] as const;

function schemaPath(): string {
  const found = SCHEMAS.find((p) => existsSync(p));
  if (!found) throw new LabError(`no OVS schema found (looked in ${SCHEMAS.join(', ')}): install openvswitch-switch`);
  return found;
}

/** The pid recorded in a pid file, if the file exists and the process is alive. */
export async function livePid(pidFile: string): Promise<number | null> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && isAlive(pid) ? pid : null;
}

/** Whether `pid` is a running process (a zombie waiting to be reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Starts the private OVS in `rundir` inside `netns` (no-op for daemons already running) and ensures
 * `bridge`. With `vswitchd: false` only the database runs (a bare switch database, for benchmarks).
 */
export async function startOvs(rundir: string, netns: string, bridge: string, opts: { vswitchd?: boolean } = {}): Promise<void> {
  const vswitchd = opts.vswitchd ?? true;
  await mkdir(rundir, { recursive: true });
  const env = { OVS_RUNDIR: rundir, OVS_LOGDIR: rundir, OVS_DBDIR: rundir };
  const db = join(rundir, 'conf.db');
  const fresh = !existsSync(db);
  if (fresh) await sh('ovsdb-tool', ['create', db, schemaPath()], { what: `create ovs database in ${rundir}`, env });
  const common = (d: string) => [`--unixctl=${join(rundir, `${d}.ctl`)}`, `--pidfile=${join(rundir, `${d}.pid`)}`, `--log-file=${join(rundir, `${d}.log`)}`, '--detach', '--no-chdir'];
  if (!(await livePid(join(rundir, 'ovsdb-server.pid')))) {
    await sh('ovsdb-server', [db, `--remote=punix:${join(rundir, 'db.sock')}`, ...common('ovsdb-server')], { netns, env, what: `start ovsdb-server in ${netns}` });
  }
  if (fresh) await sh('ovs-vsctl', ['--no-wait', 'init'], { env, what: `initialise ovs database in ${rundir}` });
  if (vswitchd && !(await livePid(join(rundir, 'ovs-vswitchd.pid')))) {
    await sh('ovs-vswitchd', [`unix:${join(rundir, 'db.sock')}`, ...common('ovs-vswitchd')], { netns, env, what: `start ovs-vswitchd in ${netns}` });
  }
  await sh('ovs-vsctl', ['--timeout=20', ...(vswitchd ? [] : ['--no-wait']), '--may-exist', 'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev'], {
    env,
    what: `ensure bridge ${bridge} in ${netns}`,
  });
}

/** Stops the private OVS in `rundir` by the pids in its pid files; `signal` SIGKILL simulates power loss. */
export async function stopOvs(rundir: string, signal: NodeJS.Signals = 'SIGTERM', daemons: readonly (typeof OVS_DAEMONS)[number][] = OVS_DAEMONS): Promise<void> {
  for (const d of [...daemons].reverse()) {
    const pid = await livePid(join(rundir, `${d}.pid`));
    if (pid) await killAndWait(pid, signal);
  }
}

/** Sends `signal` to `pid` and waits up to 3 s for it to go, then SIGKILLs it. */
export async function killAndWait(pid: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const alive = () => isAlive(pid);
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  for (let i = 0; i < 60 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Runs `ovs-vsctl` against the private OVS in `rundir`. */
export function vsctl(rundir: string, args: readonly string[], what: string) {
  return sh('ovs-vsctl', ['--timeout=20', ...args], { env: { OVS_RUNDIR: rundir }, what });
}
