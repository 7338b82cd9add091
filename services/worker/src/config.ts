/**
 * The worker process's configuration: a JSON file (`--config` or FJORD_CONFIG) with environment
 * overrides, validated with zod; `loadWorkerConfig` lists every invalid key at once.
 */
import { z } from 'zod';
import { loadConfig, type ConfigSources } from '@fjord/config';

const token = /^[A-Za-z0-9_-]{1,128}$/;
const ifName = /^[A-Za-z0-9_.-]{1,15}$/;
/** Text the scheduler can store (Postgres text holds no NUL). */
const noNul = z.string().refine((text) => !text.includes('\0'), 'no NUL');

/** Drivers that keep everything in memory (development, tests, simulation). */
export const FakeDriverConfig = z.strictObject({
  kind: z.literal('fake').describe('in-memory drivers: nothing on the machine changes'),
  bridge: z.string().regex(ifName).default('br-fjord').describe('bridge name the fake switch pretends to manage'),
});

/** Real drivers: LXC containers plugged into an Open vSwitch bridge. */
export const LxcOvsDriverConfig = z.strictObject({
  kind: z.literal('lxc-ovs').describe('real drivers: lxc-* and ovs-vsctl'),
  bridge: z.string().regex(ifName).default('br-fjord').describe('the host\'s OVS bridge, created if missing'),
  ovsRundir: z.string().optional().describe('OVS run directory (its db.sock), passed as OVS_RUNDIR; default the system\'s'),
  datapathType: z.enum(['netdev', 'system']).optional().describe('bridge datapath: netdev (userspace, the lab) or system (kernel)'),
  ovsTimeoutS: z.number().int().min(1).max(300).default(10).describe('seconds ovs-vsctl may wait for the database and vswitchd'),
  lxcPath: z.string().default('/var/lib/fjord/lxc').describe('LXC path holding only Fjord\'s containers'),
  netns: z.string().optional().describe('network namespace every lxc-* command runs in (the lab\'s fj-<host>)'),
  portAttach: z.enum(['switch-driver', 'lxc']).default('switch-driver').describe('who plugs container veths into the bridge'),
  templateCache: z.string().optional().describe('where prepared template root filesystems are kept (default <lxcPath>/.fjord-templates)'),
  stopTimeoutS: z.number().int().min(0).max(600).default(5).describe('seconds a graceful container stop may take'),
});

/** Everything the worker process reads at start. */
export const WorkerConfig = z.strictObject({
  host: z.string().regex(token, 'letters, digits, - and _ only').describe('this host\'s id, used in NATS subjects (env FJORD_HOST)'),
  labels: z.record(noNul, noNul).default({}).describe('host labels such as zone and rack'),
  cpuMillis: z.number().int().positive().default(2000).describe('cpu the host offers, in millicores'),
  memoryBytes: z.number().int().positive().default(4 * 1024 ** 3).describe('memory the host offers, in bytes'),
  slots: z.number().int().positive().default(100).describe('containers the host may run'),
  physicalNetworks: z.array(z.string().min(1)).default(['physnet1']).describe('physical networks the host is attached to'),
  natsUrl: z.string().default('nats://127.0.0.1:4222').describe('NATS server URL(s), comma-separated (env NATS_URL)'),
  subjectPrefix: z.string().regex(token).default('fjord').describe('NATS subject prefix (env FJORD_SUBJECT_PREFIX)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('log level (env FJORD_LOG_LEVEL)'),
  heartbeatMs: z.coerce.number().int().min(50).max(60_000).optional().describe('heartbeat interval; default the scheduler\'s (env FJORD_HEARTBEAT_MS)'),
  syncIntervalMs: z.coerce.number().int().min(0).default(30_000).describe('safety-net full sync interval, 0 for none'),
  reconcileIntervalMs: z.coerce.number().int().min(0).default(30_000).describe('re-reconcile the applied state this often, 0 for none'),
  wholeStatusMs: z.coerce.number().int().min(0).default(30_000).describe('report every container, not only changes, this often; 0 for never'),
  requestTimeoutMs: z.coerce.number().int().min(100).default(2000).describe('timeout of register and sync requests'),
  driver: z
    .discriminatedUnion('kind', [FakeDriverConfig, LxcOvsDriverConfig])
    .default({ kind: 'fake', bridge: 'br-fjord' })
    .describe('host drivers: {"kind":"fake"} or {"kind":"lxc-ovs", ...}'),
});

/** The validated worker configuration. */
export type WorkerConfig = z.infer<typeof WorkerConfig>;

/** Environment variables and the config keys they set (nested driver keys are file-only). */
export const workerEnv = {
  FJORD_HOST: 'host',
  NATS_URL: 'natsUrl',
  FJORD_SUBJECT_PREFIX: 'subjectPrefix',
  FJORD_LOG_LEVEL: 'logLevel',
  FJORD_HEARTBEAT_MS: 'heartbeatMs',
} as const;

/** Loads and validates the worker configuration; throws one ConfigError listing every bad key. */
export function loadWorkerConfig(sources: ConfigSources): WorkerConfig {
  return loadConfig(WorkerConfig, workerEnv, sources);
}
