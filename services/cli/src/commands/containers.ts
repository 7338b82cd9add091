import { Command, Option } from 'commander';
import { formatCpuMillis, formatMemoryBytes } from '@fjord/core';
import type { placementV1 } from '@fjord/proto';
import { callUnary } from '../client.js';
import { withClients } from '../context.js';
import { printJson, printRecord, printTable } from '../output.js';
import { parseCount, parseCpuOption, parseMemoryOption, parsePositive } from './options.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function containerRow(c: placementV1.Container): (string | number)[] {
  return [c.spec?.tenant ?? '', c.spec?.name ?? '', c.host, c.spec?.network ?? '', c.vlan, c.address, c.state];
}

const columns = ['tenant', 'name', 'host', 'network', 'vlan', 'address', 'state'];

/** What `place` asks for without --cpu and --memory. */
const DEFAULT_CPU_MILLIS = 250;
const DEFAULT_MEMORY_BYTES = 128 * 2 ** 20;

/** Adds `fjordctl place` and `fjordctl containers list|get|delete`. */
export function registerContainerCommands(program: Command): void {
  program
    .command('place')
    .description('place containers on hosts (with --count N, as one all-or-nothing batch named NAME-1..NAME-N)')
    .requiredOption('--tenant <tenant>', 'tenant that owns the container')
    .requiredOption('--network <name>', 'tenant network to join')
    .requiredOption('--name <name>', 'container name, unique per tenant')
    .addOption(new Option('--cpu <cpu>', 'cpu, e.g. 500m or 2').argParser(parseCpuOption).default(DEFAULT_CPU_MILLIS, formatCpuMillis(DEFAULT_CPU_MILLIS)))
    .addOption(new Option('--memory <memory>', 'memory, e.g. 256Mi or 1Gi').argParser(parseMemoryOption).default(DEFAULT_MEMORY_BYTES, formatMemoryBytes(DEFAULT_MEMORY_BYTES)))
    .option('--template <template>', 'LXC template', 'busybox')
    .option('--constraint <label=value>', 'host label constraint, e.g. zone=a or rack!=r1 (repeatable)', collect, [])
    .option('--group <group>', 'anti-affinity group: members never share a host')
    .option('--spread <label>', 'with --group, spread members over this host label (e.g. rack)')
    .option('--command <command>', 'command the container runs (default: busybox httpd serving its name)')
    .option('--policy <policy>', 'binpack or spread', 'binpack')
    .option('--count <n>', 'place n containers in one batch', parsePositive)
    .action(async (opts: { tenant: string; network: string; name: string; cpu: number; memory: number; template: string; constraint: string[]; group?: string; spread?: string; command?: string; policy: string; count?: number }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const spec = (name: string): placementV1.ContainerSpec => ({
          tenant: opts.tenant,
          name,
          network: opts.network,
          template: opts.template,
          cpuMillis: opts.cpu,
          memoryBytes: BigInt(opts.memory),
          constraints: opts.constraint,
          antiAffinityGroup: opts.group ?? '',
          spreadLabel: opts.spread ?? '',
          command: opts.command ?? '',
        });
        const containers =
          opts.count === undefined
            ? [(await callUnary(clients, clients.placement, clients.placement.place, { container: spec(opts.name), policy: opts.policy })).container!]
            : (
                await callUnary(clients, clients.placement, clients.placement.placeBatch, {
                  containers: Array.from({ length: opts.count }, (_, i) => spec(`${opts.name}-${i + 1}`)),
                  policy: opts.policy,
                })
              ).containers;
        if (json) return printJson(containers);
        printTable(columns, containers.map(containerRow));
      }),
    );

  const containers = program.command('containers').description('placed containers');
  containers
    .command('list')
    .description('list containers')
    .option('--tenant <tenant>', 'only this tenant\'s')
    .option('--host <host>', 'only those on this host')
    .option('--network <network>', 'only those on this network')
    .option('--limit <n>', 'at most n (0, the default: all)', parseCount)
    .action(async (opts: { tenant?: string; host?: string; network?: string; limit?: number }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { containers: list } = await callUnary(clients, clients.placement, clients.placement.listContainers, {
          tenant: opts.tenant ?? '',
          host: opts.host ?? '',
          network: opts.network ?? '',
          limit: opts.limit ?? 0,
        });
        if (json) return printJson(list);
        printTable(columns, list.map(containerRow));
      }),
    );
  containers
    .command('get')
    .description('show one container')
    .requiredOption('--tenant <tenant>', 'tenant that owns it')
    .argument('<name>', 'container name')
    .action(async (name: string, opts: { tenant: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { container: c } = await callUnary(clients, clients.placement, clients.placement.getContainer, { tenant: opts.tenant, name });
        if (json) return printJson(c);
        if (!c) return;
        printRecord({
          tenant: c.spec?.tenant ?? '',
          name: c.spec?.name ?? '',
          id: c.id,
          host: c.host,
          network: c.spec?.network ?? '',
          vlan: c.vlan,
          address: c.address,
          state: c.state,
          observed: c.observed || '-',
          cpu: `${c.spec?.cpuMillis ?? 0}m`,
          memory: `${Number(c.spec?.memoryBytes ?? 0n) / 2 ** 20}Mi`,
          group: c.spec?.antiAffinityGroup || '-',
          created: c.createdAt,
        });
      }),
    );
  containers
    .command('delete')
    .description('delete a container: it is stopped and removed from its host, its address released')
    .requiredOption('--tenant <tenant>', 'tenant that owns it')
    .argument('<name>', 'container name')
    .action(async (name: string, opts: { tenant: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        await callUnary(clients, clients.placement, clients.placement.deleteContainer, { tenant: opts.tenant, name });
        if (json) printJson({ deleted: `${opts.tenant}/${name}` });
        else console.log(`deleted container ${opts.tenant}/${name}`);
      }),
    );
}
