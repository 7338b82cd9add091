import { credentials } from '@grpc/grpc-js';
import { pino } from 'pino';
import { networkV1 } from '@fjord/proto';
import { startGrpcServer } from '@fjord/scheduler';
import { Allocator, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { createTestDatabase } from '@fjord/testkit';
import { benchAllocatorLibrary } from './allocator-lib.js';
import { round, runConcurrent } from './measure.js';

/** Allocations through the gRPC API: a real server on loopback, 64 calls in flight on one network. */
async function benchAllocatorGrpc(): Promise<Record<string, number>> {
  const env = await createTestDatabase();
  try {
    await syncPhysicalNetworks(env.db, [{ name: 'physnet1', vlanRanges: '100-3999', reservedVlans: [] }]);
    await syncSubnetPools(env.db, [{ name: 'default', cidr: '10.96.0.0/12', prefixLength: 24 }]);
    const allocator = new Allocator(env.db);
    await allocator.createNetwork({ tenant: 'bench', name: 'grpc', physicalNetwork: 'physnet1', cidr: '10.0.0.0/16' });
    const server = await startGrpcServer('127.0.0.1:0', { allocator, log: pino({ level: 'silent' }) });
    const client = new networkV1.NetworkServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    const allocate = () =>
      new Promise<void>((resolve, reject) =>
        client.allocateAddress({ tenant: 'bench', network: 'grpc', address: '', owner: 'bench', idempotencyKey: '' }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    await runConcurrent(8, 300, allocate); // warm up connections and JIT
    const c64 = await runConcurrent(64, 4_000, allocate);
    client.close();
    await server.close();
    return { grpc_single_per_s_c64: c64.perSecond, grpc_p50_ms_c64: round(c64.p50), grpc_p99_ms_c64: round(c64.p99) };
  } finally {
    await env.drop();
  }
}

/** The `allocator` benchmark: the library figures, then the same path through gRPC. */
export async function benchAllocator(): Promise<Record<string, number>> {
  const library = await (async () => {
    const env = await createTestDatabase();
    try {
      return await benchAllocatorLibrary(env.url);
    } finally {
      await env.drop();
    }
  })();
  const grpc = await benchAllocatorGrpc();
  return { ...library, ...grpc };
}
