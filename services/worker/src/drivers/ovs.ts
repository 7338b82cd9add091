import { join } from 'node:path';
import { OvsdbError } from '../errors.js';
import { run, type Exec } from '../exec.js';
import { ovsdbTransact, type OvsdbTransact } from './ovsdb-rpc.js';
import { bridgeMutated, bumpCfgOps, cfgValue, checkIfName, curCfgTxn, listPortsTxn, parseListPorts, planApplyPorts, removePortsTxn, txnResults, type PortRow } from './ovs-plan.js';
import type { PortChanges, PortInfo, PortSpec, SwitchDriver } from './types.js';

/** How to reach one host's Open vSwitch and which bridge and owner to manage. */
export interface OvsSwitchOptions {
  /** The host's bridge, e.g. `br-hv1`. */
  bridge: string;
  /** The owning host's id, written to each port's `external_ids:fjord-owner`. */
  owner: string;
  /** The host's OVS run directory (holds `db.sock`); sets `OVS_RUNDIR` for `ovs-vsctl`. Default `/var/run/openvswitch`. */
  ovsRundir?: string;
  /** `datapath_type` of the bridge: `netdev` for the userspace datapath (the lab), `system` for the kernel's. */
  datapathType?: 'netdev' | 'system';
  /** Seconds a database call may take (default 10). */
  timeoutS?: number;
  /** Command runner for `ovs-vsctl` (default: {@link run}). */
  exec?: Exec;
  /** OVSDB transaction runner (default: JSON-RPC over the unix socket). */
  transact?: OvsdbTransact;
}

/**
 * {@link SwitchDriver} for Open vSwitch. The bridge is made with `ovs-vsctl --may-exist add-br`;
 * ports are read and written as OVSDB transactions on the host's database socket (see ovs-plan.ts
 * for why not `ovs-vsctl`): one read to plan, then one transaction per batch, whatever its size.
 * Calls return once the database has committed; ovs-vswitchd applies the change asynchronously and
 * picks up a port's interface whenever it appears (before or after the port is added).
 */
export class OvsSwitch implements SwitchDriver {
  readonly bridge: string;
  private readonly owner: string;
  private readonly env: Record<string, string> | undefined;
  private readonly db: string;
  private readonly datapathType: string | undefined;
  private readonly timeoutS: number;
  private readonly exec: Exec;
  private readonly transact: OvsdbTransact;

  constructor(opts: OvsSwitchOptions) {
    checkIfName(opts.bridge, 'bridge');
    this.bridge = opts.bridge;
    this.owner = opts.owner;
    this.env = opts.ovsRundir ? { OVS_RUNDIR: opts.ovsRundir } : undefined;
    this.db = `unix:${join(opts.ovsRundir ?? '/var/run/openvswitch', 'db.sock')}`;
    this.datapathType = opts.datapathType;
    this.timeoutS = opts.timeoutS ?? 10;
    this.exec = opts.exec ?? run;
    this.transact = opts.transact ?? ovsdbTransact(this.timeoutS * 1000);
  }

  async ensureBridge(): Promise<void> {
    const dp = this.datapathType ? ['--', 'set', 'bridge', this.bridge, `datapath_type=${this.datapathType}`] : [];
    await this.exec('ovs-vsctl', [`--timeout=${this.timeoutS}`, '--no-wait', '--may-exist', 'add-br', this.bridge, ...dp], {
      env: this.env,
      what: `ensure bridge ${this.bridge}`,
    });
  }

  private async txn(txn: readonly unknown[], what: string): Promise<Record<string, unknown>[]> {
    const r = txnResults(await this.transact(this.db, txn, what));
    if (!r.ok) throw new OvsdbError({ db: this.db, error: r.error, details: r.details, what });
    return r.results;
  }

  private async rows(what: string): Promise<PortRow[]> {
    const rows = parseListPorts(await this.txn(listPortsTxn(this.bridge, this.owner), what));
    if (!rows) throw new OvsdbError({ db: this.db, error: 'not found', details: `no bridge ${this.bridge}`, what });
    return rows;
  }

  async listPorts(): Promise<PortInfo[]> {
    return (await this.rows(`list ports on ${this.bridge}`)).map(({ name, vlan, externalIds }) => ({ name, vlan, externalIds }));
  }

  async applyPorts(ports: readonly PortSpec[]): Promise<PortChanges> {
    const names = ports.map((p) => p.name);
    const what = names.length === 1 ? `apply port ${names[0]} on ${this.bridge}` : `apply ${names.length} ports on ${this.bridge}`;
    const plan = planApplyPorts(this.bridge, this.owner, ports, await this.rows(what));
    if (plan.txn) {
      const results = await this.txn(plan.txn, what);
      if (plan.added.length > 0 && !bridgeMutated(results)) throw new OvsdbError({ db: this.db, error: 'not found', details: `no bridge ${this.bridge}`, what });
    }
    return { added: plan.added, updated: plan.updated, unchanged: plan.unchanged };
  }

  async replugPorts(names: readonly string[]): Promise<string[]> {
    for (const n of names) checkIfName(n, 'names[]');
    const what = `replug ${names.join(', ')} on ${this.bridge}`;
    const wanted = new Set(names);
    const rows = (await this.rows(what)).filter((p) => wanted.has(p.name));
    const remove = removePortsTxn(this.bridge, rows);
    if (!remove) return [];
    // Removal and re-insertion must reach vswitchd as two configurations: within one, it matches
    // the port by name and keeps the stale interface.
    const seq = cfgValue(await this.txn([...remove, ...bumpCfgOps], what), 'next_cfg');
    const deadline = Date.now() + this.timeoutS * 1000;
    while (cfgValue(await this.txn(curCfgTxn(), what), 'cur_cfg') < seq) {
      if (Date.now() > deadline) throw new OvsdbError({ db: this.db, error: 'timed out', details: `ovs-vswitchd did not apply the removal within ${this.timeoutS} s`, what });
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.applyPorts(rows.map((r) => ({ name: r.name, vlan: r.vlan ?? 0, externalIds: r.externalIds })));
    return rows.map((r) => r.name);
  }

  async removePorts(names: readonly string[]): Promise<string[]> {
    for (const n of names) checkIfName(n, 'names[]');
    const what = names.length === 1 ? `remove port ${names[0]} from ${this.bridge}` : `remove ${names.length} ports from ${this.bridge}`;
    const wanted = new Set(names);
    const remove = (await this.rows(what)).filter((p) => wanted.has(p.name));
    const txn = removePortsTxn(this.bridge, remove);
    if (txn) await this.txn(txn, what);
    return remove.map((p) => p.name);
  }
}
