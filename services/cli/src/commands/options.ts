/** Parsers of option values shared by the commands; each names what it expected when it refuses. */
import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { parseCpuMillis, parseMemoryBytes } from '@fjord/core';

/** The largest value of the API's 32-bit fields (counts, limits, VLANs, cpu millicores). */
const UINT32_MAX = 4_294_967_295;

/**
 * A parser of whole numbers from `min` to `max`; its refusal says `what` it expected and, after the
 * minimum, `minWhy`.
 */
export function wholeNumber({ min, max, what = 'a whole number', minWhy }: { min: number; max: number; what?: string; minWhy?: string }): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new CommanderArgumentError(`expected ${what} from ${min}${minWhy ? ` (${minWhy})` : ''} to ${max}, got "${value}"`);
    }
    return Number(value);
  };
}

/** A whole number, zero included, that fits the API's 32-bit fields. */
export const parseCount = wholeNumber({ min: 0, max: UINT32_MAX });

/** A whole number above zero that fits the API's 32-bit fields. */
export const parsePositive = wholeNumber({ min: 1, max: UINT32_MAX });

/** An event sequence number. */
export const parseSequence = wholeNumber({ min: 0, max: Number.MAX_SAFE_INTEGER });

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
