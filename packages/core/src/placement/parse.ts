/**
 * Parsers for what people type: label constraints (`zone=a`, `rack!=r1`), cpu (`500m`, `2`) and
 * memory (`256Mi`, `1Gi`, `512M`, `1048576`). The CLI and the gRPC edge call them; bad input comes
 * back as a value holding an {@link InvalidArgumentError} that names the field (STYLE.md item 15).
 */
import type { LabelConstraint } from '../domain.js';
import { InvalidArgumentError } from '../errors.js';

/** The outcome of a parser: the value, or the error to hand back to the caller. */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: InvalidArgumentError };

function invalid(field: string, message: string): { ok: false; error: InvalidArgumentError } {
  return { ok: false, error: new InvalidArgumentError(field, message) };
}

const labelKey = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;
const labelValue = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** Whether `key` is a valid label key (as in constraints and spread labels). */
export function isLabelKey(key: string): boolean {
  return labelKey.test(key);
}

/** Parses one label constraint, `label=value` or `label!=value`. */
export function parseConstraint(text: string, field = 'constraints'): ParseResult<LabelConstraint> {
  const trimmed = text.trim();
  const notEqual = trimmed.indexOf('!=');
  const equal = trimmed.indexOf('=');
  if (equal < 0) return invalid(field, `${JSON.stringify(text)} must be label=value or label!=value`);
  const op = notEqual >= 0 && notEqual === equal - 1 ? '!=' : '=';
  const label = trimmed.slice(0, op === '!=' ? notEqual : equal);
  const value = trimmed.slice(equal + 1);
  if (!labelKey.test(label)) {
    return invalid(field, `${JSON.stringify(text)}: label ${JSON.stringify(label)} must be letters, digits, '.', '_', '-' or '/'`);
  }
  if (!labelValue.test(value)) {
    return invalid(field, `${JSON.stringify(text)}: value ${JSON.stringify(value)} must be 1-63 letters, digits, '.', '_' or '-'`);
  }
  return { ok: true, value: { label, op, value } };
}

/** Parses a list of label constraints; the error names the offending item (`constraints[2]`). */
export function parseConstraints(texts: readonly string[], field = 'constraints'): ParseResult<LabelConstraint[]> {
  const constraints: LabelConstraint[] = [];
  for (let i = 0; i < texts.length; i++) {
    const parsed = parseConstraint(texts[i]!, `${field}[${i}]`);
    if (!parsed.ok) return parsed;
    constraints.push(parsed.value);
  }
  return { ok: true, value: constraints };
}

const decimal = /^(\d+(?:\.\d+)?|\.\d+)([A-Za-z]*)$/;

/**
 * Parses a cpu quantity into millicores: `500m` → 500, `2` → 2000, `0.5` → 500. It must be
 * positive and a whole number of millicores.
 */
export function parseCpuMillis(text: string, field = 'cpu'): ParseResult<number> {
  const match = decimal.exec(text.trim());
  if (match === null) return invalid(field, `${JSON.stringify(text)} must be a number of cores (2, 0.5) or millicores (500m)`);
  const [, number, unit] = match as unknown as [string, string, string];
  let millis: number;
  if (unit === 'm') millis = Number(number);
  else if (unit === '') millis = Number(number) * 1000;
  else return invalid(field, `${JSON.stringify(text)}: unknown unit ${JSON.stringify(unit)}, use m or none`);
  millis = roundTiny(millis);
  if (!Number.isSafeInteger(millis)) return invalid(field, `${JSON.stringify(text)} must be a whole number of millicores`);
  if (millis <= 0) return invalid(field, `${JSON.stringify(text)} must be more than zero`);
  return { ok: true, value: millis };
}

const memoryUnits: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/**
 * Parses a memory quantity into bytes: plain bytes (`1048576`), decimal units (`512M` = 512·10⁶,
 * also k/K, G, T) or binary units (`256Mi`, `1Gi`, also Ki, Ti). It must be positive and a whole
 * number of bytes.
 */
export function parseMemoryBytes(text: string, field = 'memory'): ParseResult<number> {
  const match = decimal.exec(text.trim());
  if (match === null) return invalid(field, `${JSON.stringify(text)} must be bytes or a number with a unit (256Mi, 1Gi, 512M)`);
  const [, number, unit] = match as unknown as [string, string, string];
  const scale = Object.prototype.hasOwnProperty.call(memoryUnits, unit) ? memoryUnits[unit] : undefined;
  if (scale === undefined) {
    return invalid(field, `${JSON.stringify(text)}: unknown unit ${JSON.stringify(unit)}, use Ki, Mi, Gi, Ti, k, M, G, T or none`);
  }
  const bytes = roundTiny(Number(number) * scale);
  if (!Number.isSafeInteger(bytes)) return invalid(field, `${JSON.stringify(text)} must be a whole number of bytes, at most 2^53`);
  if (bytes <= 0) return invalid(field, `${JSON.stringify(text)} must be more than zero`);
  return { ok: true, value: bytes };
}

/** Rounds away floating-point noise from decimal scaling (0.1 * 1000 = 100.00000000000001). */
function roundTiny(x: number): number {
  const rounded = Math.round(x);
  return Math.abs(x - rounded) < 1e-6 ? rounded : x;
}

/** Formats a constraint back to its text form (`zone=a`, `rack!=r1`). */
export function formatConstraint(constraint: LabelConstraint): string {
  return `${constraint.label}${constraint.op}${constraint.value}`;
}

/** Formats millicores the way {@link parseCpuMillis} reads them (`500m`, `2`). */
export function formatCpuMillis(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Formats bytes with the largest binary unit that divides them exactly (`256Mi`, `1Gi`, `1000`). */
export function formatMemoryBytes(bytes: number): string {
  for (const unit of ['Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const scale = memoryUnits[unit]!;
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return String(bytes);
}
