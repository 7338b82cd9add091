/**
 * Hosts ranked best first for one request shape: a binary heap on score (highest first), then
 * position (lowest first), the order in which the placement scan picks. A batch of like requests
 * takes its hosts from the top one after another, re-scoring only the host just chosen, instead
 * of scanning the whole fleet for each request. @internal
 */
export class RankedHosts {
  private readonly positions: Int32Array;
  private readonly scores: Float64Array;
  private size = 0;

  constructor(capacity: number) {
    this.positions = new Int32Array(capacity);
    this.scores = new Float64Array(capacity);
  }

  /** Adds a host; call {@link heapify} once every host is added. */
  add(position: number, score: number): void {
    this.positions[this.size] = position;
    this.scores[this.size] = score;
    this.size++;
  }

  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The best host's position, or -1 when none is left. */
  top(): number {
    return this.size > 0 ? this.positions[0]! : -1;
  }

  /** The top host (`position`) took a request: it now scores `score`, or no longer fits (undefined). */
  rescoreTop(position: number, score: number | undefined): void {
    if (this.size === 0 || this.positions[0] !== position) throw new Error(`ranked hosts: ${position} is not the top host`);
    if (score === undefined) {
      this.size--;
      this.positions[0] = this.positions[this.size]!;
      this.scores[0] = this.scores[this.size]!;
    } else {
      this.scores[0] = score;
    }
    this.siftDown(0);
  }

  /** True when entry `a` ranks before entry `b`. */
  private before(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    return sa > sb || (sa === sb && this.positions[a]! < this.positions[b]!);
  }

  private siftDown(from: number): void {
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < this.size && this.before(left, best)) best = left;
      if (right < this.size && this.before(right, best)) best = right;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(a: number, b: number): void {
    const p = this.positions[a]!;
    this.positions[a] = this.positions[b]!;
    this.positions[b] = p;
    const s = this.scores[a]!;
    this.scores[a] = this.scores[b]!;
    this.scores[b] = s;
  }
}
