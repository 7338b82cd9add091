/** The request the placement and grpc-floor benchmarks send, their client's options, and the call. */
import type { ChannelOptions, ServiceError } from '@grpc/grpc-js';
import type { placementV1 } from '@fjord/proto';

/** A small container (10 millicores, 16 MiB) on the tenant's network `net`. */
export function benchSpec(tenant: string, name: string): placementV1.ContainerSpec {
  return {
    tenant,
    name,
    network: 'net',
    template: '',
    cpuMillis: 10,
    memoryBytes: 16n * 2n ** 20n,
    constraints: [],
    antiAffinityGroup: '',
    spreadLabel: '',
    command: '',
  };
}

/** The client's channel options: room for a whole batch's answer. */
export const CLIENT_OPTIONS: ChannelOptions = { 'grpc.max_receive_message_length': 64 * 2 ** 20 };

/**
 * Places one container; resolves once the server answers. The call carries no deadline: grpc-js
 * would run a timer per call on both ends, and on these two cores the client's cost is the
 * server's loss. Callers bound their phases instead (`within`).
 */
export function placeOne(client: placementV1.PlacementServiceClient, tenant: string, name: string): Promise<void> {
  return new Promise((resolve, reject) =>
    client.place({ container: benchSpec(tenant, name), policy: 'spread' }, (err: ServiceError | null) => (err ? reject(err) : resolve())),
  );
}
