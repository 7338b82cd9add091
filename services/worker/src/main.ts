import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { subjects } from '@fjord/bus';
import { ConfigError } from '@fjord/config';
import { Agent } from './agent.js';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { FakeRuntime, FakeSwitch } from './drivers/fake.js';
import { LxcRuntime } from './drivers/lxc.js';
import { OvsSwitch } from './drivers/ovs.js';
import type { ContainerRuntime, SwitchDriver } from './drivers/types.js';

const usage = `usage: fjord-worker [--config FILE]

Runs the Fjord worker of one host: registers it, heartbeats, and reconciles the host's containers
and switch ports to the desired state the scheduler publishes over NATS.
Configuration is a JSON file (--config or FJORD_CONFIG) with environment overrides:
  FJORD_HOST            this host's id (required unless in the file)
  NATS_URL              NATS URL (default nats://127.0.0.1:4222)
  FJORD_SUBJECT_PREFIX  NATS subject prefix (default fjord)
  FJORD_HEARTBEAT_MS    heartbeat interval (default: the scheduler's)
  FJORD_LOG_LEVEL       fatal|error|warn|info|debug|trace (default info)
Drivers are chosen in the file: "driver": {"kind": "fake"} (default) or
  {"kind": "lxc-ovs", "bridge": "br-hv1", "ovsRundir": "...", "lxcPath": "...", "netns": "fj-hv1"}.`;

function drivers(config: WorkerConfig): { switch: SwitchDriver; runtime: ContainerRuntime } {
  const d = config.driver;
  if (d.kind === 'fake') return { switch: new FakeSwitch(d.bridge, config.host), runtime: new FakeRuntime() };
  return {
    switch: new OvsSwitch({ bridge: d.bridge, owner: config.host, ovsRundir: d.ovsRundir, datapathType: d.datapathType, timeoutS: d.ovsTimeoutS }),
    runtime: new LxcRuntime({
      lxcPath: d.lxcPath,
      netns: d.netns,
      ovsRundir: d.ovsRundir,
      attach: d.portAttach,
      templateCache: d.templateCache,
      stopTimeoutS: d.stopTimeoutS,
    }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(usage);
    return;
  }
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig({ file: values.config ?? process.env.FJORD_CONFIG, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel, base: { service: 'worker', host: config.host } });
  const nc = await connect({
    servers: config.natsUrl.split(',').map((s) => s.trim()),
    name: `fjord-worker-${config.host}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  }).catch((err: unknown) => {
    throw new Error(`connect to nats at ${config.natsUrl}: ${err instanceof Error ? err.message : String(err)}`);
  });
  log.info({ nats: config.natsUrl, driver: config.driver.kind }, 'worker connected to nats');

  const agent = new Agent({
    nc,
    subjects: subjects(config.subjectPrefix),
    host: {
      name: config.host,
      labels: config.labels,
      cpuMillis: config.cpuMillis,
      memoryBytes: config.memoryBytes,
      slots: config.slots,
      physicalNetworks: config.physicalNetworks,
    },
    drivers: drivers(config),
    log,
    timing: {
      heartbeatMs: config.heartbeatMs,
      syncIntervalMs: config.syncIntervalMs,
      reconcileIntervalMs: config.reconcileIntervalMs,
      wholeStatusMs: config.wholeStatusMs,
      requestTimeoutMs: config.requestTimeoutMs,
    },
  });
  agent.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker stopping; containers keep running');
    await agent.stop();
    await nc.drain().catch(() => undefined);
    log.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`fjord-worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
