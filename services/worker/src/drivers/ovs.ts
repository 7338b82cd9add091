import { run, type Exec } from '../exec.js';
import { checkIfName, listPortsArgs, parseListPorts, planApplyPorts, planRemovePorts } from './ovs-plan.js';
import type { PortChanges, PortInfo, PortSpec, SwitchDriver } from './types.js';

/** How to reach one host's Open vSwitch and which bridge and owner to manage. */
export interface OvsSwitchOptions {
  /** The host's bridge, e.g. `br-hv1`. */
  bridge: string;
  /** The owning host's id, written to each port's `external_ids:fjord-owner`. */
  owner: string;
  /** The host's OVS run directory (its `db.sock`); sets `OVS_RUNDIR` for `ovs-vsctl`. Default: the system's. */
  ovsRundir?: string;
  /** `datapath_type` of the bridge: `netdev` for the userspace datapath (the lab), `system` for the kernel's. */
  datapathType?: 'netdev' | 'system';
  /** Seconds `ovs-vsctl` may wait for the database and for ovs-vswitchd to apply a change (default 10). */
  timeoutS?: number;
  /** Command runner (default: {@link run}). */
  exec?: Exec;
}

/**
 * {@link SwitchDriver} over `ovs-vsctl`. Each call is one `ovs-vsctl` transaction (plus one read to
 * plan it), so a batch of a thousand ports costs about what one port does.
 */
export class OvsSwitch implements SwitchDriver {
  readonly bridge: string;
  private readonly owner: string;
  private readonly env: Record<string, string> | undefined;
  private readonly datapathType: string | undefined;
  private readonly timeoutS: number;
  private readonly exec: Exec;

  constructor(opts: OvsSwitchOptions) {
    checkIfName(opts.bridge, 'bridge');
    this.bridge = opts.bridge;
    this.owner = opts.owner;
    this.env = opts.ovsRundir ? { OVS_RUNDIR: opts.ovsRundir } : undefined;
    this.datapathType = opts.datapathType;
    this.timeoutS = opts.timeoutS ?? 10;
    this.exec = opts.exec ?? run;
  }

  private vsctl(args: readonly string[], what: string): Promise<string> {
    return this.exec('ovs-vsctl', [`--timeout=${this.timeoutS}`, ...args], { env: this.env, what }).then((r) => r.stdout);
  }

  async ensureBridge(): Promise<void> {
    const dp = this.datapathType ? ['--', 'set', 'bridge', this.bridge, `datapath_type=${this.datapathType}`] : [];
    await this.vsctl(['--may-exist', 'add-br', this.bridge, ...dp], `ensure bridge ${this.bridge}`);
  }

  async listPorts(): Promise<PortInfo[]> {
    return parseListPorts(await this.vsctl(listPortsArgs(this.bridge, this.owner), `list ports on ${this.bridge}`));
  }

  async applyPorts(ports: readonly PortSpec[]): Promise<PortChanges> {
    const plan = planApplyPorts(this.bridge, this.owner, ports, await this.listPorts());
    if (plan.args.length > 0) {
      const changed = [...plan.added, ...plan.updated];
      const what = changed.length === 1 ? `apply port ${changed[0]} on ${this.bridge}` : `apply ${changed.length} ports on ${this.bridge}`;
      await this.vsctl(plan.args, what);
    }
    return { added: plan.added, updated: plan.updated, unchanged: plan.unchanged };
  }

  async removePorts(names: readonly string[]): Promise<string[]> {
    for (const n of names) checkIfName(n, 'names[]');
    const owned = new Set((await this.listPorts()).map((p) => p.name));
    const remove = names.filter((n) => owned.has(n));
    if (remove.length > 0) {
      const what = remove.length === 1 ? `remove port ${remove[0]} from ${this.bridge}` : `remove ${remove.length} ports from ${this.bridge}`;
      await this.vsctl(planRemovePorts(this.bridge, remove), what);
    }
    return remove;
  }
}
