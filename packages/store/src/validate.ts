import { InvalidArgumentError } from '@fjord/core';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Throws InvalidArgumentError naming `field` unless `value` is a lowercase DNS-label-like name. */
export function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not a valid name (want [a-z0-9][a-z0-9-]{0,62})`);
  }
  return value;
}

/**
 * Throws InvalidArgumentError naming `field` unless `value` is a string of at most `max` characters
 * without NUL (which Postgres text cannot hold: one would fail every write it is part of).
 */
export function checkText(value: unknown, field: string, max = 255): string {
  if (typeof value !== 'string' || value.length > max) {
    throw new InvalidArgumentError(field, `must be a string of at most ${max} characters`);
  }
  if (value.includes('\0')) throw new InvalidArgumentError(field, 'must not contain a NUL character');
  return value;
}

/** Throws InvalidArgumentError naming `field` unless `value` is an integer in `min..max`. */
export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `${String(value)} is out of range (want an integer in ${min}..${max})`);
  }
  return value;
}
