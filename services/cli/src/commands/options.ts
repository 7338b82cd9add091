/** Parsers of option values shared by the commands; each names what it expected when it refuses. */
import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { parseCpuMillis, parseMemoryBytes } from '@fjord/core';

/** A whole number, zero included. */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError(`expected a whole number, got "${value}"`);
  return Number(value);
}

/** A whole number above zero. */
export function parsePositive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CommanderArgumentError(`expected a positive whole number, got "${value}"`);
  return Number(value);
}

/** Cpu (`500m`, `2`), in millicores. */
export function parseCpuOption(value: string): number {
  const parsed = parseCpuMillis(value);
  if (!parsed.ok) throw new CommanderArgumentError(parsed.error.message);
  return parsed.value;
}

/** Memory (`256Mi`, `1Gi`), in bytes. */
export function parseMemoryOption(value: string): number {
  const parsed = parseMemoryBytes(value);
  if (!parsed.ok) throw new CommanderArgumentError(parsed.error.message);
  return parsed.value;
}
