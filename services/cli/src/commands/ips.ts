import type { Command } from 'commander';
import { callUnary } from '../client.js';
import { withClients } from '../context.js';
import { printJson, printTable } from '../output.js';
import { parseCount } from './options.js';

/** Adds `fjordctl ips allocate|release|list`. */
export function registerIpCommands(program: Command): void {
  const ips = program.command('ips').description('IP addresses on tenant networks');

  ips
    .command('allocate')
    .description('allocate the next free address (or --address, or --count of them)')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .requiredOption('--network <name>', 'network to allocate on')
    .option('--address <ip>', 'a specific address')
    .option('--count <n>', 'allocate n addresses in one call', parseCount)
    .option('--owner <owner>', 'who holds the address (free text)')
    .option('--idempotency-key <key>', 'a retried call with the same key returns the same address(es)')
    .action(async (opts: { tenant: string; network: string; address?: string; count?: number; owner?: string; idempotencyKey?: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const common = { tenant: opts.tenant, network: opts.network, owner: opts.owner ?? '', idempotencyKey: opts.idempotencyKey ?? '' };
        const allocations =
          opts.count !== undefined
            ? (await callUnary(clients, clients.network, clients.network.allocateAddresses, { ...common, count: opts.count })).allocations
            : [(await callUnary(clients, clients.network, clients.network.allocateAddress, { ...common, address: opts.address ?? '' })).allocation];
        if (json) return printJson(allocations);
        for (const a of allocations) if (a) console.log(a.address);
      }),
    );

  ips
    .command('release')
    .description('release an allocated address')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .requiredOption('--network <name>', 'network the address is on')
    .argument('<address>', 'the address to release')
    .action(async (address: string, opts: { tenant: string; network: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        await callUnary(clients, clients.network, clients.network.releaseAddress, { tenant: opts.tenant, network: opts.network, address });
        if (json) printJson({ released: address });
        else console.log(`released ${address} on ${opts.tenant}/${opts.network}`);
      }),
    );

  ips
    .command('list')
    .description('list the addresses allocated on a network')
    .requiredOption('--tenant <tenant>', 'tenant that owns the network')
    .requiredOption('--network <name>', 'network to list')
    .action(async (opts: { tenant: string; network: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { allocations } = await callUnary(clients, clients.network, clients.network.listAllocations, { tenant: opts.tenant, network: opts.network });
        if (json) return printJson(allocations);
        printTable(['address', 'owner', 'idempotency key', 'allocated at'], allocations.map((a) => [a.address, a.owner || '-', a.idempotencyKey || '-', a.createdAt]));
      }),
    );
}
