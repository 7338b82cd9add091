import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, subjects as buildSubjects } from '@fjord/bus';
import { placementV1 } from '@fjord/proto';
import { Allocator, currentLease } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { heartbeatFakeHosts, registerFakeHost } from '../support/fake-hosts.js';
import { seedPhysicalNetwork } from '../support/placement-setup.js';
import { startSchedulerProcess, type SchedulerProcess } from '../support/scheduler-process.js';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
const config = { leaseTtlMs: 2000, leaseRenewMs: 500, physicalNetworks: [{ name: 'physnet1', vlanRanges: '100-199' }] };
let env: TestDatabase;
let nc: NatsConnection;
const replicas: SchedulerProcess[] = [];
let stopHeartbeats: (() => void) | undefined;

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  await new Allocator(env.db).createNetwork({ tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', cidr: '10.0.0.0/16' });
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  stopHeartbeats?.();
  for (const r of replicas) await r.stop();
  if (nc) {
    await deleteStreams(nc, subjects);
    await nc.close();
  }
  await env?.drop();
});

function placeOn(address: string, name: string): Promise<void> {
  const client = new placementV1.PlacementServiceClient(address, credentials.createInsecure());
  const spec: placementV1.ContainerSpec = {
    tenant: 'acme',
    name,
    network: 'web',
    template: '',
    cpuMillis: 10,
    memoryBytes: 1024n * 1024n,
    constraints: [],
    antiAffinityGroup: '',
    spreadLabel: '',
    command: '',
  };
  return new Promise<void>((resolve, reject) =>
    client.place({ container: spec, policy: 'spread' }, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null) => {
      client.close();
      if (err) reject(err);
      else resolve();
    }),
  );
}

async function waitForLeader(holder: string | undefined, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lease = await currentLease(env.db, 'scheduler');
    if (lease && (holder === undefined || lease.holder === holder)) return lease.holder;
    if (Date.now() > deadline) throw new Error(`no leader${holder ? ` ${holder}` : ''} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('leader failover between two scheduler processes', () => {
  it('keeps every acknowledged placement, applies none twice, and elects a new leader within seconds of a kill -9', async () => {
    replicas.push(await startSchedulerProcess({ replicaId: 'replica-a', databaseUrl: env.url, subjectPrefix: nats.prefix, config }));
    await waitForLeader('replica-a', 10_000);
    replicas.push(await startSchedulerProcess({ replicaId: 'replica-b', databaseUrl: env.url, subjectPrefix: nats.prefix, config }));
    const fleet: { host: string; epoch: number }[] = [];
    for (const host of ['hv1', 'hv2', 'hv3']) fleet.push({ host, epoch: await registerFakeHost(nc, subjects, host) });
    stopHeartbeats = heartbeatFakeHosts(nc, subjects, fleet);
    const [a, b] = replicas as [SchedulerProcess, SchedulerProcess];

    const acknowledged = new Set<string>();
    let killedAt = 0;
    let next = 0;
    const stopAt = Date.now() + 7000;
    // Eight clients place containers through both replicas; each retries a name until it is acknowledged.
    const client = async (worker: number) => {
      while (Date.now() < stopAt) {
        const name = `c-${worker}-${next++}`;
        for (let attempt = 0; ; attempt++) {
          const target = killedAt || attempt % 2 === 1 ? b : worker % 2 === 0 ? a : b;
          try {
            await placeOn(target.address, name);
            acknowledged.add(name);
            break;
          } catch (err) {
            const code = (err as ServiceError).code;
            if (![status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED].includes(code)) throw err;
            if (Date.now() > stopAt + 15_000) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    };
    let takeoverMs = Infinity;
    const killer = (async () => {
      await new Promise((r) => setTimeout(r, 2000));
      killedAt = Date.now();
      a.kill9();
      await waitForLeader('replica-b', 10_000);
      takeoverMs = Date.now() - killedAt;
    })();
    await Promise.all([...Array.from({ length: 8 }, (_, w) => client(w)), killer]);
    // The lease lasts 1.5 s; the survivor renews every 0.5 s.
    expect(takeoverMs).toBeLessThan(4000);
    const lease = await currentLease(env.db, 'scheduler');
    expect(lease?.epoch).toBeGreaterThanOrEqual(2);

    const rows = await env.db.selectFrom('containers').select(['name', 'address']).execute();
    const stored = new Set(rows.map((r) => r.name));
    const lost = [...acknowledged].filter((name) => !stored.has(name));
    expect(lost).toEqual([]);
    expect(new Set(rows.map((r) => r.address)).size).toBe(rows.length);
    const { rows: dupes } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (SELECT network_id, host FROM addresses GROUP BY 1, 2 HAVING count(*) > 1) d`.execute(env.db);
    expect(dupes[0]?.n).toBe(0);
    // Every address the allocator holds belongs to a container: nothing leaked by the crash.
    const { rows: orphans } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM addresses a
      WHERE NOT EXISTS (SELECT 1 FROM containers c WHERE c.network_id = a.network_id AND c.address_host = a.host)`.execute(env.db);
    expect(orphans[0]?.n).toBe(0);
    expect(acknowledged.size).toBeGreaterThan(50);
  }, 90_000);
});
