/**
 * Allocator benchmark through the library on real Postgres (issue 2). Runs in a fresh database on
 * the server of `url`, bounded to well under a minute, and reports figures keyed as the bench JSON
 * expects.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Kysely, sql } from 'kysely';
import postgres from 'postgres';
import { Allocator, type Database, createDb, migrateToLatest, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';

const PHASE_MS = 2_500;

/** Measures allocations/s, latency percentiles, batch and network-creation throughput; `duplicates` must be 0. */
export async function benchAllocatorLibrary(url: string): Promise<Record<string, number>> {
  const { dbUrl, cleanup } = await freshDatabase(url);
  const { db, close } = createDb(dbUrl, { max: 32, applicationName: 'fjord-bench' });
  const out: Record<string, number> = {};
  try {
    await migrateToLatest(db as Kysely<unknown>);
    await syncPhysicalNetworks(db, [{ name: 'physnet1', vlanRanges: '1-4094' }]);
    await syncSubnetPools(db, [{ name: 'pool1', cidr: '10.0.0.0/12', prefixLength: 24 }]);
    const alloc = new Allocator(db);
    let vlan = 4000;
    const network = async (name: string, second: number): Promise<string> => {
      await alloc.createNetwork({ tenant: 'bench', name, physicalNetwork: 'physnet1', vlan: vlan++, cidr: `172.${16 + second}.0.0/16` });
      return name;
    };

    for (const [c, i] of [[1, 0], [16, 1], [64, 2]] as const) {
      const name = await network(`single-c${c}`, i);
      const r = await runSingle(alloc, name, c);
      out[`single_per_s_c${c}`] = round(r.perSecond);
      if (c > 1) {
        out[`p50_ms_c${c}`] = round(r.p50, 2);
        out[`p99_ms_c${c}`] = round(r.p99, 2);
      }
    }

    // Four batches in flight, each client filling two /16s in turn, so the phase outlasts PHASE_MS.
    const batchNets = await Promise.all([3, 4, 5, 6, 7, 8, 9, 10].map((i) => network(`batch-${i}`, i)));
    out.batch_addresses_per_s = round(await runBatches(alloc, [batchNets.slice(0, 2), batchNets.slice(2, 4), batchNets.slice(4, 6), batchNets.slice(6)], 500));

    out.networks_per_s = round(await runCreates(alloc, 16));
    out.duplicates = await countDuplicates(db);
    return out;
  } finally {
    await close();
    await cleanup();
  }
}

async function runSingle(alloc: Allocator, network: string, concurrency: number): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + PHASE_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await alloc.allocateAddress('bench', network, { owner: 'bench' });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { perSecond: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

async function runBatches(alloc: Allocator, networksPerClient: string[][], size: number): Promise<number> {
  let addresses = 0;
  const start = performance.now();
  const deadline = start + PHASE_MS;
  await Promise.all(
    networksPerClient.map(async (networks) => {
      for (const network of networks) {
        // Stop well before the /16 (65,533 addresses) runs out.
        for (let n = 0; performance.now() < deadline && n + size <= 60_000; n += size) {
          const got = await alloc.allocateAddresses('bench', network, size, { owner: 'bench' });
          addresses += got.length; // after the await: `x += await f()` reads x before it suspends
        }
      }
    }),
  );
  return addresses / ((performance.now() - start) / 1000);
}

async function runCreates(alloc: Allocator, concurrency: number): Promise<number> {
  let created = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + PHASE_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      // 4094 VLANs minus the few used above; stay under it.
      while (performance.now() < deadline && next < 3_900) {
        await alloc.createNetwork({ tenant: 'bench', name: `net-${next++}`, physicalNetwork: 'physnet1', subnetPool: 'pool1' });
        created++;
      }
    }),
  );
  return created / ((performance.now() - start) / 1000);
}

/** Anything held twice, plus any block bitmap that disagrees with the address rows. */
async function countDuplicates(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT
      (SELECT count(*) FROM (SELECT 1 FROM addresses GROUP BY network_id, host HAVING count(*) > 1) d)
      + (SELECT count(*) FROM (SELECT 1 FROM networks GROUP BY physical_network, vlan HAVING count(*) > 1) d)
      + (SELECT count(*) FROM (SELECT 1 FROM networks WHERE subnet_pool IS NOT NULL GROUP BY subnet_pool, cidr HAVING count(*) > 1) d)
      + (SELECT count(*) FROM address_blocks b
           LEFT JOIN (SELECT network_id, block_start, count(*) AS c FROM addresses GROUP BY 1, 2) a USING (network_id, block_start)
           WHERE coalesce(a.c, 0) > bit_count(b.bitmap::bit(32)))
      AS n`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

async function freshDatabase(url: string): Promise<{ dbUrl: string; cleanup: () => Promise<void> }> {
  const name = `fjord_bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    dbUrl: u.toString(),
    cleanup: async () => {
      const a = postgres(url, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
