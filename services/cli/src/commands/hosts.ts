import type { Command } from 'commander';
import type { fleetV1 } from '@fjord/proto';
import { callUnary } from '../client.js';
import { withClients } from '../context.js';
import { printJson, printTable } from '../output.js';

function hostRow(h: fleetV1.Host): (string | number)[] {
  const labels = Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-';
  // A stale host keeps its state (the operator's word) but placement skips it.
  return [h.name, h.stale ? `${h.state} (stale)` : h.state, labels, `${h.cpuMillisUsed}/${h.cpuMillisCapacity}m`, `${h.slotsUsed}/${h.slotsCapacity}`, `${h.appliedGeneration}/${h.desiredGeneration}`, h.lastHeartbeatAt || '-'];
}

const columns = ['name', 'state', 'labels', 'cpu', 'slots', 'generation', 'last heartbeat'];

/** Adds `fjordctl hosts list|get|cordon|uncordon`. */
export function registerHostCommands(program: Command): void {
  const hosts = program.command('hosts').description('the hypervisors of the fleet');
  hosts
    .command('list')
    .description('list hosts')
    .option('--state <state>', 'only hosts in this state (READY, CORDONED, DRAINING, PATCHING, DOWN)')
    .action(async (opts: { state?: string }, command: Command) =>
      withClients(command, async (clients, { json }) => {
        const { hosts: list } = await callUnary(clients, clients.fleet, clients.fleet.listHosts, { state: opts.state ?? '' });
        if (json) return printJson(list);
        printTable(columns, list.map(hostRow));
      }),
    );
  for (const [verb, method, description] of [
    ['get', 'getHost', 'show one host'],
    ['cordon', 'cordonHost', 'stop placing new containers on a host (what runs there stays)'],
    ['uncordon', 'uncordonHost', 'let a cordoned host receive containers again'],
  ] as const) {
    hosts
      .command(verb)
      .description(description)
      .argument('<name>', 'host name')
      .action(async (name: string, _opts: unknown, command: Command) =>
        withClients(command, async (clients, { json }) => {
          const { host } = await callUnary(clients, clients.fleet, clients.fleet[method], { name });
          if (json) return printJson(host);
          if (host) printTable(columns, [hostRow(host)]);
        }),
      );
  }
}
