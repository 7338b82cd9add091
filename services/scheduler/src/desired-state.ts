import type { Kysely } from 'kysely';
import { formatAddress, gatewayAddress, parseCidr } from '@fjord/core';
import { workerV1 } from '@fjord/proto';
import { readDesiredStates, type Database, type HostDesiredRead, type PublishedGeneration } from '@fjord/store';

/**
 * Builds each host's desired state from the database (see `readDesiredStates`): whole, or, for a
 * host named in `published` whose worker accepts deltas, the changes after the generation it was
 * last published. Returns the states by host with what was read, which the relay also needs.
 */
export async function buildDesiredStates(
  db: Kysely<Database>,
  hosts: readonly string[],
  published?: ReadonlyMap<string, PublishedGeneration>,
): Promise<Map<string, { state: workerV1.DesiredState; read: HostDesiredRead }>> {
  const states = new Map<string, { state: workerV1.DesiredState; read: HostDesiredRead }>();
  const subnets = new Map<string, { prefixLength: number; gateway: string }>(); // by cidr
  for (const h of await readDesiredStates(db, hosts, published)) {
    const delta = h.base !== null;
    const state: workerV1.DesiredState = {
      host: h.name,
      epoch: BigInt(h.epoch),
      generation: BigInt(h.desiredGeneration),
      containers: h.containers.map((c) => {
        let subnet = subnets.get(c.cidr);
        if (!subnet) {
          const cidr = parseCidr(c.cidr);
          subnets.set(c.cidr, (subnet = { prefixLength: cidr.prefixLength, gateway: formatAddress(gatewayAddress(cidr)) }));
        }
        return {
          runtimeName: c.runtimeName,
          tenant: c.tenant,
          name: c.name,
          template: c.template,
          vlan: c.vlan,
          address: c.address,
          prefixLength: subnet.prefixLength,
          gateway: subnet.gateway,
          cpuMillis: c.cpuMillis,
          memoryBytes: BigInt(c.memoryBytes),
          command: c.command,
        };
      }),
      unchanged: false,
      delta,
      baseGeneration: delta ? BigInt(h.base!) : 0n,
      removed: delta ? h.removed : [],
    };
    states.set(h.name, { state, read: h });
  }
  return states;
}
