import { describe, expect, it } from 'vitest';
import { parseCount, parseCpuOption, parsePositive, parseSequence } from './options.js';

describe('option parsers', () => {
  it('take whole numbers within what the API carries, and name the range when refusing', () => {
    expect(parseCount('0')).toBe(0);
    expect(parseCount('4294967295')).toBe(4_294_967_295);
    expect(() => parseCount('4294967296')).toThrow('expected a whole number from 0 to 4294967295, got "4294967296"');
    expect(() => parseCount('-1')).toThrow('expected a whole number from 0 to 4294967295, got "-1"');
    expect(() => parsePositive('0')).toThrow('expected a whole number from 1 to 4294967295, got "0"');
    expect(parseSequence('4294967296')).toBe(4_294_967_296);
    expect(() => parseSequence('99999999999999999999')).toThrow('expected a whole number from 0 to 9007199254740991');
  });

  it('refuse more cpu than a request can carry', () => {
    expect(parseCpuOption('2')).toBe(2000);
    expect(parseCpuOption('4294967295m')).toBe(4_294_967_295);
    expect(() => parseCpuOption('99999999')).toThrow('"99999999" is too much cpu: at most 4294967295m');
  });
});
