/**
 * Arithmetic of the soak (soak.test.ts): a least-squares line through memory samples, so a
 * leak shows as a slope rather than as the difference of two noisy readings.
 */

/** One memory reading of a process, `t` in milliseconds since the soak started. */
export interface MemorySample {
  t: number;
  rss: number;
  heapUsed: number;
}

/** A fitted line: `slope` in bytes per minute, and the growth it implies over the fitted span. */
export interface Trend {
  /** Bytes per minute. */
  slope: number;
  /** `slope` times the span of the fitted samples, in bytes. */
  growth: number;
  /** Span of the fitted samples in minutes. */
  minutes: number;
  /** Samples fitted. */
  samples: number;
}

/**
 * Least-squares slope of `value` over `t` for the samples at or after `fromMs`. Throws when fewer
 * than 3 samples remain: a slope through two noisy points says nothing.
 *
 * @example
 * ```ts
 * const rss = trend(samples, 30_000, (s) => s.rss);
 * console.log(`${(rss.slope / MiB).toFixed(2)} MiB/min`);
 * ```
 */
export function trend(
  samples: readonly MemorySample[],
  fromMs: number,
  value: (s: MemorySample) => number,
): Trend {
  const used = samples.filter((s) => s.t >= fromMs);
  if (used.length < 3) {
    throw new Error(`trend: ${used.length} samples after ${fromMs} ms; at least 3 are needed`);
  }
  const xs = used.map((s) => s.t / 60_000);
  const ys = used.map(value);
  const n = used.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    sxy += dx * ((ys[i] as number) - my);
    sxx += dx * dx;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const minutes = (xs[n - 1] as number) - (xs[0] as number);
  return { slope, growth: slope * minutes, minutes, samples: n };
}

/** Bytes in a MiB. */
export const MiB = 1024 * 1024;

/** `bytes` as MiB with a sign and 2 decimals, e.g. `+0.31`. */
export function mib(bytes: number): string {
  const v = bytes / MiB;
  return `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
}
