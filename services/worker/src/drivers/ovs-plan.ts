/**
 * Pure parts of the Open vSwitch driver: validating port specs, and building and reading the OVSDB
 * transactions (RFC 7047, run with `ovsdb-client transact`) that list, apply and remove ports.
 *
 * Why raw OVSDB transactions rather than `ovs-vsctl`: `ovs-vsctl` loads the whole database into its
 * cache on every call and looks records up by linear scan, so a batch of 200 ports costs 0.5 ms per
 * port on an empty bridge but 3.5 ms per port at 1,800 ports, and one port at 2,000 ports 340 ms.
 * A transaction that inserts the rows and mutates the bridge's port set costs the same per port at
 * any size (see test/bench/ovs.ts). Idempotency comes from planning against what exists (one read)
 * and from the schema's unique name indexes, which make a duplicate insert fail the whole
 * transaction instead of creating a second port.
 */
import { DriverInputError } from '../errors.js';
import { OWNER_KEY, type PortChanges, type PortInfo, type PortSpec } from './types.js';

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

/** Throws {@link DriverInputError} unless `ip` is a dotted-quad IPv4 address. */
export function checkIpv4(ip: string, field = 'ip'): void {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new DriverInputError(field, `bad IPv4 address ${JSON.stringify(ip)}`);
  }
}

/** The Open vSwitch database name. */
export const OVSDB = 'Open_vSwitch';

/** One operation of an OVSDB transaction. */
export type OvsdbOp = Record<string, unknown>;

/** A Fjord port as read from the database, with its row id (needed to remove it). */
export interface PortRow extends PortInfo {
  uuid: string;
}

type Json = unknown;

function ovsValue(v: Json): Json {
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1]) && v[1].length === 0) return null;
  return v;
}

function ovsMap(v: Json): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === 'map' && Array.isArray(v[1])) {
    for (const pair of v[1] as Json[]) {
      if (Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string') out[pair[0]] = pair[1];
    }
  }
  return out;
}

function ovsUuids(v: Json): string[] {
  if (Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string') return [v[1]];
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1])) return (v[1] as Json[]).flatMap(ovsUuids);
  return [];
}

function toMap(m: Readonly<Record<string, string>>): Json {
  return ['map', Object.entries(m).sort(([a], [b]) => a.localeCompare(b))];
}

const byBridge = (bridge: string) => [['name', '==', bridge]];

/** A transaction that reads the ports owned by `owner` and the port set of `bridge`. */
export function listPortsTxn(bridge: string, owner: string): Json[] {
  return [
    OVSDB,
    {
      op: 'select',
      table: 'Port',
      where: [['external_ids', 'includes', toMap({ [OWNER_KEY]: owner })]],
      columns: ['_uuid', 'name', 'tag', 'external_ids'],
    },
    { op: 'select', table: 'Bridge', where: byBridge(bridge), columns: ['ports'] },
  ];
}

/** A failed operation of a transaction: OVSDB's error code and details. */
export interface TxnFailure {
  error: string;
  details?: string;
}

/**
 * Reads the results of a transaction (a transaction that fails still gets a reply: an array whose
 * failed operation, or an extra last entry, carries `error`): the results, or the first failure.
 */
export function txnResults(results: readonly unknown[]): { ok: true; results: Record<string, Json>[] } | ({ ok: false } & TxnFailure) {
  const rs = results.map((r) => (r && typeof r === 'object' ? (r as Record<string, Json>) : {}));
  const failed = rs.find((r) => typeof r.error === 'string');
  if (failed) return { ok: false, error: String(failed.error), ...(typeof failed.details === 'string' ? { details: failed.details } : {}) };
  return { ok: true, results: rs };
}

