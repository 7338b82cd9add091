/** Small helpers shared by the benchmarks: run N workers for a while, and summarize latencies. */

/** Latency percentiles in milliseconds, from samples in milliseconds. */
export function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: round(at(0.5)), p99: round(at(0.99)) };
}

/** Rounds to two decimals for printing. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Runs `concurrency` loops of `op` for `durationMs` and reports operations per second and latency.
 * `op` gets a global sequence number so that each call can be made unique.
 */
export async function runConcurrent(
  concurrency: number,
  durationMs: number,
  op: (seq: number) => Promise<void>,
): Promise<{ perSecond: number; p50: number; p99: number; count: number }> {
  const latencies: number[] = [];
  let seq = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await op(seq++);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { perSecond: Math.round(latencies.length / elapsed), count: latencies.length, ...percentiles(latencies) };
}

/** `work`, or an error naming `what` if it takes longer than `ms` (the calls carry no deadline). */
export async function within<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
