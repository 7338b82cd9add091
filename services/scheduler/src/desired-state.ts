import type { Kysely } from 'kysely';
import { formatAddress, gatewayAddress, parseCidr } from '@fjord/core';
import { workerV1 } from '@fjord/proto';
import { containersOnHosts, listHostsByName, type Database } from '@fjord/store';

/**
 * Builds the whole desired state of each host from the database: its epoch, its generation and
 * every container placed on it, read from one snapshot so that each generation comes with exactly
 * its containers. `db` must not be a transaction.
 */
export async function buildDesiredStates(db: Kysely<Database>, hosts: readonly string[]): Promise<Map<string, workerV1.DesiredState>> {
  const states = new Map<string, workerV1.DesiredState>();
  if (hosts.length === 0) return states;
  // One snapshot: a generation read apart from the containers could be newer than them, and the
  // message published under that generation's id would then lack a container (JetStream drops
  // the correct one later as a duplicate id).
  const [hostRows, containers] = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => [await listHostsByName(trx, hosts), await containersOnHosts(trx, hosts)] as const);
  for (const h of hostRows) {
    states.set(h.name, { host: h.name, epoch: BigInt(h.epoch), generation: BigInt(h.desiredGeneration), containers: [] });
  }
  for (const c of containers) {
    const cidr = parseCidr(c.cidr);
    states.get(c.host)?.containers.push({
      runtimeName: c.runtimeName,
      tenant: c.tenant,
      name: c.name,
      template: c.template,
      vlan: c.vlan,
      address: c.address,
      prefixLength: cidr.prefixLength,
      gateway: formatAddress(gatewayAddress(cidr)),
      cpuMillis: c.cpuMillis,
      memoryBytes: BigInt(c.memoryBytes),
      command: c.command,
    });
  }
  return states;
}
