/**
 * The demo's control plane: its own database on the Postgres that DATABASE_URL names (or the local
 * one), its own NATS subject prefix, and one scheduler process. `stop` removes all three.
 */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import postgres from 'postgres';
import { deleteStreams, subjects } from '@fjord/bus';
import { startService, type ServiceProcess } from './processes.js';

/** What the demo's control plane runs on. */
export interface ControlPlaneOptions {
  /** Directory for config and log files. */
  dir: string;
  /** Postgres server (any database on it); the demo creates and drops its own database there. */
  postgresUrl: string;
  natsUrl: string;
  /** Subject prefix and database name stem, e.g. `fjdemo`. */
  name: string;
  grpcPort: number;
}

/** A running demo control plane. */
export interface ControlPlane {
  server: string;
  databaseUrl: string;
  natsUrl: string;
  prefix: string;
  scheduler: ServiceProcess;
  /** Stops the scheduler, deletes the prefix's streams and drops the database. Idempotent. */
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function recreateDatabase(postgresUrl: string, database: string, create: boolean): Promise<void> {
  const admin = postgres(withDatabase(postgresUrl, 'postgres'), { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    if (create) await admin.unsafe(`CREATE DATABASE "${database}"`);
  } catch (err) {
    throw new Error(`postgres at ${new URL(postgresUrl).host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await admin.end();
  }
}

async function deletePrefixStreams(natsUrl: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: 'fjord-demo-cleanup' });
  try {
    await deleteStreams(nc, subjects(prefix));
  } finally {
    await nc.close();
  }
}

/** Creates the database (dropping a leftover one), then starts the scheduler on it. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const database = `${opts.name}_db`;
  const databaseUrl = withDatabase(opts.postgresUrl, database);
  await recreateDatabase(opts.postgresUrl, database, true);
  await deletePrefixStreams(opts.natsUrl, opts.name);

  const config = join(opts.dir, 'scheduler.json');
  await writeFile(
    config,
    JSON.stringify({
      physicalNetworks: [{ name: 'physnet1', vlanRanges: '100-199' }],
      subnetPools: [{ name: 'demo', cidr: '10.200.0.0/16', prefixLength: 24 }],
      heartbeatIntervalMs: 500,
    }),
  );
  const server = `127.0.0.1:${opts.grpcPort}`;
  let stopped: Promise<void> | undefined;
  const cleanupData = async (): Promise<void> => {
    await deletePrefixStreams(opts.natsUrl, opts.name).catch(() => undefined);
    await recreateDatabase(opts.postgresUrl, database, false);
  };
  let scheduler: ServiceProcess;
  try {
    scheduler = await startService({
      name: 'scheduler',
      entry: 'services/scheduler/src/main.ts',
      args: ['--config', config],
      env: { DATABASE_URL: databaseUrl, NATS_URL: opts.natsUrl, FJORD_GRPC_LISTEN: server, FJORD_SUBJECT_PREFIX: opts.name, FJORD_REPLICA_ID: `${opts.name}-1` },
      logFile: join(opts.dir, 'scheduler.log'),
      readyText: 'scheduler serving gRPC',
    });
  } catch (err) {
    await cleanupData();
    throw err;
  }
  return {
    server,
    databaseUrl,
    natsUrl: opts.natsUrl,
    prefix: opts.name,
    scheduler,
    stop() {
      stopped ??= (async () => {
        await scheduler.stop();
        await cleanupData();
      })();
      return stopped;
    },
  };
}
