import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sharedHeartbeatTimer } from './sim.js';

describe('sharedHeartbeatTimer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('beats every host once per interval, from one timer, in a few slots', () => {
    const repeat = sharedHeartbeatTimer(50);
    const beats = new Array<number>(1000).fill(0);
    const slotsUsed = new Set<number>();
    const stops = beats.map((_, i) =>
      repeat(1000, () => {
        beats[i]!++;
        slotsUsed.add(Date.now());
      }),
    );
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(beats.every((n) => n === 1)).toBe(true);
    expect(slotsUsed.size).toBeLessThanOrEqual(20); // 1000 beats in at most 20 turns of the loop
    vi.advanceTimersByTime(2000);
    expect(beats.every((n) => n === 3)).toBe(true);
    stops.forEach((stop) => stop());
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops a stopped beat and keeps the others', () => {
    const repeat = sharedHeartbeatTimer(50);
    let kept = 0;
    let stopped = 0;
    repeat(500, () => kept++);
    const stop = repeat(500, () => stopped++);
    vi.advanceTimersByTime(500);
    stop();
    stop(); // twice is harmless
    vi.advanceTimersByTime(1000);
    expect(kept).toBe(3);
    expect(stopped).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('keeps one timer per interval', () => {
    const repeat = sharedHeartbeatTimer(50);
    const a = repeat(1000, () => undefined);
    const b = repeat(200, () => undefined);
    expect(vi.getTimerCount()).toBe(2);
    a();
    b();
    expect(vi.getTimerCount()).toBe(0);
  });
});
