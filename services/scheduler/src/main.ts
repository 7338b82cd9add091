import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig, SchedulerConfig, schedulerEnv } from '@fjord/config';
import { createDb, migrateToLatest, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { Scheduler } from './scheduler.js';

const usage = `usage: fjord-scheduler [--config FILE]

Runs one Fjord scheduler replica: the gRPC API (placement, fleet, networks) and, while it holds
the leader lease, the applier, the outbox relay and the host protocol. Run several for HA.
Configuration is a JSON file (--config or FJORD_CONFIG; see deploy/config/scheduler.json) with
environment overrides:
  FJORD_GRPC_LISTEN            host:port to serve gRPC on (default 127.0.0.1:50051)
  DATABASE_URL                 Postgres URL (default postgres://postgres@127.0.0.1:5432/fjord)
  NATS_URL                     NATS URL (default nats://127.0.0.1:4222)
  FJORD_SUBJECT_PREFIX         first token of every NATS subject (default fjord)
  FJORD_REPLICA_ID             this replica's name in the leader lease (default hostname-pid)
  FJORD_LOG_LEVEL              fatal|error|warn|info|debug|trace (default info)
  FJORD_HEARTBEAT_INTERVAL_MS  heartbeat interval told to workers (default 1000)
  FJORD_HOST_STALE_AFTER_MS    placement skips a host not heard from for this long (default 5000)`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(usage);
    return;
  }
  let config: SchedulerConfig;
  try {
    config = loadConfig(SchedulerConfig, schedulerEnv, { file: values.config ?? process.env.FJORD_CONFIG, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel, base: { service: 'scheduler', replica: config.replicaId } });

  const { db, close } = createDb(config.databaseUrl, { max: config.databasePoolSize, applicationName: 'fjord-scheduler' });
  const lease = createDb(config.databaseUrl, { max: 2, applicationName: 'fjord-scheduler-lease' });
  await migrateToLatest(db);
  await syncPhysicalNetworks(db, config.physicalNetworks);
  await syncSubnetPools(db, config.subnetPools);
  log.info({ physicalNetworks: config.physicalNetworks.map((p) => p.name) }, 'database migrated and configured');

  const scheduler = await Scheduler.start({
    db,
    leaseDb: lease.db,
    log,
    grpcListen: config.grpcListen,
    natsUrl: config.natsUrl,
    subjectPrefix: config.subjectPrefix,
    ...(config.replicaId ? { replicaId: config.replicaId } : {}),
    leaseTtlMs: config.leaseTtlMs,
    leaseRenewMs: config.leaseRenewMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    hostStaleAfterMs: config.hostStaleAfterMs,
  });
  log.info({ listen: config.grpcListen, port: scheduler.port }, 'scheduler serving gRPC');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'scheduler stopping');
    await scheduler.stop();
    await close();
    await lease.close();
    log.info('scheduler stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`fjord-scheduler: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
