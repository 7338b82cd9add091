/**
 * In-memory drivers with the same behaviour as the real ones (idempotency, ownership, validation),
 * for unit tests and for simulating thousands of hosts in one process.
 */
import { DriverInputError } from '../errors.js';
import { checkIfName, planApplyPorts, wantedExternalIds } from './ovs-plan.js';
import {
  ContainerState,
  OWNER_KEY,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type CreateOutcome,
  type PortChanges,
  type PortInfo,
  type PortSpec,
  type SwitchDriver,
} from './types.js';

/** A call a fake driver received, for assertions. */
export interface FakeCall {
  method: string;
  args: unknown[];
}

/** In-memory {@link SwitchDriver}: one bridge; ports not owned by `owner` can be seeded and are never touched. */
export class FakeSwitch implements SwitchDriver {
  readonly bridge: string;
  readonly calls: FakeCall[] = [];
  /** Every port on the bridge, by name, whoever owns it. */
  readonly ports = new Map<string, PortInfo>();
  bridgeExists = false;
  /** Number of write transactions made (a batch counts once). */
  transactions = 0;

  constructor(
    bridge: string,
    private readonly owner: string,
  ) {
    checkIfName(bridge, 'bridge');
    this.bridge = bridge;
  }

  private needBridge(): void {
    if (!this.bridgeExists) throw new DriverInputError('bridge', `no bridge ${this.bridge}`);
  }

  async ensureBridge(): Promise<void> {
    this.calls.push({ method: 'ensureBridge', args: [] });
    this.bridgeExists = true;
  }

  /** The ports this owner owns, as held (callers of the driver get copies, see {@link listPorts}). */
  private owned(): PortInfo[] {
    this.needBridge();
    return [...this.ports.values()].filter((p) => p.externalIds[OWNER_KEY] === this.owner);
  }

  async listPorts(): Promise<PortInfo[]> {
    return this.owned()
      .map((p) => ({ ...p, externalIds: { ...p.externalIds } }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async applyPorts(ports: readonly PortSpec[]): Promise<PortChanges> {
    this.calls.push({ method: 'applyPorts', args: [ports] });
    const plan = planApplyPorts(this.bridge, this.owner, ports, this.owned().map((p) => ({ name: p.name, vlan: p.vlan, externalIds: p.externalIds, uuid: p.name })));
    for (const spec of ports) {
      if (plan.unchanged.includes(spec.name)) continue;
      this.ports.set(spec.name, { name: spec.name, vlan: spec.vlan, externalIds: wantedExternalIds(spec, this.owner) });
    }
    if (plan.txn) this.transactions++;
    return { added: plan.added, updated: plan.updated, unchanged: plan.unchanged };
  }

  async replugPorts(names: readonly string[]): Promise<string[]> {
    this.calls.push({ method: 'replugPorts', args: [names] });
    const owned = new Set(this.owned().map((p) => p.name));
    const replugged = names.filter((n) => owned.has(n));
    if (replugged.length > 0) this.transactions += 2;
    return replugged;
  }

  async removePorts(names: readonly string[]): Promise<string[]> {
    this.calls.push({ method: 'removePorts', args: [names] });
    const owned = new Set(this.owned().map((p) => p.name));
    const removed = names.filter((n) => owned.has(n));
    for (const n of removed) this.ports.delete(n);
    if (removed.length > 0) this.transactions++;
    return removed;
  }
}

/** In-memory {@link ContainerRuntime}; `pid`s are made up, unique per start. */
export class FakeRuntime implements ContainerRuntime {
  readonly calls: FakeCall[] = [];
  readonly containers = new Map<string, { spec: ContainerSpec; state: ContainerState; pid: number | null }>();
  private nextPid = 1000;

  async create(spec: ContainerSpec): Promise<CreateOutcome> {
    this.calls.push({ method: 'create', args: [spec] });
    checkIfName(spec.network.vethPair, 'network.vethPair');
    const have = this.containers.get(spec.name);
    if (!have) {
      this.containers.set(spec.name, { spec: structuredClone(spec), state: ContainerState.Stopped, pid: null });
      return 'created';
    }
    if (JSON.stringify(have.spec) === JSON.stringify(spec)) return 'unchanged';
    have.spec = structuredClone(spec);
    return 'updated';
  }

  private get(name: string, verb: string) {
    const c = this.containers.get(name);
    if (!c) throw new DriverInputError('name', `${verb} container ${name}: no such container`);
    return c;
  }

  async start(name: string): Promise<void> {
    this.calls.push({ method: 'start', args: [name] });
    const c = this.get(name, 'start');
    if (c.state !== ContainerState.Running) Object.assign(c, { state: ContainerState.Running, pid: this.nextPid++ });
  }

  async stop(name: string, opts: { force?: boolean } = {}): Promise<void> {
    this.calls.push({ method: 'stop', args: [name, opts] });
    const c = this.containers.get(name);
    if (c) Object.assign(c, { state: ContainerState.Stopped, pid: null });
  }

  async destroy(name: string): Promise<void> {
    this.calls.push({ method: 'destroy', args: [name] });
    this.containers.delete(name);
  }

  async list(): Promise<ContainerInfo[]> {
    return [...this.containers.entries()]
      .map(([name, c]) => ({ name, state: c.state, pid: c.pid }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
