/**
 * Packet-level probes on a lab: run a command in a container's or a client's network namespace,
 * fetch a page, ping, and capture frames while something else talks. The demo and the end-to-end
 * tests prove tenant isolation with these.
 */
import { spawn } from 'node:child_process';
import type { LabHost } from './names.js';
import { sh, type ShResult } from './sh.js';

/** Exit codes of ping/wget/nc that mean "no answer", not "the probe broke". */
const NO_ANSWER = [1, 2, 7, 28] as const;

/** Init pid of a running container on a lab host (to enter its network namespace). */
export async function containerPid(host: LabHost, name: string): Promise<number> {
  const r = await sh('lxc-info', ['-P', host.lxcPath, '-n', name, '-p', '-H'], {
    netns: host.netns,
    okExitCodes: [1],
    what: `find the init pid of container ${name} on ${host.name}`,
  });
  const pid = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`container ${name} on ${host.name} is not running`);
  return pid;
}

/** Where a probe runs: a container (by init pid) or a named namespace (a lab client). */
export type ProbeSite = { pid: number } | { netns: string };

/** Runs a command in the site's network namespace; "no answer" exit codes are returned, not thrown. */
export function probe(site: ProbeSite, cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<ShResult> {
  const what = `${cmd} in ${'pid' in site ? `container pid ${site.pid}` : site.netns}`;
  if ('pid' in site) return sh('nsenter', ['-t', String(site.pid), '-n', cmd, ...args], { okExitCodes: NO_ANSWER, what, timeoutMs });
  return sh(cmd, args, { netns: site.netns, okExitCodes: NO_ANSWER, what, timeoutMs });
}

/** Whether `address` answers one of `count` pings from the site within about a second each. */
export async function pings(site: ProbeSite, address: string, count = 3): Promise<boolean> {
  return (await probe(site, 'ping', ['-c', String(count), '-W', '1', '-i', '0.2', address])).exitCode === 0;
}

/** The page at `http://<address>/`, or null when nothing answers within `timeoutS`. */
export async function fetchPage(site: ProbeSite, address: string, timeoutS = 3): Promise<string | null> {
  // curl, not busybox wget: Debian's busybox wget crashes (SIGSEGV) on some failures.
  const r = await probe(site, 'curl', ['-s', '-m', String(timeoutS), `http://${address}/`]);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The MAC address of eth0 at the site. */
export async function macAt(site: ProbeSite): Promise<string> {
  return (await probe(site, 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
}

/**
 * Captures every frame on eth0 at each site while `during` runs and returns the captured text per
 * site, in the order given (`tcpdump -e -nn`: MACs and addresses on every line).
 */
export async function captureWhile(sites: readonly ProbeSite[], during: () => Promise<void>): Promise<string[]> {
  const procs = sites.map((site) => {
    const tcpdump = ['tcpdump', '-i', 'eth0', '-e', '-nn', '-l', '-U', '-Z', 'root'];
    const [file, argv] = 'pid' in site ? ['nsenter', ['-t', String(site.pid), '-n', ...tcpdump]] : ['ip', ['netns', 'exec', site.netns, ...tcpdump]];
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    const ready = new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('listening on')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`tcpdump (${argv.slice(0, 3).join(' ')}) exited ${code}: ${err}`)));
    });
    const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
    return { child, out, ready, done };
  });
  try {
    await Promise.all(procs.map((p) => p.ready));
    await during();
    await new Promise((r) => setTimeout(r, 500)); // let the last frames reach the captures
  } finally {
    for (const p of procs) p.child.kill('SIGINT');
    await Promise.all(procs.map((p) => p.done));
  }
  return procs.map((p) => Buffer.concat(p.out).toString('utf8'));
}
