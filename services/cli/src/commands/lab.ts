import { Command } from 'commander';
import { DEFAULT_LAB_NAME, DEFAULT_STATE_DIR, MAX_LAB_HOSTS, labDown, labHeal, labKill, labPartition, labStatus, labUp, type LabRef, type LabStatus } from '@fjord/lab';
import { printJson, printTable } from '../output.js';
import { wholeNumber } from './options.js';

const hostCount = wholeNumber({ min: 1, max: MAX_LAB_HOSTS, what: 'a host count' });

/** Options every `lab` subcommand shares. */
interface LabOpts {
  name: string;
  stateDir: string;
}

function ref(command: Command): LabRef {
  const o = command.optsWithGlobals<LabOpts>();
  return { name: o.name, stateDir: o.stateDir };
}

function printStatus(s: LabStatus): void {
  if (!s.up && s.hosts.length === 0) {
    console.log(`lab ${s.name}: down (nothing under ${s.dir})`);
    return;
  }
  console.log(`lab ${s.name}: ${s.up ? 'up' : 'partly down'} (${s.dir})`);
  printTable(
    ['host', 'netns', 'ovs', 'power', 'control plane', 'worker', 'containers'],
    s.hosts.map((h) => [
      h.name,
      h.netnsExists ? h.netns : `${h.netns} (missing)`,
      h.ovsdbPid && h.vswitchdPid ? 'running' : 'stopped',
      h.killed ? 'killed' : 'on',
      h.partitioned ? 'partitioned' : 'connected',
      h.workerPid ?? '-',
      `${h.containers.filter((c) => c.state === 'running').length}/${h.containers.length} running`,
    ]),
  );
  if (s.clients.length > 0) printTable(['client netns', 'vlan', 'address'], s.clients.map((c) => [c.netns, c.vlan, c.address]));
}

/** Adds `fjordctl lab up|down|status|kill|partition|heal`: the one-machine fleet of namespaced hypervisors. */
export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('a fleet of hypervisors on this machine (root): per host a network namespace with its own Open vSwitch and LXC path')
    .option('--name <name>', 'lab name; also the prefix of its namespaces (<name>-hv1, <name>-tor)', DEFAULT_LAB_NAME)
    .option('--state-dir <dir>', 'where labs keep their state, databases and containers', DEFAULT_STATE_DIR)
    .addHelpText(
      'after',
      `
Each host <name>-hvN runs its own ovsdb-server + ovs-vswitchd (userspace datapath) with bridge
br-hvN, uplinked as a trunk to a top-of-rack OVS in <name>-tor. Nothing is added to the machine's
own interfaces; every lab address lives in a lab namespace. "lab down" removes everything the lab
made, also after a crash.`,
    );

  lab
    .command('up')
    .description('create the lab (idempotent): namespaces, per-host OVS and bridges, uplinks to the top-of-rack switch')
    .option('--hosts <n>', 'number of hypervisors (hv1..hvN)', hostCount, 3)
    .action(async (opts: { hosts: number }, command: Command) => {
      const made = await labUp({ ...ref(command), hosts: opts.hosts });
      const { json } = command.optsWithGlobals<{ json?: boolean }>();
      if (json) printJson({ name: made.name, dir: made.dir, hosts: made.hosts, tor: made.tor });
      else {
        console.log(`lab ${made.name} is up with ${made.hosts.length} hosts`);
        printTable(['host', 'netns', 'bridge', 'ovs rundir', 'lxc path'], made.hosts.map((h) => [h.name, h.netns, h.bridge, h.ovsRundir, h.lxcPath]));
      }
    });

  lab
    .command('down')
    .description('remove every namespace, OVS daemon, container and file the lab made (idempotent, works after a crash)')
    .action(async (_opts: unknown, command: Command) => {
      await labDown(ref(command));
      console.log(`lab ${ref(command).name} is down`);
    });

  lab
    .command('status')
    .description('show hosts, their OVS daemons, power, control-plane state, workers and containers')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, command: Command) => {
      const s = await labStatus(ref(command));
      if (command.optsWithGlobals<{ json?: boolean }>().json) printJson(s);
      else printStatus(s);
    });

  lab
    .command('kill')
    .description('power loss of HOST: its worker, containers and OVS daemons are killed and its uplink is cut')
    .argument('<host>', 'host to kill, e.g. hv2')
    .action(async (host: string, _opts: unknown, command: Command) => {
      await labKill(ref(command), host);
      console.log(`${host} lost power`);
    });

  lab
    .command('partition')
    .description("cut HOST's control-plane connection while its containers and switch keep running")
    .argument('<host>', 'host to partition, e.g. hv1')
    .action(async (host: string, _opts: unknown, command: Command) => {
      await labPartition(ref(command), host);
      console.log(`${host} is partitioned from the control plane`);
    });

  lab
    .command('heal')
    .description('end partitions and power killed hosts back on (OVS and uplink; the worker restarts their containers)')
    .argument('[host]', 'host to heal (default: every host)')
    .action(async (host: string | undefined, _opts: unknown, command: Command) => {
      await labHeal(ref(command), host);
      console.log(host ? `${host} healed` : 'every host healed');
    });
}
