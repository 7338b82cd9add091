/**
 * VLAN range expressions such as `"100-3999,4000"`. Pure parsing and set arithmetic over
 * 802.1Q ids 1..4094.
 */
import { InvalidArgumentError } from './errors.js';

/** Lowest usable 802.1Q VLAN id. */
export const MIN_VLAN = 1;
/** Highest usable 802.1Q VLAN id (4095 is reserved by the standard). */
export const MAX_VLAN = 4094;

/** An inclusive run of VLAN ids. */
export interface VlanRange {
  /** First id in the run. */
  readonly first: number;
  /** Last id in the run (inclusive). */
  readonly last: number;
}

/** Whether `vlan` is a valid 802.1Q id (an integer in 1..4094). */
export function isValidVlan(vlan: number): boolean {
  return Number.isInteger(vlan) && vlan >= MIN_VLAN && vlan <= MAX_VLAN;
}

/** Throws InvalidArgumentError naming `field` unless `vlan` is an integer in 1..4094. */
export function checkVlan(vlan: number, field = 'vlan'): number {
  if (!isValidVlan(vlan)) {
    throw new InvalidArgumentError(field, `${vlan} is not a vlan id (want ${MIN_VLAN}..${MAX_VLAN})`);
  }
  return vlan;
}

/**
 * Parses `"100-3999,4000"` into sorted, merged runs. Whitespace around items is ignored; empty
 * items, reversed runs and ids outside 1..4094 are errors naming `field`.
 */
export function parseVlanRanges(text: string, field = 'vlan_ranges'): VlanRange[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) {
    throw new InvalidArgumentError(field, 'empty vlan range (want e.g. "100-3999")');
  }
  const runs: VlanRange[] = [];
  for (const item of items) {
    const m = /^([0-9]+)(?:\s*-\s*([0-9]+))?$/.exec(item);
    if (!m) {
      throw new InvalidArgumentError(field, `${JSON.stringify(item)} is not a vlan id or range (want "n" or "n-m")`);
    }
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (const v of [first, last]) {
      if (!isValidVlan(v)) {
        throw new InvalidArgumentError(field, `${JSON.stringify(item)}: ${v} is not a vlan id (want ${MIN_VLAN}..${MAX_VLAN})`);
      }
    }
    if (last < first) {
      throw new InvalidArgumentError(field, `${JSON.stringify(item)} is reversed (first must not exceed last)`);
    }
    runs.push({ first, last });
  }
  return mergeRanges(runs);
}

/** Sorts runs and merges overlapping or adjacent ones. */
export function mergeRanges(runs: readonly VlanRange[]): VlanRange[] {
  const sorted = [...runs].sort((a, b) => a.first - b.first);
  const out: { first: number; last: number }[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && r.first <= prev.last + 1) prev.last = Math.max(prev.last, r.last);
    else out.push({ first: r.first, last: r.last });
  }
  return out;
}

/** Formats runs back to the canonical text form (`"100-3999,4000"` → `"100-4000"`). */
export function formatVlanRanges(runs: readonly VlanRange[]): string {
  return mergeRanges(runs)
    .map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`))
    .join(',');
}

/** Whether `vlan` falls in any run. */
export function rangesContain(runs: readonly VlanRange[], vlan: number): boolean {
  return runs.some((r) => vlan >= r.first && vlan <= r.last);
}

/**
 * The ids an allocator may hand out: every id in `runs` except `reserved`, ascending. Reserved ids
 * must themselves be valid VLAN ids (checked, naming `field`).
 */
export function allocatableVlans(runs: readonly VlanRange[], reserved: readonly number[] = [], field = 'reserved_vlans'): number[] {
  for (const v of reserved) checkVlan(v, field);
  const skip = new Set(reserved);
  const out: number[] = [];
  for (const r of mergeRanges(runs)) {
    for (let v = r.first; v <= r.last; v++) if (!skip.has(v)) out.push(v);
  }
  return out;
}

/** Number of ids in the runs (before reserved exclusions). */
export function rangeSize(runs: readonly VlanRange[]): number {
  return mergeRanges(runs).reduce((n, r) => n + r.last - r.first + 1, 0);
}
