import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkV1 } from '@fjord/proto';
import { startGrpcServer, type RunningGrpcServer } from '@fjord/scheduler';
import { Allocator, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { createTestDatabase } from '@fjord/testkit';

type Env = Awaited<ReturnType<typeof createTestDatabase>>;
let env: Env;
let server: RunningGrpcServer;
let client: networkV1.NetworkServiceClient;

/** Calls a client method and resolves to its response, or to the ServiceError it failed with. */
function call<Req, Res>(
  method: (req: Req, md: Metadata, opts: object, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, new Metadata(), {}, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))),
  );
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

const create = (overrides: Partial<networkV1.CreateNetworkRequest>) =>
  call(client.createNetwork, {
    tenant: 'acme',
    name: 'web',
    physicalNetwork: 'physnet1',
    vlan: 0,
    cidr: '',
    subnetPool: '',
    prefixLength: 0,
    ...overrides,
  });

const allocate = (overrides: Partial<networkV1.AllocateAddressRequest>) =>
  call(client.allocateAddress, { tenant: 'acme', network: 'web', address: '', owner: '', idempotencyKey: '', ...overrides });

beforeAll(async () => {
  env = await createTestDatabase();
  await syncPhysicalNetworks(env.db, [
    { name: 'physnet1', vlanRanges: '100-199', reservedVlans: [150] },
    { name: 'tiny', vlanRanges: '10-11', reservedVlans: [] },
  ]);
  await syncSubnetPools(env.db, [{ name: 'default', cidr: '10.96.0.0/22', prefixLength: 24 }]);
  server = await startGrpcServer('127.0.0.1:0', { allocator: new Allocator(env.db), log: pino({ level: 'silent' }) });
  client = new networkV1.NetworkServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await env?.drop();
});

