import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { allocatableVlans, checkVlan, formatVlanRanges, isValidVlan, parseVlanRanges, rangeSize, rangesContain } from './vlan-range.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.field;
    throw err;
  }
  return undefined;
}

describe('parseVlanRanges()', () => {
  it('parses single ids and runs, sorted and merged', () => {
    expect(parseVlanRanges('100-3999,4000')).toEqual([{ first: 100, last: 4000 }]);
    expect(parseVlanRanges(' 300 , 10-20, 15-25 ')).toEqual([
      { first: 10, last: 25 },
      { first: 300, last: 300 },
    ]);
    expect(parseVlanRanges('1-4094')).toEqual([{ first: 1, last: 4094 }]);
  });

  it('formats back to the canonical form', () => {
    expect(formatVlanRanges(parseVlanRanges('4000,100-3999'))).toBe('100-4000');
    expect(formatVlanRanges(parseVlanRanges('5,7,9-10'))).toBe('5,7,9-10');
  });

  it('rejects ids outside 1..4094, reversed runs and garbage, naming the field', () => {
    for (const bad of ['', '0-10', '4095', '10-4095', '20-10', 'abc', '1-2-3', '10,,20', '-5']) {
      expect(fieldOf(() => parseVlanRanges(bad, 'vlan_ranges'))).toBe('vlan_ranges');
    }
    expect(() => parseVlanRanges('20-10')).toThrow(/reversed/);
    expect(() => parseVlanRanges('4095')).toThrow(/4095 is not a vlan id/);
  });
});

describe('allocatableVlans()', () => {
  it('excludes reserved ids', () => {
    expect(allocatableVlans(parseVlanRanges('100-105'), [101, 104, 200])).toEqual([100, 102, 103, 105]);
    expect(allocatableVlans(parseVlanRanges('100-3999'))).toHaveLength(3900);
  });

  it('rejects reserved ids that are not vlan ids', () => {
    expect(fieldOf(() => allocatableVlans(parseVlanRanges('1-10'), [0]))).toBe('reserved_vlans');
  });
});

describe('vlan id checks', () => {
  it('accepts exactly 1..4094', () => {
    expect(isValidVlan(1)).toBe(true);
    expect(isValidVlan(4094)).toBe(true);
    expect(isValidVlan(0)).toBe(false);
    expect(isValidVlan(4095)).toBe(false);
    expect(isValidVlan(1.5)).toBe(false);
    expect(checkVlan(7)).toBe(7);
    expect(fieldOf(() => checkVlan(5000))).toBe('vlan');
  });

  it('answers membership and size', () => {
    const runs = parseVlanRanges('10-19,30');
    expect(rangesContain(runs, 15)).toBe(true);
    expect(rangesContain(runs, 25)).toBe(false);
    expect(rangeSize(runs)).toBe(11);
  });
});
