import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig, SchedulerConfig, schedulerEnv } from '@fjord/config';
import { Allocator, createDb, migrateToLatest, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { startGrpcServer } from './server.js';

const usage = `usage: fjord-scheduler [--config FILE]

Runs the Fjord scheduler: the gRPC API, placement and the network allocator.
Configuration is a JSON file (--config or FJORD_CONFIG) with environment overrides:
  FJORD_GRPC_LISTEN  host:port to serve gRPC on (default 127.0.0.1:50051)
  DATABASE_URL       Postgres URL (default postgres://postgres@127.0.0.1:5432/fjord)
  NATS_URL           NATS URL (default nats://127.0.0.1:4222)
  FJORD_LOG_LEVEL    fatal|error|warn|info|debug|trace (default info)`;

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
  const log = pino({ level: config.logLevel, base: { service: 'scheduler' } });

  const db = createDb(config.databaseUrl, { max: config.databasePoolSize });
  await migrateToLatest(db);
  await syncPhysicalNetworks(db, config.physicalNetworks);
  await syncSubnetPools(db, config.subnetPools);
  log.info({ physicalNetworks: config.physicalNetworks.map((p) => p.name) }, 'database migrated and configured');

  const grpc = await startGrpcServer(config.grpcListen, { allocator: new Allocator(db), log });
  log.info({ listen: config.grpcListen, port: grpc.port }, 'scheduler serving gRPC');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'scheduler stopping');
    await grpc.close();
    await db.destroy();
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
