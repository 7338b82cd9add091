import { z } from 'zod';

/** How much of the leader lease a write needs left to commit (the store's fence uses the same). */
export const LEASE_WRITE_MARGIN_MS = 1000;

/** A physical network the scheduler hands VLANs out of. */
export const PhysicalNetworkConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).describe('name hosts and networks refer to, e.g. physnet1'),
  vlanRanges: z.string().describe('VLAN ids to hand out, e.g. "100-3999" or "100-199,300"'),
  reservedVlans: z.array(z.number().int()).default([]).describe('VLAN ids inside the ranges never handed out'),
});

/** A pool that tenant subnets are carved from when a network is created without a CIDR. */
export const SubnetPoolConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).describe('name a network creation request refers to'),
  cidr: z.string().describe('the pool, e.g. 10.96.0.0/12'),
  prefixLength: z.number().int().min(8).max(30).describe('prefix length of each carved subnet, e.g. 24'),
});

/** Everything the scheduler service reads at start (file first, then environment overrides). */
export const SchedulerConfig = z.strictObject({
  grpcListen: z.string().default('127.0.0.1:50051').describe('host:port the gRPC API listens on (env FJORD_GRPC_LISTEN)'),
  databaseUrl: z.string().url().default('postgres://postgres@127.0.0.1:5432/fjord').describe('Postgres URL (env DATABASE_URL)'),
  natsUrl: z.string().default('nats://127.0.0.1:4222').describe('NATS server URL (env NATS_URL)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('log level (env FJORD_LOG_LEVEL)'),
  subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('fjord').describe('first token of every NATS subject (env FJORD_SUBJECT_PREFIX)'),
  replicaId: z.string().min(1).optional().describe('this replica\'s name in the leader lease (default: hostname-pid)'),
  leaseTtlMs: z.coerce.number().int().min(500).default(5000).describe('how long the leader lease lasts without renewal'),
  leaseRenewMs: z.coerce.number().int().min(100).default(1000).describe('how often the leader renews (and others try for) the lease'),
  heartbeatIntervalMs: z.coerce.number().int().min(100).default(1000).describe('heartbeat interval told to workers at registration'),
  hostStaleAfterMs: z.coerce.number().int().default(5000).describe('placement skips a host not heard from for this long (env FJORD_HOST_STALE_AFTER_MS)'),
  databasePoolSize: z.number().int().min(1).max(200).default(20).describe('Postgres connections the scheduler keeps open'),
  physicalNetworks: z
    .array(PhysicalNetworkConfig)
    .default([{ name: 'physnet1', vlanRanges: '100-3999', reservedVlans: [] }])
    .describe('physical networks and their VLAN ranges'),
  subnetPools: z
    .array(SubnetPoolConfig)
    .default([{ name: 'default', cidr: '10.96.0.0/12', prefixLength: 24 }])
    .describe('pools tenant subnets are carved from'),
}).superRefine((config, ctx) => {
  // Every write is fenced on the lease having LEASE_WRITE_MARGIN_MS left; just before a renewal it has
  // leaseTtlMs - leaseRenewMs. Less than the margin, and the leader fences its own writes and steps down.
  if (config.leaseTtlMs - config.leaseRenewMs <= LEASE_WRITE_MARGIN_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['leaseTtlMs'],
      message: `must exceed leaseRenewMs (${config.leaseRenewMs}) by more than ${LEASE_WRITE_MARGIN_MS} ms, the lease each write needs left`,
    });
  }
  // One late heartbeat must not make a live host look dead.
  if (config.hostStaleAfterMs < 2 * config.heartbeatIntervalMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['hostStaleAfterMs'],
      message: `must be at least twice heartbeatIntervalMs (${config.heartbeatIntervalMs})`,
    });
  }
});

/** The validated scheduler configuration. */
export type SchedulerConfig = z.infer<typeof SchedulerConfig>;

/** Environment variables and the config keys they set. */
export const schedulerEnv = {
  FJORD_GRPC_LISTEN: 'grpcListen',
  DATABASE_URL: 'databaseUrl',
  NATS_URL: 'natsUrl',
  FJORD_LOG_LEVEL: 'logLevel',
  FJORD_SUBJECT_PREFIX: 'subjectPrefix',
  FJORD_REPLICA_ID: 'replicaId',
  FJORD_LEASE_TTL_MS: 'leaseTtlMs',
  FJORD_LEASE_RENEW_MS: 'leaseRenewMs',
  FJORD_HEARTBEAT_INTERVAL_MS: 'heartbeatIntervalMs',
  FJORD_HOST_STALE_AFTER_MS: 'hostStaleAfterMs',
} as const;
