import type { Kysely } from 'kysely';
import { formatAddress, gatewayAddress, parseCidr } from '@fjord/core';
import { workerV1 } from '@fjord/proto';
import { hostsWithContainers, type Database } from '@fjord/store';

/**
 * Builds the whole desired state of each host from the database: its epoch, its generation and
 * every container placed on it, read from one snapshot so that each generation comes with exactly
 * its containers (else the message published under a generation's id could lack a container,
 * and JetStream would drop the correct one later as a duplicate id).
 */
export async function buildDesiredStates(db: Kysely<Database>, hosts: readonly string[]): Promise<Map<string, workerV1.DesiredState>> {
  const states = new Map<string, workerV1.DesiredState>();
  const subnets = new Map<string, { prefixLength: number; gateway: string }>(); // by cidr
  for (const h of await hostsWithContainers(db, hosts)) {
    states.set(h.name, {
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
    });
  }
  return states;
}
