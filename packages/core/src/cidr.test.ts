import { describe, expect, it } from 'vitest';
import {
  addressCount,
  broadcastAddress,
  carveChildren,
  childCidr,
  childCount,
  containsAddress,
  containsCidr,
  formatAddress,
  formatCidr,
  gatewayAddress,
  parseAddress,
  parseCidr,
  reservedReason,
  usableHostCount,
} from './cidr.js';
import { InvalidArgumentError } from './errors.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.field;
    throw err;
  }
  return undefined;
}

describe('parseAddress() and formatAddress()', () => {
  it('round-trips the edges of the space', () => {
    for (const text of ['0.0.0.0', '10.0.0.1', '192.168.255.254', '255.255.255.255']) {
      expect(formatAddress(parseAddress(text))).toBe(text);
    }
    expect(parseAddress('255.255.255.255')).toBe(4294967295);
    expect(parseAddress('10.1.2.3')).toBe(0x0a010203);
  });

  it('rejects malformed addresses naming the field', () => {
    for (const bad of ['', '10.0.0', '10.0.0.256', '10.0.0.01', 'a.b.c.d', '10.0.0.1.2', '-1.0.0.0', '1..2.3']) {
      expect(fieldOf(() => parseAddress(bad, 'address'))).toBe('address');
    }
    expect(() => parseAddress('10.0.0.x', 'gateway')).toThrow(/^gateway: "10\.0\.0\.x" is not an ipv4 address/);
  });

  it('refuses to format numbers outside the space', () => {
    expect(() => formatAddress(-1)).toThrow(RangeError);
    expect(() => formatAddress(2 ** 32)).toThrow(RangeError);
  });
});

describe('parseCidr()', () => {
  it('parses and formats prefixes', () => {
    const c = parseCidr('10.20.0.0/16');
    expect(c).toEqual({ network: 0x0a140000, prefixLength: 16 });
    expect(formatCidr(c)).toBe('10.20.0.0/16');
    expect(formatCidr(parseCidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('10.0.0.7/32'))).toBe('10.0.0.7/32');
  });

  it('rejects host bits unless told to clear them', () => {
    expect(() => parseCidr('10.0.0.1/24')).toThrow(/cidr: "10\.0\.0\.1\/24" has host bits set \(did you mean 10\.0\.0\.0\/24\?\)/);
    expect(formatCidr(parseCidr('10.0.0.1/24', 'cidr', false))).toBe('10.0.0.0/24');
  });

  it('rejects malformed text naming the field', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/024', 'x/24', '10.0.0.0/2 4']) {
      expect(fieldOf(() => parseCidr(bad, 'subnet_pool'))).toBe('subnet_pool');
    }
  });
});

describe('prefix arithmetic', () => {
  const c = parseCidr('192.168.1.0/24');

  it('finds network, gateway and broadcast', () => {
    expect(formatAddress(c.network)).toBe('192.168.1.0');
    expect(formatAddress(gatewayAddress(c))).toBe('192.168.1.1');
    expect(formatAddress(broadcastAddress(c))).toBe('192.168.1.255');
    expect(formatAddress(broadcastAddress(parseCidr('0.0.0.0/0')))).toBe('255.255.255.255');
  });

  it('counts addresses and usable hosts', () => {
    expect(addressCount(c)).toBe(256);
    expect(usableHostCount(c)).toBe(253);
    expect(usableHostCount(parseCidr('10.0.0.0/30'))).toBe(1);
    expect(usableHostCount(parseCidr('10.0.0.0/31'))).toBe(0);
    expect(usableHostCount(parseCidr('10.0.0.0/32'))).toBe(0);
    expect(addressCount(parseCidr('0.0.0.0/0'))).toBe(2 ** 32);
  });

  it('tests containment of addresses and prefixes', () => {
    expect(containsAddress(c, parseAddress('192.168.1.77'))).toBe(true);
    expect(containsAddress(c, parseAddress('192.168.2.0'))).toBe(false);
    expect(containsAddress(c, parseAddress('192.168.0.255'))).toBe(false);
    expect(containsCidr(parseCidr('192.168.0.0/16'), c)).toBe(true);
    expect(containsCidr(c, parseCidr('192.168.0.0/16'))).toBe(false);
    expect(containsCidr(c, parseCidr('192.168.1.128/25'))).toBe(true);
    expect(containsCidr(c, parseCidr('192.168.2.0/25'))).toBe(false);
  });

  it('explains why an address is not assignable', () => {
    expect(reservedReason(c, parseAddress('192.168.1.0'))).toBe('network');
    expect(reservedReason(c, parseAddress('192.168.1.1'))).toBe('gateway');
    expect(reservedReason(c, parseAddress('192.168.1.255'))).toBe('broadcast');
    expect(reservedReason(c, parseAddress('192.168.1.2'))).toBeUndefined();
    expect(reservedReason(c, parseAddress('10.0.0.2'))).toBe('outside');
  });
});

describe('carving child prefixes', () => {
  const pool = parseCidr('10.0.0.0/16');

  it('counts and lists children in address order', () => {
    expect(childCount(pool, 24)).toBe(256);
    expect(childCount(pool, 16)).toBe(1);
    const kids = carveChildren(parseCidr('10.0.0.0/22'), 24).map(formatCidr);
    expect(kids).toEqual(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24']);
    expect(formatCidr(childCidr(pool, 24, 255))).toBe('10.0.255.0/24');
  });

  it('never yields overlapping children', () => {
    const kids = carveChildren(parseCidr('172.16.0.0/20'), 26);
    for (let i = 1; i < kids.length; i++) {
      expect(kids[i]!.network).toBe(broadcastAddress(kids[i - 1]!) + 1);
    }
  });

  it('rejects child lengths shorter than the parent or beyond /32', () => {
    expect(fieldOf(() => childCount(pool, 8))).toBe('prefix_length');
    expect(fieldOf(() => childCount(pool, 33))).toBe('prefix_length');
    expect(() => childCidr(pool, 24, 256)).toThrow(RangeError);
  });
});
