/**
 * How much the benchmark's own process (its gRPC client and the simulated hosts) stalled during a
 * phase: its garbage-collection pauses and how late its event loop ran. A request measured by the
 * client is late by at least the client's own stall, so these say how much of a phase's tail the
 * measuring process itself may account for.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { round } from './measure.js';

/** How often the event loop's delay is sampled, ms. */
const RESOLUTION_MS = 5;

/** A phase's stalls of this process. */
export interface PhaseStalls {
  /** Milliseconds of GC pause per second of the phase. */
  gcPauseMsPerS: number;
  /** The longest GC pause, milliseconds. */
  gcPauseMaxMs: number;
  /**
   * How late a timer due every {@link RESOLUTION_MS} ran, milliseconds: the 99th percentile over
   * those timers (a stall of 50 ms is one sample, not ten).
   */
  loopDelayP99Ms: number;
  /** The longest such lateness, milliseconds. */
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
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  return () => {
    delay.disable();
    // Entries arrive a tick late: take those not delivered yet, or the phase's last pauses are lost.
    for (const entry of observer.takeRecords()) pauses.push(entry.duration);
    observer.disconnect();
    const seconds = (performance.now() - start) / 1000;
    // The histogram holds the time between the timer's runs (ns); lateness is that less its period.
    const lateMs = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS));
    return {
      gcPauseMsPerS: round(pauses.reduce((a, b) => a + b, 0) / seconds),
      gcPauseMaxMs: round(Math.max(0, ...pauses)),
      loopDelayP99Ms: lateMs(delay.percentile(99)),
      loopDelayMaxMs: lateMs(delay.max),
    };
  };
}
