/**
 * Pure parts of the Open vSwitch driver: reading `ovs-vsctl --format=json` output, validating port
 * specs, and turning desired ports plus current ports into one `ovs-vsctl` transaction.
 */
import { DriverInputError } from '../errors.js';
import { OWNER_KEY, type PortChanges, type PortInfo, type PortSpec } from './types.js';

/** One table as printed by `ovs-vsctl --format=json`. */
interface OvsTable {
  headings: string[];
  data: unknown[][];
}

/** Linux interface names: 1-15 characters, no `/`, whitespace or `:`. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Throws {@link DriverInputError} unless `name` is a usable interface/port name. */
export function checkIfName(name: string, field = 'name'): void {
  if (!IFNAME.test(name)) throw new DriverInputError(field, `bad interface name ${JSON.stringify(name)}: want 1-15 of [A-Za-z0-9_.-]`);
}

/** Throws {@link DriverInputError} unless `vlan` is a usable access tag. */
export function checkVlan(vlan: number, field = 'vlan'): void {
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) throw new DriverInputError(field, `bad vlan ${vlan}: want 1-4094`);
}

function ovsValue(v: unknown): unknown {
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1]) && v[1].length === 0) return null;
  return v;
}

function ovsMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === 'map' && Array.isArray(v[1])) {
    for (const pair of v[1] as unknown[]) {
      if (Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string') out[pair[0]] = pair[1];
    }
  }
  return out;
}

function ovsUuids(v: unknown): string[] {
  if (Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string') return [v[1]];
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1])) return (v[1] as unknown[]).flatMap(ovsUuids);
  return [];
}

function parseTables(stdout: string): OvsTable[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OvsTable);
}

function rows(t: OvsTable): Record<string, unknown>[] {
  return t.data.map((r) => Object.fromEntries(t.headings.map((h, i) => [h, r[i]])));
}

/** The command that prints every port owned by `owner` and the bridge's port list, in one call. */
export function listPortsArgs(bridge: string, owner: string): string[] {
  return [
    '--format=json',
    '--columns=_uuid,name,tag,external_ids',
    'find',
    'port',
    `external_ids:${OWNER_KEY}=${owner}`,
    '--',
    '--columns=ports',
    'list',
    'bridge',
    bridge,
  ];
}

/** Parses the output of {@link listPortsArgs}: owned ports that are on the bridge, sorted by name. */
export function parseListPorts(stdout: string): PortInfo[] {
  const [ports, bridge] = parseTables(stdout);
  if (!ports || !bridge) throw new Error(`unexpected ovs-vsctl output: ${stdout.slice(0, 200)}`);
  const onBridge = new Set(rows(bridge).flatMap((r) => ovsUuids(r.ports)));
  return rows(ports)
    .filter((r) => ovsUuids(r._uuid).some((u) => onBridge.has(u)))
    .map((r) => {
      const tag = ovsValue(r.tag);
      return { name: String(r.name), vlan: typeof tag === 'number' ? tag : null, externalIds: ovsMap(r.external_ids) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The external_ids a port should carry: the caller's plus the owner mark. */
export function wantedExternalIds(spec: PortSpec, owner: string): Record<string, string> {
  return { ...(spec.externalIds ?? {}), [OWNER_KEY]: owner };
}

function quoteOvs(v: string): string {
  // ovs-vsctl parses map values with its own syntax; quote anything but plain tokens.
  return /^[A-Za-z0-9_.:/-]+$/.test(v) ? v : JSON.stringify(v);
}

/** A plan for one `applyPorts` call: what changes, and the ovs-vsctl arguments doing it (empty if none). */
export interface PortPlan extends PortChanges {
  args: string[];
}

/**
 * Plans one transaction that makes `desired` true on `bridge`, given the owned ports there now.
 * Unchanged ports produce no command; when nothing changes `args` is empty.
 */
export function planApplyPorts(bridge: string, owner: string, desired: readonly PortSpec[], current: readonly PortInfo[]): PortPlan {
  const now = new Map(current.map((p) => [p.name, p]));
  const seen = new Set<string>();
  const plan: PortPlan = { added: [], updated: [], unchanged: [], args: [] };
  for (const spec of desired) {
    checkIfName(spec.name, 'ports[].name');
    checkVlan(spec.vlan, 'ports[].vlan');
    if (seen.has(spec.name)) throw new DriverInputError('ports[].name', `port ${spec.name} given twice`);
    seen.add(spec.name);
    const want = wantedExternalIds(spec, owner);
    const setArgs = [`tag=${spec.vlan}`, ...Object.entries(want).map(([k, v]) => `external_ids:${quoteOvs(k)}=${quoteOvs(v)}`)];
    const have = now.get(spec.name);
    if (!have) {
      plan.added.push(spec.name);
      plan.args.push('--', '--may-exist', 'add-port', bridge, spec.name, '--', 'set', 'port', spec.name, ...setArgs);
      continue;
    }
    const stale = Object.keys(have.externalIds).filter((k) => !(k in want));
    const same = have.vlan === spec.vlan && stale.length === 0 && Object.entries(want).every(([k, v]) => have.externalIds[k] === v);
    if (same) {
      plan.unchanged.push(spec.name);
      continue;
    }
    plan.updated.push(spec.name);
    plan.args.push('--', 'set', 'port', spec.name, ...setArgs);
    if (stale.length > 0) plan.args.push('--', 'remove', 'port', spec.name, 'external_ids', ...stale.map(quoteOvs));
  }
  return plan;
}

/** Arguments that delete these ports from the bridge in one transaction (empty if none). */
export function planRemovePorts(bridge: string, names: readonly string[]): string[] {
  return names.flatMap((n) => ['--', '--if-exists', 'del-port', bridge, n]);
}
