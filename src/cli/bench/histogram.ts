/**
 * Latency samples and their percentiles. Samples are kept as they are (a bounded phase never
 * holds more than a few hundred thousand), so every percentile is exact, by nearest rank.
 */

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** The nearest-rank percentile q (0 < q <= 1) of an ascending array; NaN when empty. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export class LatencyRecorder {
  private samples: Float64Array;
  private n = 0;

  constructor(initialCapacity = 4096) {
    this.samples = new Float64Array(Math.max(1, initialCapacity));
  }

  record(value: number): void {
    if (this.n === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = value;
  }

  get count(): number {
    return this.n;
  }

  /** Percentiles of what was recorded, or null when nothing was. */
  percentiles(): Percentiles | null {
    if (this.n === 0) return null;
    const sorted = this.samples.slice(0, this.n).sort();
    return {
      p50: nearestRank(sorted, 0.5),
      p90: nearestRank(sorted, 0.9),
      p99: nearestRank(sorted, 0.99),
      p999: nearestRank(sorted, 0.999),
      max: sorted[this.n - 1]!,
    };
  }
}
