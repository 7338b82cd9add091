/**
 * IPv4 address and prefix arithmetic. Pure: addresses are unsigned 32-bit integers carried in
 * ordinary numbers (0 .. 2^32-1), never bit-twiddled through signed 32-bit operators.
 */
import { InvalidArgumentError } from './errors.js';

/** Number of addresses in the IPv4 space (2^32). */
const SPACE = 0x1_0000_0000;

/** A parsed IPv4 prefix: its network address as an integer and its length. */
export interface Cidr {
  /** Network address (host bits zero) as an unsigned 32-bit integer. */
  readonly network: number;
  /** Prefix length, 0..32. */
  readonly prefixLength: number;
}

/** Number of addresses covered by a prefix of this length (2^(32-len)). */
export function prefixSize(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

/** Parses a dotted-quad IPv4 address into an unsigned integer; `field` names the request field on failure. */
export function parseAddress(text: string, field = 'address'): number {
  const parts = text.split('.');
  if (parts.length !== 4) {
    throw new InvalidArgumentError(field, `${JSON.stringify(text)} is not an ipv4 address (want a.b.c.d)`);
  }
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) {
      throw new InvalidArgumentError(field, `${JSON.stringify(text)} is not an ipv4 address (octet ${JSON.stringify(part)} is not 0..255)`);
    }
    value = value * 256 + Number(part);
  }
  return value;
}

/** Formats an unsigned 32-bit integer as a dotted-quad IPv4 address. */
export function formatAddress(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value >= SPACE) {
    throw new RangeError(`format address: ${value} is not an unsigned 32-bit integer`);
  }
  return [value / 0x100_0000, value / 0x1_0000, value / 0x100, value].map((v) => Math.floor(v) % 256).join('.');
}

/**
 * Parses `a.b.c.d/len`. Host bits must be zero unless `strict` is false, in which case they are
 * cleared. `field` names the request field in the error.
 */
export function parseCidr(text: string, field = 'cidr', strict = true): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) {
    throw new InvalidArgumentError(field, `${JSON.stringify(text)} is not a cidr (want a.b.c.d/len)`);
  }
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(lenText) || Number(lenText) > 32) {
    throw new InvalidArgumentError(field, `${JSON.stringify(text)} has an invalid prefix length (want 0..32)`);
  }
  const prefixLength = Number(lenText);
  const address = parseAddress(text.slice(0, slash), field);
  const network = address - (address % prefixSize(prefixLength));
  if (strict && network !== address) {
    throw new InvalidArgumentError(
      field,
      `${JSON.stringify(text)} has host bits set (did you mean ${formatCidr({ network, prefixLength })}?)`,
    );
  }
  return { network, prefixLength };
}

/** Formats a prefix as `a.b.c.d/len`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.network)}/${cidr.prefixLength}`;
}

/** Total number of addresses in the prefix, including network and broadcast. */
export function addressCount(cidr: Cidr): number {
  return prefixSize(cidr.prefixLength);
}

/** The last address of the prefix (the broadcast address for prefixes shorter than /31). */
export function broadcastAddress(cidr: Cidr): number {
  return cidr.network + prefixSize(cidr.prefixLength) - 1;
}

/** The gateway by Fjord's convention: the first host address (network + 1). */
export function gatewayAddress(cidr: Cidr): number {
  return cidr.network + 1;
}

/**
 * Addresses a tenant can be given: everything except network, gateway and broadcast. Prefixes
 * longer than /30 have none.
 */
export function usableHostCount(cidr: Cidr): number {
  return Math.max(0, prefixSize(cidr.prefixLength) - 3);
}

/** Whether `address` lies inside the prefix. */
export function containsAddress(cidr: Cidr, address: number): boolean {
  return address >= cidr.network && address <= broadcastAddress(cidr);
}

/** Whether `inner` lies entirely inside `outer`. */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefixLength >= outer.prefixLength && containsAddress(outer, inner.network);
}

/** Why an address cannot be handed out, or `undefined` when it can (pure check; no allocation state). */
export function reservedReason(cidr: Cidr, address: number): 'outside' | 'network' | 'gateway' | 'broadcast' | undefined {
  if (!containsAddress(cidr, address)) return 'outside';
  if (address === cidr.network) return 'network';
  if (address === gatewayAddress(cidr)) return 'gateway';
  if (address === broadcastAddress(cidr)) return 'broadcast';
  return undefined;
}

/** Number of child prefixes of length `childPrefixLength` inside `parent`. */
export function childCount(parent: Cidr, childPrefixLength: number): number {
  checkChildLength(parent, childPrefixLength);
  return 2 ** (childPrefixLength - parent.prefixLength);
}

/** The `index`-th child prefix of length `childPrefixLength` inside `parent` (0-based, in address order). */
export function childCidr(parent: Cidr, childPrefixLength: number, index: number): Cidr {
  const count = childCount(parent, childPrefixLength);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`child ${index} of ${formatCidr(parent)}: out of range 0..${count - 1}`);
  }
  return { network: parent.network + index * prefixSize(childPrefixLength), prefixLength: childPrefixLength };
}

/** Every child prefix of length `childPrefixLength` inside `parent`, in address order. */
export function carveChildren(parent: Cidr, childPrefixLength: number): Cidr[] {
  const count = childCount(parent, childPrefixLength);
  const out: Cidr[] = [];
  for (let i = 0; i < count; i++) out.push(childCidr(parent, childPrefixLength, i));
  return out;
}

function checkChildLength(parent: Cidr, childPrefixLength: number): void {
  if (!Number.isInteger(childPrefixLength) || childPrefixLength < parent.prefixLength || childPrefixLength > 32) {
    throw new InvalidArgumentError(
      'prefix_length',
      `/${childPrefixLength} cannot be carved from ${formatCidr(parent)} (want ${parent.prefixLength}..32)`,
    );
  }
}
