/** The request the placement and grpc-floor benchmarks send, and their client's options. */
import type { ChannelOptions } from '@grpc/grpc-js';
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
