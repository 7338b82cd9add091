import type { Kysely } from 'kysely';
import { formatAddress, gatewayAddress, parseCidr } from '@fjord/core';
import { workerV1 } from '@fjord/proto';
import { containersOnHosts, listHostsByName, type Database } from '@fjord/store';

/**
 * Builds the whole desired state of each host from the database: its epoch, its generation and
 * every container placed on it. Read in one statement per table; the generation read is the one
 * the containers belong to or newer (a newer state is published again under its own generation).
 */
export async function buildDesiredStates(db: Kysely<Database>, hosts: readonly string[]): Promise<Map<string, workerV1.DesiredState>> {
  const states = new Map<string, workerV1.DesiredState>();
  if (hosts.length === 0) return states;
  const [hostRows, containers] = await Promise.all([listHostsByName(db, hosts), containersOnHosts(db, hosts)]);
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
