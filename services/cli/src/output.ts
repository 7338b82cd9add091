/** Formats rows as an aligned text table with upper-case headers; `(none)` when empty. */
export function formatTable(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  if (rows.length === 0) return '(none)';
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** Prints rows as an aligned text table (see {@link formatTable}). */
export function printTable(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  console.log(formatTable(columns, rows));
}

/** Prints a value as indented JSON (bigints as strings) for `--json`. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

/** Prints `key: value` lines for one record. */
export function printRecord(record: Record<string, string | number | boolean>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) console.log(`${`${key}:`.padEnd(width + 2)}${value}`);
}
