/**
 * How much the benchmark's own process (its gRPC client and the simulated hosts) stalled during a
 * phase: its garbage-collection pauses and how late its event loop ran. A request measured by the
 * client is late by at least the client's own stall, so these say how much of a phase's tail the
 * measuring process itself may account for.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** A phase's stalls of this process. */
export interface PhaseStalls {
  /** Milliseconds of GC pause per second of the phase. */
  gcPauseMsPerS: number;
  /** The longest GC pause, milliseconds. */
  gcPauseMaxMs: number;
  /** 99th percentile and maximum of the event loop's delay, milliseconds (sampled every 5 ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Starts measuring; the returned function ends the phase and gives its stalls. */
export function stallMeter(): () => PhaseStalls {
  const start = performance.now();
  const pauses: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push(entry.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  return () => {
    delay.disable();
    observer.disconnect();
    const seconds = (performance.now() - start) / 1000;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100; // two decimals
    return {
      gcPauseMsPerS: Math.round((pauses.reduce((a, b) => a + b, 0) / seconds) * 100) / 100,
      gcPauseMaxMs: Math.round(Math.max(0, ...pauses) * 100) / 100,
      loopDelayP99Ms: ms(delay.percentile(99)),
      loopDelayMaxMs: ms(delay.max),
    };
  };
}
