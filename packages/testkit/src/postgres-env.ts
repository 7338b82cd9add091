/**
 * Test environments on real services. Each call gets its own Postgres database (and each test file
 * its own NATS subject prefix), so test files run in parallel without seeing each other.
 *
 * Where Postgres comes from, in order: `DATABASE_URL`; a testcontainers Postgres when a Docker
 * engine answers; the local server at postgres://postgres@127.0.0.1:5432/postgres.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type Kysely, sql } from 'kysely';
import postgres from 'postgres';
import { type Database, createDb, migrateToLatest } from '@fjord/store';

/** The local server tried when neither DATABASE_URL nor Docker is available. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, migrated database for one test file. */
export interface TestDatabase {
  /** URL of the fresh database. */
  url: string;
  /** Pooled kysely instance on it. */
  db: Kysely<Database>;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Options for {@link createTestDatabase}. */
export interface TestDatabaseOptions {
  /** Pool size of the returned `db` (default 10). */
  max?: number;
  /** Skip running migrations (default false). */
  skipMigrations?: boolean;
}

let serverUrl: Promise<string> | undefined;

/**
 * Creates `fjord_test_<random>` on the first reachable server, migrates it, and returns it. Throws
 * an Error saying what was tried when no server answers (tests decide whether that fails or skips).
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  serverUrl ??= findServer();
  let base: string;
  try {
    base = await serverUrl;
  } catch (err) {
    serverUrl = undefined; // let a later call try again
    throw err;
  }
  const name = `fjord_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(base, name);
  const { db, close } = createDb(url, { max: options.max ?? 10, applicationName: 'fjord-test' });
  try {
    if (!options.skipMigrations) await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await close();
    await dropDatabase(base, name);
    throw err;
  }
  let dropped = false;
  return {
    url,
    db,
    async drop() {
      if (dropped) return;
      dropped = true;
      await close();
      await dropDatabase(base, name);
    },
  };
}

/**
 * Checks once whether Postgres is reachable. Under `CI=true` an unreachable server is an error
 * (nothing is silently skipped); elsewhere the result says why, for `describe.skipIf`.
 */
export async function postgresAvailability(): Promise<{ ok: true } | { ok: false; reason: string }> {
  serverUrl ??= findServer();
  try {
    await serverUrl;
    return { ok: true };
  } catch (err) {
    serverUrl = undefined;
    if (process.env.CI === 'true') throw err;
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

async function findServer(): Promise<string> {
  const tried: string[] = [];
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    const why = await probe(fromEnv);
    if (why === undefined) return fromEnv;
    throw new Error(`postgres: DATABASE_URL ${redact(fromEnv)} is unreachable: ${why}`);
  }
  if (dockerLikely()) {
    try {
      return await startContainer();
    } catch (err) {
      tried.push(`testcontainers: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  } else {
    tried.push('testcontainers: no docker socket or DOCKER_HOST');
  }
  const why = await probe(LOCAL_POSTGRES_URL);
  if (why === undefined) return LOCAL_POSTGRES_URL;
  tried.push(`${LOCAL_POSTGRES_URL}: ${why}`);
  throw new Error(
    `postgres: no server reachable (set DATABASE_URL, run a Docker engine, or start the local server); tried ${tried.join('; ')}`,
  );
}

function dockerLikely(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock') || existsSync(`${process.env.HOME ?? ''}/.docker/run/docker.sock`);
}

let container: Promise<string> | undefined;

async function startContainer(): Promise<string> {
  container ??= (async () => {
    const tc = await import('testcontainers');
    await tc.getContainerRuntimeClient(); // throws quickly when no engine answers
    const started = await new tc.GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    return `postgres://postgres@${started.getHost()}:${started.getMappedPort(5432)}/postgres`;
  })();
  return container;
}

async function probe(url: string): Promise<string | undefined> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await client`SELECT 1`;
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end({ timeout: 1 });
  }
}

async function dropDatabase(base: string, name: string): Promise<void> {
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

/** A NATS server and a subject/stream prefix unique to the caller (one per test file). */
export interface NatsTestEnv {
  /** Server URL: NATS_URL or nats://127.0.0.1:4222. */
  url: string;
  /** Prefix for subjects and stream names, e.g. `fjtest3f9a1c`. */
  prefix: string;
}

/** The NATS server to test against and a fresh prefix so files do not share subjects or streams. */
export function natsTestEnv(): NatsTestEnv {
  return { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', prefix: `fjtest${randomBytes(4).toString('hex')}` };
}

/** Runs `sql` text as-is on `db`; handy for assertions that need raw queries. */
export async function rawQuery<R>(db: Kysely<Database>, text: string): Promise<R[]> {
  const { rows } = await sql<R>`${sql.raw(text)}`.execute(db);
  return rows;
}
