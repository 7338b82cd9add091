/** Parsers of option values shared by the commands; each names what it expected when it refuses. */
import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { parseCpuMillis, parseMemoryBytes } from '@fjord/core';

/** The largest value of the API's 32-bit fields (counts, limits, VLANs, cpu millicores). */
const UINT32_MAX = 4_294_967_295;

function parseWhole(value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new CommanderArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

/** A whole number, zero included, that fits the API's 32-bit fields. */
export function parseCount(value: string): number {
  return parseWhole(value, 0, UINT32_MAX);
}

/** A whole number above zero that fits the API's 32-bit fields. */
export function parsePositive(value: string): number {
  return parseWhole(value, 1, UINT32_MAX);
}

/** An event sequence number. */
export function parseSequence(value: string): number {
  return parseWhole(value, 0, Number.MAX_SAFE_INTEGER);
}

/** Cpu (`500m`, `2`), in millicores. */
export function parseCpuOption(value: string): number {
  const parsed = parseCpuMillis(value);
  if (!parsed.ok) throw new CommanderArgumentError(parsed.error.message);
  if (parsed.value > UINT32_MAX) throw new CommanderArgumentError(`${JSON.stringify(value)} is too much cpu: at most ${UINT32_MAX}m`);
  return parsed.value;
}

/** Memory (`256Mi`, `1Gi`), in bytes. */
export function parseMemoryOption(value: string): number {
  const parsed = parseMemoryBytes(value);
  if (!parsed.ok) throw new CommanderArgumentError(parsed.error.message);
  return parsed.value;
}
