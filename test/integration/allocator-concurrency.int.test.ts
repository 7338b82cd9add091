import { AlreadyExistsError, ExhaustedError } from '@fjord/core';
import { Allocator, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { type TestDatabase, createTestDatabase, postgresAvailability } from '@fjord/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const pg = await postgresAvailability();

const WORKERS = 64;
const OPS_PER_WORKER = 60;

/** Small deterministic PRNG (mulberry32) so a failing interleaving of choices can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(!pg.ok)(`Allocator under contention${pg.ok ? '' : ` (skipped: ${pg.reason})`}`, () => {
  let env: TestDatabase;
  let alloc: Allocator;

  beforeAll(async () => {
    env = await createTestDatabase({ max: 24 });
    alloc = new Allocator(env.db);
    await syncPhysicalNetworks(env.db, [
      { name: 'physnet1', vlanRanges: '100-199' },
      { name: 'scarce', vlanRanges: '10-41' },
    ]);
    await alloc.createNetwork({ tenant: 'cc', name: 'ips', physicalNetwork: 'physnet1', cidr: '10.0.0.0/23' });
    await alloc.createNetwork({ tenant: 'cc', name: 'vr', physicalNetwork: 'physnet1', cidr: '10.1.0.0/24' });
  });
  afterAll(async () => {
    await env?.drop();
  });

  it('never holds a vlan, address or router id twice, and leaks nothing', async () => {
    const addressHolder = new Map<string, number>();
    const vridHolder = new Map<number, number>();
    const vlanHolder = new Map<number, string>();
    const violations: string[] = [];
    let exhausted = 0;
    let ops = 0;

    const hold = <K>(m: Map<K, unknown>, key: K, who: number | string, what: string): void => {
      if (m.has(key)) violations.push(`${what} ${String(key)} given to ${who} while held by ${String(m.get(key))}`);
      m.set(key, who);
    };

    const settled = await Promise.allSettled(
      Array.from({ length: WORKERS }, async (_, w) => {
        const random = rng(1000 + w);
        const mine: string[] = [];
        const myVrids: number[] = [];
        const myNets: { name: string; vlan: number }[] = [];
        for (let i = 0; i < OPS_PER_WORKER; i++) {
          const r = random();
          ops++;
          try {
            if (r < 0.35) {
              const a = await alloc.allocateAddress('cc', 'ips', { owner: `w${w}` });
              hold(addressHolder, a.address, w, 'address');
              mine.push(a.address);
            } else if (r < 0.45) {
              const got = await alloc.allocateAddresses('cc', 'ips', 1 + Math.floor(random() * 8), { owner: `w${w}` });
              for (const a of got) {
                hold(addressHolder, a.address, w, 'address');
                mine.push(a.address);
              }
            } else if (r < 0.7) {
              const address = mine.splice(Math.floor(random() * mine.length), 1)[0];
              if (address !== undefined) {
                addressHolder.delete(address); // forget before the release commits: a re-grant may race ahead
                await alloc.releaseAddress('cc', 'ips', address);
              }
            } else if (r < 0.8) {
              const { routerId } = await alloc.allocateRouterId('cc', 'vr', `w${w}`);
              hold(vridHolder, routerId, w, 'router id');
              myVrids.push(routerId);
            } else if (r < 0.87) {
              const id = myVrids.pop();
              if (id !== undefined) {
                vridHolder.delete(id);
                await alloc.releaseRouterId('cc', 'vr', id);
              }
            } else if (r < 0.95) {
              const name = `w${w}-${i}`;
              const n = await alloc.createNetwork({ tenant: 'cc', name, physicalNetwork: 'scarce', cidr: '192.168.0.0/30' });
              hold(vlanHolder, n.vlan, name, 'vlan');
              myNets.push({ name, vlan: n.vlan });
            } else {
              const net = myNets.pop();
              if (net) {
                vlanHolder.delete(net.vlan);
                await alloc.deleteNetwork('cc', net.name);
              }
            }
          } catch (err) {
            if (err instanceof ExhaustedError) exhausted++;
            else throw err;
          }
        }
      }),
    );
    for (const s of settled) if (s.status === 'rejected') throw s.reason;

    expect(violations).toEqual([]);
    expect(ops).toBe(WORKERS * OPS_PER_WORKER);

    // The database agrees with what the workers believe they hold.
    const db = (await alloc.listAllocations('cc', 'ips')).map((a) => a.address).sort();
    expect(db).toEqual([...addressHolder.keys()].sort());
    const { rows: vrids } = await sql<{ router_id: number }>`
      SELECT router_id FROM router_ids r JOIN networks n ON n.id = r.network_id WHERE n.name = 'vr' ORDER BY router_id`.execute(env.db);
    expect(vrids.map((r) => r.router_id)).toEqual([...vridHolder.keys()].sort((a, b) => a - b));
    const scarce = (await alloc.listNetworks('cc')).filter((n) => n.physicalNetwork === 'scarce');
    expect(scarce.map((n) => n.vlan).sort()).toEqual([...vlanHolder.keys()].sort());
    // Bitmaps agree with address rows.
    const { rows: drift } = await sql<{ n: number }>`
      WITH blocks AS (
        SELECT b.network_id, b.block_start, b.bitmap, (1 << (32 - masklen(n.cidr))) AS size
        FROM address_blocks b JOIN networks n ON n.id = b.network_id
      )
      SELECT count(*)::int AS n FROM blocks b
      WHERE (SELECT count(*) FROM addresses a WHERE a.network_id = b.network_id AND a.block_start = b.block_start)
        <> length(replace((b.bitmap::bit(32))::text, '0', ''))
           - CASE WHEN b.block_start = 0 THEN 2 ELSE 0 END
           - CASE WHEN b.block_start = (b.size - 1) / 32 * 32 THEN 1 ELSE 0 END
           - CASE WHEN b.size < 32 THEN 32 - b.size ELSE 0 END`.execute(env.db);
    expect(drift[0]!.n).toBe(0);

    // Release everything: nothing leaks, and every address, id and vlan can be taken again.
    for (const address of addressHolder.keys()) await alloc.releaseAddress('cc', 'ips', address);
    for (const id of vridHolder.keys()) await alloc.releaseRouterId('cc', 'vr', id);
    for (const n of scarce) await alloc.deleteNetwork('cc', n.name);
    expect((await alloc.getNetwork('cc', 'ips')).allocated).toBe(0);
    expect((await alloc.listPhysicalNetworks()).find((p) => p.name === 'scarce')!.vlansInUse).toBe(0);
    const all = await alloc.allocateAddresses('cc', 'ips', 509);
    expect(new Set(all.map((a) => a.address)).size).toBe(509);
    for (let i = 0; i < 255; i++) await alloc.allocateRouterId('cc', 'vr');
    await expect(alloc.allocateRouterId('cc', 'vr')).rejects.toBeInstanceOf(ExhaustedError);
    const vlans = await Promise.all(
      Array.from({ length: 32 }, (_, i) => alloc.createNetwork({ tenant: 'cc', name: `again-${i}`, physicalNetwork: 'scarce', cidr: '192.168.0.0/30' })),
    );
    expect(new Set(vlans.map((n) => n.vlan)).size).toBe(32);
    console.log(`contention: ${ops} operations by ${WORKERS} workers, ${exhausted} exhausted`);
  });
  it('gives concurrent pool-carved creates distinct vlans and subnets, one per name', async () => {
    await syncPhysicalNetworks(env.db, [{ name: 'carve', vlanRanges: '1000-1039' }]);
    await syncSubnetPools(env.db, [{ name: 'carve', cidr: '10.64.0.0/24', prefixLength: 28 }]); // 16 subnets
    // 24 creates for 20 names (4 twice) on 40 vlans and 16 subnets: exactly 16 succeed.
    const names = Array.from({ length: 24 }, (_, i) => `carve-${i % 20}`);
    const settled = await Promise.allSettled(
      names.map((name) => alloc.createNetwork({ tenant: 'cc', name, physicalNetwork: 'carve', subnetPool: 'carve' })),
    );
    const made = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(made).toHaveLength(16);
    expect(new Set(made.map((n) => n.vlan)).size).toBe(16);
    expect(new Set(made.map((n) => n.cidr)).size).toBe(16);
    expect(new Set(made.map((n) => n.name)).size).toBe(16);
    expect(failed.every((e) => e instanceof AlreadyExistsError || e instanceof ExhaustedError)).toBe(true);
    const { rows } = await sql<{ vlans: number; subnets: number; blocks: number }>`
      SELECT (SELECT count(*)::int FROM vlans WHERE physical_network = 'carve' AND network_id IS NOT NULL) AS vlans,
             (SELECT count(*)::int FROM pool_subnets WHERE subnet_pool = 'carve' AND network_id IS NOT NULL) AS subnets,
             (SELECT count(*)::int FROM address_blocks b JOIN networks n ON n.id = b.network_id WHERE n.physical_network = 'carve') AS blocks`.execute(env.db);
    expect(rows[0]).toEqual({ vlans: 16, subnets: 16, blocks: 16 });
    const one = await alloc.allocateAddresses('cc', made[0]!.name, 13);
    expect(one).toHaveLength(13);
    await expect(alloc.allocateAddress('cc', made[0]!.name)).rejects.toBeInstanceOf(ExhaustedError);
  });
});
