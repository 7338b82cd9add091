import { AlreadyExistsError, ExhaustedError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@fjord/core';
import { Allocator, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { type TestDatabase, createTestDatabase, postgresAvailability } from '@fjord/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const pg = await postgresAvailability();

/** Runs `fn` and returns the error it throws, failing the test if it does not throw. */
async function failure(fn: () => Promise<unknown>): Promise<Error & { field?: string; pool?: string }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { field?: string; pool?: string };
  }
  throw new Error('expected a failure');
}

describe.skipIf(!pg.ok)(`Allocator${pg.ok ? '' : ` (skipped: ${pg.reason})`}`, () => {
  let env: TestDatabase;
  let alloc: Allocator;

  beforeAll(async () => {
    env = await createTestDatabase();
    alloc = new Allocator(env.db);
    await syncPhysicalNetworks(env.db, [
      { name: 'physnet1', vlanRanges: '100-3999,4000', reservedVlans: [101] },
      { name: 'tiny', vlanRanges: '10-11' },
    ]);
    await syncSubnetPools(env.db, [
      { name: 'pool1', cidr: '10.0.0.0/16', prefixLength: 24 },
      { name: 'small', cidr: '10.9.0.0/23', prefixLength: 24 },
    ]);
  });
  afterAll(async () => {
    await env?.drop();
  });

  describe('createNetwork()', () => {
    it('takes the lowest free vlan and carves the first subnet of a pool', async () => {
      const n = await alloc.createNetwork({ tenant: 't1', name: 'web', physicalNetwork: 'physnet1', subnetPool: 'pool1' });
      expect(n).toMatchObject({
        tenant: 't1',
        name: 'web',
        physicalNetwork: 'physnet1',
        vlan: 100,
        cidr: '10.0.0.0/24',
        gateway: '10.0.0.1',
        subnetPool: 'pool1',
        allocated: 0,
        capacity: 253,
      });
      expect(n.id).toMatch(/^[0-9a-f-]{36}$/);
      const next = await alloc.createNetwork({ tenant: 't1', name: 'app', physicalNetwork: 'physnet1', subnetPool: 'pool1', prefixLength: 24 });
      expect(next.vlan).toBe(102); // 101 is reserved
      expect(next.cidr).toBe('10.0.1.0/24');
    });

    it('lets two tenants use the same cidr on different vlans', async () => {
      const a = await alloc.createNetwork({ tenant: 'ta', name: 'lan', physicalNetwork: 'physnet1', cidr: '192.168.0.0/24' });
      const b = await alloc.createNetwork({ tenant: 'tb', name: 'lan', physicalNetwork: 'physnet1', cidr: '192.168.0.0/24' });
      expect(a.cidr).toBe(b.cidr);
      expect(a.vlan).not.toBe(b.vlan);
      expect((await alloc.allocateAddress('ta', 'lan')).address).toBe('192.168.0.2');
      expect((await alloc.allocateAddress('tb', 'lan')).address).toBe('192.168.0.2');
    });

    it('gives a requested vlan when free and refuses it when taken, reserved or out of range', async () => {
      const n = await alloc.createNetwork({ tenant: 't2', name: 'v', physicalNetwork: 'physnet1', vlan: 3000, cidr: '10.50.0.0/24' });
      expect(n.vlan).toBe(3000);
      const taken = await failure(() => alloc.createNetwork({ tenant: 't2', name: 'w', physicalNetwork: 'physnet1', vlan: 3000, cidr: '10.50.0.0/24' }));
      expect(taken).toBeInstanceOf(AlreadyExistsError);
      expect(taken.field).toBe('vlan');
      for (const vlan of [101, 50, 4094]) {
        const bad = await failure(() => alloc.createNetwork({ tenant: 't2', name: 'w', physicalNetwork: 'physnet1', vlan, cidr: '10.50.0.0/24' }));
        expect(bad).toBeInstanceOf(InvalidArgumentError);
        expect(bad.field).toBe('vlan');
      }
      const invalid = await failure(() => alloc.createNetwork({ tenant: 't2', name: 'w', physicalNetwork: 'physnet1', vlan: 4095, cidr: '10.50.0.0/24' }));
      expect(invalid).toBeInstanceOf(InvalidArgumentError);
      expect(invalid.field).toBe('vlan');
    });

    it('refuses a duplicate (tenant, name) without consuming a vlan', async () => {
      const before = (await alloc.listPhysicalNetworks()).find((p) => p.name === 'physnet1')!.vlansInUse;
      const dup = await failure(() => alloc.createNetwork({ tenant: 't1', name: 'web', physicalNetwork: 'physnet1', cidr: '10.60.0.0/24' }));
      expect(dup).toBeInstanceOf(AlreadyExistsError);
      expect(dup.field).toBe('name');
      expect((await alloc.listPhysicalNetworks()).find((p) => p.name === 'physnet1')!.vlansInUse).toBe(before);
    });

    it('names the bad field for malformed input', async () => {
      const cases: [Partial<Parameters<Allocator['createNetwork']>[0]>, string][] = [
        [{ tenant: 'T1' }, 'tenant'],
        [{ tenant: '-x' }, 'tenant'],
        [{ name: 'a'.repeat(64) }, 'name'],
        [{ name: 'has space' }, 'name'],
        [{ physicalNetwork: 'Phys!' }, 'physical_network'],
        [{ cidr: '10.0.0.0/33' }, 'cidr'],
        [{ cidr: '10.0.0.1/24' }, 'cidr'],
        [{ cidr: 'nope' }, 'cidr'],
        [{ cidr: '10.0.0.0/8' }, 'cidr'],
        [{ cidr: '10.0.0.0/31' }, 'cidr'],
        [{ cidr: undefined, subnetPool: 'Bad_Pool' }, 'subnet_pool'],
        [{ cidr: undefined, subnetPool: 'pool1', prefixLength: 25 }, 'prefix_length'],
        [{ cidr: undefined, subnetPool: 'pool1', prefixLength: 40 }, 'prefix_length'],
        [{ cidr: undefined }, 'cidr'],
      ];
      for (const [patch, field] of cases) {
        const err = await failure(() =>
          alloc.createNetwork({ tenant: 't3', name: 'n', physicalNetwork: 'physnet1', cidr: '10.70.0.0/24', ...patch }),
        );
        expect(err, JSON.stringify(patch)).toBeInstanceOf(InvalidArgumentError);
        expect(err.field, JSON.stringify(patch)).toBe(field);
      }
    });

    it('reports unknown physical networks and pools as not found', async () => {
      const p = await failure(() => alloc.createNetwork({ tenant: 't3', name: 'n', physicalNetwork: 'physnet9', cidr: '10.70.0.0/24' }));
      expect(p).toBeInstanceOf(NotFoundError);
      expect(p.field).toBe('physical_network');
      const s = await failure(() => alloc.createNetwork({ tenant: 't3', name: 'n', physicalNetwork: 'physnet1', subnetPool: 'nopool' }));
      expect(s).toBeInstanceOf(NotFoundError);
      expect(s.field).toBe('subnet_pool');
    });

    it('exhausts a vlan range and a subnet pool, naming the pool', async () => {
      await alloc.createNetwork({ tenant: 't4', name: 'a', physicalNetwork: 'tiny', subnetPool: 'small' });
      await alloc.createNetwork({ tenant: 't4', name: 'b', physicalNetwork: 'tiny', subnetPool: 'small' });
      const vlans = await failure(() => alloc.createNetwork({ tenant: 't4', name: 'c', physicalNetwork: 'tiny', cidr: '10.80.0.0/24' }));
      expect(vlans).toBeInstanceOf(ExhaustedError);
      expect(vlans.pool).toBe('vlan range of tiny');
      const subnets = await failure(() => alloc.createNetwork({ tenant: 't4', name: 'c', physicalNetwork: 'physnet1', subnetPool: 'small' }));
      expect(subnets).toBeInstanceOf(ExhaustedError);
      expect(subnets.pool).toBe('subnet pool small');
      // Deleting returns both vlan and subnet; they can be taken again.
      await alloc.deleteNetwork('t4', 'a');
      const again = await alloc.createNetwork({ tenant: 't4', name: 'c', physicalNetwork: 'tiny', subnetPool: 'small' });
      expect(again.vlan).toBe(10);
      expect(again.cidr).toBe('10.9.0.0/24');
    });
  });

  describe('networks', () => {
    it('gets, lists and reports unknown networks', async () => {
      await alloc.createNetwork({ tenant: 't5', name: 'b', physicalNetwork: 'physnet1', cidr: '10.90.0.0/24' });
      await alloc.createNetwork({ tenant: 't5', name: 'a', physicalNetwork: 'physnet1', cidr: '10.90.0.0/24' });
      expect((await alloc.listNetworks('t5')).map((n) => n.name)).toEqual(['a', 'b']);
      expect((await alloc.listNetworks()).length).toBeGreaterThan(2);
      expect((await alloc.getNetwork('t5', 'a')).cidr).toBe('10.90.0.0/24');
      const missing = await failure(() => alloc.getNetwork('t5', 'zzz'));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.field).toBe('network');
      for (const fn of [
        () => alloc.allocateAddress('t5', 'zzz'),
        () => alloc.allocateAddresses('t5', 'zzz', 3),
        () => alloc.releaseAddress('t5', 'zzz', '10.90.0.5'),
        () => alloc.listAllocations('t5', 'zzz'),
        () => alloc.allocateRouterId('t5', 'zzz'),
        () => alloc.releaseRouterId('t5', 'zzz', 1),
        () => alloc.deleteNetwork('t5', 'zzz'),
      ]) {
        const err = await failure(fn);
        expect(err).toBeInstanceOf(NotFoundError);
        expect(err.field).toBe('network');
      }
    });

    it('refuses to delete a network with live addresses unless forced', async () => {
      await alloc.createNetwork({ tenant: 't6', name: 'd', physicalNetwork: 'physnet1', subnetPool: 'pool1' });
      await alloc.allocateAddresses('t6', 'd', 3);
      await alloc.allocateRouterId('t6', 'd');
      const refused = await failure(() => alloc.deleteNetwork('t6', 'd'));
      expect(refused).toBeInstanceOf(FailedPreconditionError);
      expect(refused.message).toMatch(/t6\/d: 3 addresses and 1 router ids/);
      expect(await alloc.deleteNetwork('t6', 'd', { force: true })).toEqual({ releasedAddresses: 3, releasedRouterIds: 1 });
      expect(await failure(() => alloc.getNetwork('t6', 'd'))).toBeInstanceOf(NotFoundError);
      const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM addresses`.execute(env.db);
      expect(left.rows[0]!.n).toBe((await alloc.listNetworks()).reduce((s, n) => s + n.allocated, 0));
    });

    it('returns a carved subnet to its pool on delete', async () => {
      const before = (await alloc.listSubnetPools()).find((p) => p.name === 'pool1')!;
      const n = await alloc.createNetwork({ tenant: 't7', name: 'x', physicalNetwork: 'physnet1', subnetPool: 'pool1' });
      expect((await alloc.listSubnetPools()).find((p) => p.name === 'pool1')!.subnetsInUse).toBe(before.subnetsInUse + 1);
      expect(await alloc.deleteNetwork('t7', 'x')).toEqual({ releasedAddresses: 0, releasedRouterIds: 0 });
      expect((await alloc.listSubnetPools()).find((p) => p.name === 'pool1')!.subnetsInUse).toBe(before.subnetsInUse);
      const again = await alloc.createNetwork({ tenant: 't7', name: 'y', physicalNetwork: 'physnet1', subnetPool: 'pool1' });
      expect(again.cidr).toBe(n.cidr);
      expect(again.vlan).toBe(n.vlan);
    });
  });

  describe('addresses', () => {
    beforeAll(async () => {
      await alloc.createNetwork({ tenant: 'ip', name: 'net', physicalNetwork: 'physnet1', cidr: '172.16.0.0/24' });
      await alloc.createNetwork({ tenant: 'ip', name: 'p30', physicalNetwork: 'physnet1', cidr: '172.17.0.0/30' });
    });

    it('hands out the lowest free address, skipping network and gateway', async () => {
      const a = await alloc.allocateAddress('ip', 'net', { owner: 'c1' });
      expect(a).toMatchObject({ tenant: 'ip', network: 'net', address: '172.16.0.2', owner: 'c1', idempotencyKey: null });
      expect((await alloc.allocateAddress('ip', 'net')).address).toBe('172.16.0.3');
    });

    it('gives a requested address once', async () => {
      expect((await alloc.allocateAddress('ip', 'net', { address: '172.16.0.200' })).address).toBe('172.16.0.200');
      const again = await failure(() => alloc.allocateAddress('ip', 'net', { address: '172.16.0.200' }));
      expect(again).toBeInstanceOf(AlreadyExistsError);
      expect(again.field).toBe('address');
    });

    it('refuses reserved, outside and malformed addresses naming the field', async () => {
      for (const address of ['172.16.0.0', '172.16.0.1', '172.16.0.255', '172.16.1.5', '10.0.0.1', '172.16.0', '300.1.1.1']) {
        for (const fn of [() => alloc.allocateAddress('ip', 'net', { address }), () => alloc.releaseAddress('ip', 'net', address)]) {
          const err = await failure(fn);
          expect(err, address).toBeInstanceOf(InvalidArgumentError);
          expect(err.field).toBe('address');
        }
      }
    });

    it('releases, and refuses to release what is not allocated', async () => {
      await alloc.releaseAddress('ip', 'net', '172.16.0.200');
      const twice = await failure(() => alloc.releaseAddress('ip', 'net', '172.16.0.200'));
      expect(twice).toBeInstanceOf(NotFoundError);
      expect(twice.field).toBe('address');
      expect((await alloc.allocateAddress('ip', 'net', { address: '172.16.0.200' })).address).toBe('172.16.0.200');
    });

    it('returns the same address for a retried idempotency key', async () => {
      const first = await alloc.allocateAddress('ip', 'net', { idempotencyKey: 'req-1', owner: 'c9' });
      const retry = await alloc.allocateAddress('ip', 'net', { idempotencyKey: 'req-1', owner: 'c9' });
      expect(retry.address).toBe(first.address);
      const [x, y] = await Promise.all([
        alloc.allocateAddress('ip', 'net', { idempotencyKey: 'req-2' }),
        alloc.allocateAddress('ip', 'net', { idempotencyKey: 'req-2' }),
      ]);
      expect(x.address).toBe(y.address);
      const batch = await alloc.allocateAddresses('ip', 'net', 5, { idempotencyKey: 'req-3' });
      const batchRetry = await alloc.allocateAddresses('ip', 'net', 5, { idempotencyKey: 'req-3' });
      expect(batchRetry.map((a) => a.address)).toEqual(batch.map((a) => a.address));
      const mismatch = await failure(() => alloc.allocateAddresses('ip', 'net', 6, { idempotencyKey: 'req-3' }));
      expect(mismatch).toBeInstanceOf(InvalidArgumentError);
      expect(mismatch.field).toBe('idempotency_key');
      // Once everything a key got is released, the key allocates afresh.
      await alloc.releaseAddress('ip', 'net', first.address);
      expect((await alloc.allocateAddress('ip', 'net', { idempotencyKey: 'req-1' })).idempotencyKey).toBe('req-1');
    });

    it('allocates batches all or nothing and validates count', async () => {
      const got = await alloc.allocateAddresses('ip', 'net', 50, { owner: 'bulk' });
      expect(new Set(got.map((a) => a.address)).size).toBe(50);
      for (const count of [0, -1, 1.5, 70_000]) {
        const err = await failure(() => alloc.allocateAddresses('ip', 'net', count));
        expect(err).toBeInstanceOf(InvalidArgumentError);
        expect(err.field).toBe('count');
      }
      const net = await alloc.getNetwork('ip', 'net');
      const tooMany = await failure(() => alloc.allocateAddresses('ip', 'net', net.capacity - net.allocated + 1));
      expect(tooMany).toBeInstanceOf(ExhaustedError);
      expect(tooMany.pool).toBe('addresses of network ip/net (172.16.0.0/24)');
      expect((await alloc.getNetwork('ip', 'net')).allocated).toBe(net.allocated);
    });

    it('exhausts a subnet, naming it, and lists every allocation', async () => {
      const net = await alloc.getNetwork('ip', 'net');
      await alloc.allocateAddresses('ip', 'net', net.capacity - net.allocated);
      const err = await failure(() => alloc.allocateAddress('ip', 'net'));
      expect(err).toBeInstanceOf(ExhaustedError);
      expect(err.pool).toBe('addresses of network ip/net (172.16.0.0/24)');
      const all = await alloc.listAllocations('ip', 'net');
      expect(all).toHaveLength(253);
      expect(all[0]!.address).toBe('172.16.0.2');
      expect(all[252]!.address).toBe('172.16.0.254');
      expect((await alloc.allocateAddress('ip', 'p30')).address).toBe('172.17.0.2');
      expect(await failure(() => alloc.allocateAddress('ip', 'p30'))).toBeInstanceOf(ExhaustedError);
    });

    it('works inside a caller transaction, and rolls back with it', async () => {
      await alloc.createNetwork({ tenant: 'ip', name: 'tx', physicalNetwork: 'physnet1', cidr: '172.18.0.0/24' });
      await env.db
        .transaction()
        .execute(async (trx) => {
          const a = new Allocator(trx);
          expect((await a.allocateAddress('ip', 'tx')).address).toBe('172.18.0.2');
          expect((await a.allocateAddresses('ip', 'tx', 2, { idempotencyKey: 'k' })).map((x) => x.address)).toEqual(['172.18.0.3', '172.18.0.4']);
          // A domain error leaves the transaction usable.
          await expect(a.allocateAddress('ip', 'tx', { address: '172.18.0.2' })).rejects.toBeInstanceOf(AlreadyExistsError);
          expect((await a.allocateRouterId('ip', 'tx')).routerId).toBe(1);
          throw new Error('roll back');
        })
        .catch((err: Error) => expect(err.message).toBe('roll back'));
      expect(await alloc.listAllocations('ip', 'tx')).toEqual([]);
      expect((await alloc.allocateAddress('ip', 'tx')).address).toBe('172.18.0.2');
    });
  });

  describe('router ids', () => {
    it('hands out 1..255, exhausts, releases, and refuses unknown ids', async () => {
      await alloc.createNetwork({ tenant: 'vr', name: 'ha', physicalNetwork: 'physnet1', cidr: '172.20.0.0/24' });
      const ids: number[] = [];
      for (let i = 0; i < 255; i++) ids.push((await alloc.allocateRouterId('vr', 'ha', `g${i}`)).routerId);
      expect(ids).toEqual(Array.from({ length: 255 }, (_, i) => i + 1));
      const err = await failure(() => alloc.allocateRouterId('vr', 'ha'));
      expect(err).toBeInstanceOf(ExhaustedError);
      expect(err.pool).toBe('router ids of network vr/ha');
      await alloc.releaseRouterId('vr', 'ha', 51);
      expect((await alloc.allocateRouterId('vr', 'ha')).routerId).toBe(51);
      await alloc.releaseRouterId('vr', 'ha', 7);
      const twice = await failure(() => alloc.releaseRouterId('vr', 'ha', 7));
      expect(twice).toBeInstanceOf(NotFoundError);
      expect(twice.field).toBe('router_id');
      for (const id of [0, 256, 1.5]) {
        const bad = await failure(() => alloc.releaseRouterId('vr', 'ha', id));
        expect(bad).toBeInstanceOf(InvalidArgumentError);
        expect(bad.field).toBe('router_id');
      }
    });
  });

  describe('config sync', () => {
    it('is idempotent and keeps in-use vlans when a range shrinks', async () => {
      await syncPhysicalNetworks(env.db, [{ name: 'shrink', vlanRanges: '200-209' }]);
      await syncPhysicalNetworks(env.db, [{ name: 'shrink', vlanRanges: '200-209' }]);
      const n = await alloc.createNetwork({ tenant: 'sy', name: 'a', physicalNetwork: 'shrink', vlan: 205, cidr: '10.1.0.0/24' });
      const result = await syncPhysicalNetworks(env.db, [{ name: 'shrink', vlanRanges: '200-202', reservedVlans: [201] }]);
      expect(result).toEqual([{ name: 'shrink', outOfRangeInUse: [205] }]);
      const usage = (await alloc.listPhysicalNetworks()).find((p) => p.name === 'shrink')!;
      expect(usage).toEqual({ name: 'shrink', vlanRanges: '200-202', reservedVlans: [201], vlansInUse: 1, vlansTotal: 2 });
      expect((await alloc.getNetwork('sy', 'a')).vlan).toBe(n.vlan);
      const out = await failure(() => alloc.createNetwork({ tenant: 'sy', name: 'b', physicalNetwork: 'shrink', vlan: 206, cidr: '10.1.0.0/24' }));
      expect(out).toBeInstanceOf(InvalidArgumentError);
      await alloc.deleteNetwork('sy', 'a');
      const after = (await alloc.listPhysicalNetworks()).find((p) => p.name === 'shrink')!;
      expect(after).toMatchObject({ vlansInUse: 0, vlansTotal: 2 });
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM vlans WHERE physical_network = 'shrink'`.execute(env.db);
      expect(rows[0]!.n).toBe(2);
    });

    it('validates config naming the field', async () => {
      const bad = [
        () => syncPhysicalNetworks(env.db, [{ name: 'x', vlanRanges: '0-10' }]),
        () => syncPhysicalNetworks(env.db, [{ name: 'x', vlanRanges: '1-10', reservedVlans: [5000] }]),
        () => syncSubnetPools(env.db, [{ name: 'x', cidr: '10.0.0.0/16', prefixLength: 8 }]),
        () => syncSubnetPools(env.db, [{ name: 'x', cidr: '10.0.0.1/16', prefixLength: 24 }]),
      ];
      const fields = [];
      for (const fn of bad) fields.push((await failure(fn)).field);
      expect(fields).toEqual(['vlan_ranges', 'reserved_vlans', 'prefix_length', 'cidr']);
    });
  });
});
