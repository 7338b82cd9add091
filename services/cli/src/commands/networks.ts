import { Command } from 'commander';
import type { networkV1 } from '@fjord/proto';
import { callUnary } from '../client.js';
import { withClients } from '../context.js';
import { printJson, printRecord, printTable } from '../output.js';
import { parseCount } from './options.js';

function networkRecord(n: networkV1.Network): Record<string, string | number> {
  return {
    tenant: n.tenant,
    name: n.name,
    id: n.id,
    'physical network': n.physicalNetwork,
    vlan: n.vlan,
    cidr: n.cidr,
    gateway: n.gateway,
    allocated: `${n.allocated}/${n.capacity}`,
    created: n.createdAt,
  };
}

/** Adds `fjordctl networks create|list|get|delete` and `fjordctl physnets list`. */
export function registerNetworkCommands(program: Command): void {
  const networks = program.command('networks').description('tenant networks: a VLAN and a subnet each');

  networks
    .command('create')
    .description('create a tenant network, allocating its VLAN and (unless --cidr) its subnet')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .requiredOption('--name <name>', 'network name, unique per tenant')
    .option('--physnet <name>', 'physical network to take the VLAN from', 'physnet1')
    .option('--vlan <id>', 'a specific VLAN id (default: next free)', parseCount)
    .option('--cidr <cidr>', 'subnet in CIDR notation (default: carve one from --pool)')
    .option('--pool <name>', 'subnet pool to carve from when --cidr is not given', 'default')
    .option('--prefix <length>', 'prefix length to carve (default: the pool\'s)', parseCount)
    .action(async (opts: { tenant: string; name: string; physnet: string; vlan?: number; cidr?: string; pool: string; prefix?: number }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { network } = await callUnary(clients, clients.network, clients.network.createNetwork, {
          tenant: opts.tenant,
          name: opts.name,
          physicalNetwork: opts.physnet,
          vlan: opts.vlan ?? 0,
          cidr: opts.cidr ?? '',
          subnetPool: opts.cidr ? '' : opts.pool,
          prefixLength: opts.prefix ?? 0,
        });
        if (json) printJson(network);
        else if (network) printRecord(networkRecord(network));
      }),
    );

  networks
    .command('list')
    .description('list networks')
    .option('--tenant <tenant>', 'only this tenant\'s networks')
    .action(async (opts: { tenant?: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { networks: list } = await callUnary(clients, clients.network, clients.network.listNetworks, { tenant: opts.tenant ?? '' });
        if (json) return printJson(list);
        printTable(
          ['tenant', 'name', 'physnet', 'vlan', 'cidr', 'gateway', 'allocated'],
          list.map((n) => [n.tenant, n.name, n.physicalNetwork, n.vlan, n.cidr, n.gateway, `${n.allocated}/${n.capacity}`]),
        );
      }),
    );

  networks
    .command('get')
    .description('show one network')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .argument('<name>', 'network name')
    .action(async (name: string, opts: { tenant: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { network } = await callUnary(clients, clients.network, clients.network.getNetwork, { tenant: opts.tenant, name });
        if (json) printJson(network);
        else if (network) printRecord(networkRecord(network));
      }),
    );

  networks
    .command('delete')
    .description('delete a network, returning its VLAN and subnet; refused while containers are on it, and while addresses are allocated unless --force')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .option('--force', 'release its allocated addresses too (never those of containers: delete the containers first)', false)
    .argument('<name>', 'network name')
    .action(async (name: string, opts: { tenant: string; force: boolean }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const res = await callUnary(clients, clients.network, clients.network.deleteNetwork, { tenant: opts.tenant, name, force: opts.force });
        if (json) printJson({ deleted: `${opts.tenant}/${name}`, releasedAddresses: res.releasedAddresses });
        else console.log(`deleted network ${opts.tenant}/${name} (released ${res.releasedAddresses} addresses)`);
      }),
    );

  program
    .command('physnets')
    .description('physical networks and their VLAN usage')
    .command('list')
    .description('list physical networks')
    .action(async (_opts: unknown, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { physicalNetworks } = await callUnary(clients, clients.network, clients.network.listPhysicalNetworks, {});
        if (json) return printJson(physicalNetworks);
        printTable(
          ['name', 'vlan ranges', 'reserved', 'vlans in use'],
          physicalNetworks.map((p) => [p.name, p.vlanRanges.join(','), p.reservedVlans.join(',') || '-', `${p.vlansInUse}/${p.vlansTotal}`]),
        );
      }),
    );
}
