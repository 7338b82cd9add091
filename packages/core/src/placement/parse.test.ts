import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { formatConstraint, formatCpuMillis, formatMemoryBytes, parseConstraint, parseConstraints, parseCpuMillis, parseMemoryBytes } from './parse.js';

describe('parseConstraint()', () => {
  it('reads label=value and label!=value', () => {
    expect(parseConstraint('zone=a')).toEqual({ ok: true, value: { label: 'zone', op: '=', value: 'a' } });
    expect(parseConstraint(' rack!=r1 ')).toEqual({ ok: true, value: { label: 'rack', op: '!=', value: 'r1' } });
    expect(parseConstraint('topology.fjord.io/rack=r-1.b')).toEqual({ ok: true, value: { label: 'topology.fjord.io/rack', op: '=', value: 'r-1.b' } });
  });

  it.each(['zone', 'zone=', '=a', '!=a', 'zone==a', 'zone=a!=b', 'zo ne=a', 'zone=a b', 'zone!a'])('refuses %j naming the field', (text) => {
    const result = parseConstraint(text, 'constraint');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toBeInstanceOf(InvalidArgumentError);
      expect(result.error.field).toBe('constraint');
    }
  });

  it('formats a constraint back to the text it came from', () => {
    for (const text of ['zone=a', 'rack!=r1']) {
      const parsed = parseConstraint(text);
      expect(parsed.ok && formatConstraint(parsed.value)).toBe(text);
    }
  });
});

describe('parseConstraints()', () => {
  it('names the offending item of the list', () => {
    const result = parseConstraints(['zone=a', 'rack'], 'constraints');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toBe('constraints[1]: "rack" must be label=value or label!=value');
    expect(parseConstraints(['zone=a', 'rack!=r1'])).toMatchObject({ ok: true, value: [{ label: 'zone' }, { label: 'rack' }] });
  });
});

describe('parseCpuMillis()', () => {
  it.each([
    ['500m', 500],
    ['2', 2000],
    ['0.5', 500],
    ['1.25', 1250],
    ['.1', 100],
    ['1m', 1],
  ])('reads %j as %d millicores', (text, millis) => {
    expect(parseCpuMillis(text)).toEqual({ ok: true, value: millis });
  });

  it.each(['', 'm', '-1', '0', '0m', '1.5m', '0.0001', '2 cores', '2c', '1e3', 'NaN'])('refuses %j', (text) => {
    const result = parseCpuMillis(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.field).toBe('cpu');
  });

  it('formats millicores back to what it reads', () => {
    expect([500, 2000, 1500].map(formatCpuMillis)).toEqual(['500m', '2', '1500m']);
  });
});

describe('parseMemoryBytes()', () => {
  it.each([
    ['256Mi', 256 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['512M', 512e6],
    ['2k', 2000],
    ['4Ki', 4096],
    ['1048576', 1048576],
    ['1Ti', 2 ** 40],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseMemoryBytes(text)).toEqual({ ok: true, value: bytes });
  });

  it.each(['', 'Mi', '-1Mi', '0', '1.5', '0.1Ki', '1MB', '1mi', '1 Gi', '99999999999Ti'])('refuses %j', (text) => {
    const result = parseMemoryBytes(text, 'memory');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.field).toBe('memory');
  });

  it('says what was wrong with the quantity', () => {
    const result = parseMemoryBytes('1MB');
    expect(!result.ok && result.error.message).toBe('memory: "1MB": unknown unit "MB", use Ki, Mi, Gi, Ti, k, M, G, T or none');
  });

  it('formats bytes with the largest exact binary unit', () => {
    expect([256 * 2 ** 20, 2 ** 30, 1000, 3 * 2 ** 40].map(formatMemoryBytes)).toEqual(['256Mi', '1Gi', '1000', '3Ti']);
  });
});
