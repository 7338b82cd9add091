/**
 * Set-up shared by the tests of placement: the physical network and subnet pool they place on,
 * and a scheduler replica in the test's own process.
 */
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { Scheduler, type SchedulerOptions } from '@fjord/scheduler';
import { syncPhysicalNetworks, syncSubnetPools, type Database } from '@fjord/store';

/** `physnet1` (VLANs 100-199) and the subnet pool `default` (10.96.0.0/16 in /24s). */
export async function seedPhysicalNetwork(db: Kysely<Database>): Promise<void> {
  await syncPhysicalNetworks(db, [{ name: 'physnet1', vlanRanges: '100-199', reservedVlans: [] }]);
  await syncSubnetPools(db, [{ name: 'default', cidr: '10.96.0.0/16', prefixLength: 24 }]);
}

/** A scheduler replica on a free port, logging nothing; `timing` overrides its lease and heartbeat timings. */
export function startScheduler(
  db: Kysely<Database>,
  nats: { url: string; prefix: string },
  timing: Partial<Pick<SchedulerOptions, 'leaseTtlMs' | 'leaseRenewMs' | 'heartbeatIntervalMs'>> = {},
): Promise<Scheduler> {
  return Scheduler.start({
    db,
    log: pino({ level: 'silent' }),
    grpcListen: '127.0.0.1:0',
    natsUrl: nats.url,
    subjectPrefix: nats.prefix,
    leaseTtlMs: 3000,
    leaseRenewMs: 500,
    heartbeatIntervalMs: 200,
    ...timing,
  });
}