describe('NetworkService over gRPC', () => {
  it('creates a network with a VLAN from its physical network and a subnet carved from the pool', async () => {
    const { network } = await create({ name: 'carved', subnetPool: 'default' });
    expect(network?.vlan).toBeGreaterThanOrEqual(100);
    expect(network?.vlan).toBeLessThanOrEqual(199);
    expect(network?.cidr).toMatch(/^10\.96\.[0-3]\.0\/24$/);
    expect(network?.gateway).toBe(network?.cidr.replace('.0/24', '.1'));
    expect(network?.capacity).toBe(253);
  });

  it('lets two tenants use the same CIDR on different VLANs', async () => {
    const a = await create({ tenant: 'tenant-a', name: 'shared', cidr: '192.168.10.0/24' });
    const b = await create({ tenant: 'tenant-b', name: 'shared', cidr: '192.168.10.0/24' });
    expect(a.network?.vlan).not.toBe(b.network?.vlan);
    const ipA = await allocate({ tenant: 'tenant-a', network: 'shared', address: '192.168.10.20' });
    const ipB = await allocate({ tenant: 'tenant-b', network: 'shared', address: '192.168.10.20' });
    expect(ipA.allocation?.address).toBe(ipB.allocation?.address);
  });

  it('returns the same address for a retried request with the same idempotency key', async () => {
    await create({ name: 'idem', cidr: '10.1.0.0/24' });
    const first = await allocate({ network: 'idem', idempotencyKey: 'req-1' });
    const again = await allocate({ network: 'idem', idempotencyKey: 'req-1' });
    const other = await allocate({ network: 'idem', idempotencyKey: 'req-2' });
    expect(again.allocation?.address).toBe(first.allocation?.address);
    expect(other.allocation?.address).not.toBe(first.allocation?.address);
  });

  it('allocates a batch, lists it, and releases one', async () => {
    await create({ name: 'batch', cidr: '10.2.0.0/24' });
    const { allocations } = await call(client.allocateAddresses, { tenant: 'acme', network: 'batch', count: 10, owner: 'web', idempotencyKey: '' });
    expect(new Set(allocations.map((a) => a.address)).size).toBe(10);
    expect(allocations.map((a) => a.address)).not.toContain('10.2.0.1');
    await call(client.releaseAddress, { tenant: 'acme', network: 'batch', address: allocations[0]!.address });
    const listed = await call(client.listAllocations, { tenant: 'acme', network: 'batch' });
    expect(listed.allocations).toHaveLength(9);
  });

  it.each([
    ['cidr', { cidr: '10.0.0.0/33' }],
    ['cidr', { cidr: 'not-a-cidr' }],
    ['vlan', { vlan: 5000 }],
    ['vlan', { vlan: 150 }],
    ['tenant', { tenant: '' }],
    ['name', { name: 'Bad Name!' }],
  ])('refuses a bad %s with INVALID_ARGUMENT naming the field', async (field, overrides) => {
    const err = await failure(create({ name: 'bad', cidr: '10.3.0.0/24', ...overrides }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain(field);
    expect(err.metadata.get('fjord-field')).toEqual([field]);
  });

  it('refuses an address outside the subnet, and the gateway, with INVALID_ARGUMENT naming address', async () => {
    await create({ name: 'range', cidr: '10.4.0.0/24' });
    for (const address of ['10.5.0.7', '10.4.0.1', '10.4.0.255', 'nope']) {
      const err = await failure(allocate({ network: 'range', address }));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain('address');
    }
  });

  it('refuses an owner Postgres could not store with INVALID_ARGUMENT naming owner', async () => {
    const err = await failure(allocate({ owner: 'web\0' }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.metadata.get('fjord-field')).toEqual(['owner']);
  });

  it('answers NOT_FOUND naming the field for an unknown network, physical network or pool', async () => {
    const unknownNetwork = await failure(allocate({ network: 'missing' }));
    expect(unknownNetwork.code).toBe(status.NOT_FOUND);
    expect(unknownNetwork.details).toContain('network');
    const unknownPhysnet = await failure(create({ name: 'x1', physicalNetwork: 'physnet9', cidr: '10.6.0.0/24' }));
    expect(unknownPhysnet.code).toBe(status.NOT_FOUND);
    expect(unknownPhysnet.details).toContain('physical_network');
    const unknownPool = await failure(create({ name: 'x2', subnetPool: 'nope' }));
    expect(unknownPool.code).toBe(status.NOT_FOUND);
    expect(unknownPool.details).toContain('subnet_pool');
  });

  it('answers RESOURCE_EXHAUSTED naming the pool when VLANs or addresses run out', async () => {
    await create({ name: 't1', physicalNetwork: 'tiny', cidr: '10.7.0.0/24' });
    await create({ name: 't2', physicalNetwork: 'tiny', cidr: '10.7.1.0/24' });
    const vlans = await failure(create({ name: 't3', physicalNetwork: 'tiny', cidr: '10.7.2.0/24' }));
    expect(vlans.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(vlans.details).toContain('tiny');

    await create({ name: 'small', cidr: '10.8.0.0/30' }); // one usable address besides the gateway
    await allocate({ network: 'small' });
    const addresses = await failure(allocate({ network: 'small' }));
    expect(addresses.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(addresses.details).toContain('small');
  });

  it('refuses to release an address that is not allocated', async () => {
    await create({ name: 'rel', cidr: '10.9.0.0/24' });
    const err = await failure(call(client.releaseAddress, { tenant: 'acme', network: 'rel', address: '10.9.0.50' }));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toContain('address');
  });

  it('refuses to delete a network with live addresses unless forced', async () => {
    await create({ name: 'busy', cidr: '10.10.0.0/24' });
    await allocate({ network: 'busy' });
    const refused = await failure(call(client.deleteNetwork, { tenant: 'acme', name: 'busy', force: false }));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    const forced = await call(client.deleteNetwork, { tenant: 'acme', name: 'busy', force: true });
    expect(forced.releasedAddresses).toBe(1);
    const gone = await failure(call(client.getNetwork, { tenant: 'acme', name: 'busy' }));
    expect(gone.code).toBe(status.NOT_FOUND);
  });

  it('refuses a requested VLAN that is taken with ALREADY_EXISTS', async () => {
    await create({ name: 'v1', vlan: 120, cidr: '10.11.0.0/24' });
    const err = await failure(create({ name: 'v2', vlan: 120, cidr: '10.11.1.0/24' }));
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.details).toContain('vlan');
  });

  it('hands out VRRP router ids and refuses to release one not held', async () => {
    await create({ name: 'ha', cidr: '10.12.0.0/24' });
    const a = await call(client.allocateRouterId, { tenant: 'acme', network: 'ha', owner: 'pair-1' });
    const b = await call(client.allocateRouterId, { tenant: 'acme', network: 'ha', owner: 'pair-2' });
    expect(a.routerId).not.toBe(b.routerId);
    await call(client.releaseRouterId, { tenant: 'acme', network: 'ha', routerId: a.routerId });
    const err = await failure(call(client.releaseRouterId, { tenant: 'acme', network: 'ha', routerId: a.routerId }));
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it('serves gRPC health', async () => {
    const { HealthClient } = await healthClient();
    expect(await HealthClient('')).toBe('SERVING');
  });
});

async function healthClient() {
  const { loadSync } = await import('@grpc/proto-loader');
  const grpc = await import('@grpc/grpc-js');
  const { protoPath } = await import('grpc-health-check');
  const def = grpc.loadPackageDefinition(loadSync(protoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (addr: string, creds: unknown) => { check: (req: object, cb: (e: Error | null, r: { status: string }) => void) => void; close(): void } } } };
  };
  return {
    HealthClient: (service: string) =>
      new Promise<string>((resolve, reject) => {
        const health = new def.grpc.health.v1.Health(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
        health.check({ service }, (err, res) => {
          health.close();
          if (err) reject(err);
          else resolve(res.status);
        });
      }),
  };
}