/** Parses {@link listPortsTxn} results: owned ports on the bridge, sorted by name, or null if the bridge is missing. */
export function parseListPorts(results: readonly Record<string, Json>[]): PortRow[] | null {
  const [ports, bridges] = results;
  const bridgeRows = (bridges?.rows ?? []) as Record<string, Json>[];
  if (bridgeRows.length === 0) return null;
  const onBridge = new Set(bridgeRows.flatMap((r) => ovsUuids(r.ports)));
  return ((ports?.rows ?? []) as Record<string, Json>[])
    .map((r) => {
      const tag = ovsValue(r.tag);
      return { uuid: ovsUuids(r._uuid)[0] ?? '', name: String(r.name), vlan: typeof tag === 'number' ? tag : null, externalIds: ovsMap(r.external_ids) };
    })
    .filter((p) => onBridge.has(p.uuid))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The external_ids a port should carry: the caller's plus the owner mark. */
export function wantedExternalIds(spec: PortSpec, owner: string): Record<string, string> {
  // Not `{ ...ids, [OWNER_KEY]: owner }`: a spread followed by a new key takes V8's slow path (~1 µs).
  const ids: Record<string, string> = Object.assign({}, spec.externalIds);
  ids[OWNER_KEY] = owner;
  return ids;
}

/** A plan for one `applyPorts` call: what changes, and the transaction doing it (null if nothing). */
export interface PortPlan extends PortChanges {
  txn: Json[] | null;
}

function sameMap(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Plans one transaction that makes `desired` true on `bridge`, given the owned ports there now:
 * missing ports are inserted (Interface + Port rows, added to the bridge's port set), ports with
 * another tag or other external_ids are updated in place, the rest produce nothing. The bridge
 * mutation must count 1 row, or the bridge is gone ({@link checkApplyResults}).
 */
export function planApplyPorts(bridge: string, owner: string, desired: readonly PortSpec[], current: readonly PortRow[]): PortPlan {
  const now = new Map(current.map((p) => [p.name, p]));
  const seen = new Set<string>();
  const plan: PortPlan = { added: [], updated: [], unchanged: [], txn: null };
  const ops: OvsdbOp[] = [];
  const newPorts: Json[] = [];
  for (const spec of desired) {
    checkIfName(spec.name, 'ports[].name');
    checkVlan(spec.vlan, 'ports[].vlan');
    if (seen.has(spec.name)) throw new DriverInputError('ports[].name', `port ${spec.name} given twice`);
    seen.add(spec.name);
    const want = wantedExternalIds(spec, owner);
    const have = now.get(spec.name);
    if (!have) {
      const i = plan.added.length;
      plan.added.push(spec.name);
      ops.push(
        { op: 'insert', table: 'Interface', row: { name: spec.name }, 'uuid-name': `i${i}` },
        { op: 'insert', table: 'Port', row: { name: spec.name, interfaces: ['named-uuid', `i${i}`], tag: spec.vlan, external_ids: toMap(want) }, 'uuid-name': `p${i}` },
      );
      newPorts.push(['named-uuid', `p${i}`]);
    } else if (have.vlan === spec.vlan && sameMap(have.externalIds, want)) {
      plan.unchanged.push(spec.name);
    } else {
      plan.updated.push(spec.name);
      ops.push({ op: 'update', table: 'Port', where: [['_uuid', '==', ['uuid', have.uuid]]], row: { tag: spec.vlan, external_ids: toMap(want) } });
    }
  }
  if (newPorts.length > 0) ops.push({ op: 'mutate', table: 'Bridge', where: byBridge(bridge), mutations: [['ports', 'insert', ['set', newPorts]]] });
  if (ops.length > 0) plan.txn = [OVSDB, ...ops];
  return plan;
}

/** A transaction that takes these ports (by row) off the bridge; the database drops the unreferenced rows. */
export function removePortsTxn(bridge: string, ports: readonly PortRow[]): Json[] | null {
  if (ports.length === 0) return null;
  return [OVSDB, { op: 'mutate', table: 'Bridge', where: byBridge(bridge), mutations: [['ports', 'delete', ['set', ports.map((p) => ['uuid', p.uuid])]]] }];
}

/**
 * Appended to a transaction, asks ovs-vswitchd to confirm it has applied it: bumps `next_cfg` and
 * reads it back; vswitchd sets `cur_cfg` to it once reconfigured ({@link curCfgTxn}).
 */
export const bumpCfgOps: readonly OvsdbOp[] = [
  { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
  { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
];

/** A transaction reading the configuration sequence number ovs-vswitchd has applied. */
export function curCfgTxn(): Json[] {
  return [OVSDB, { op: 'select', table: 'Open_vSwitch', where: [], columns: ['cur_cfg'] }];
}

/** The number a `select` of `column` on the Open_vSwitch table returned (the last result). */
export function cfgValue(results: readonly Record<string, Json>[], column: 'next_cfg' | 'cur_cfg'): number {
  const rows = results[results.length - 1]?.rows;
  const v = Array.isArray(rows) ? (rows[0] as Record<string, Json> | undefined)?.[column] : undefined;
  if (typeof v !== 'number') throw new Error(`no ${column} in the Open_vSwitch table`);
  return v;
}

/** Whether a transaction's bridge mutation (its last operation) found the bridge. */
export function bridgeMutated(results: readonly Record<string, Json>[]): boolean {
  return results[results.length - 1]?.count === 1;
}
