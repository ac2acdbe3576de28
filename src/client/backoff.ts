/**
 * Reconnect backoff of PROTOCOL.md section 4, as pure functions so the schedule can be tested
 * without timers: first try after a random 0-250 ms, then exponential from 500 ms to 10 s with
 * +-25% jitter.
 */
import { IpcError } from '../core/errors.ts';

/**
 * How an {@link IpcClient} retries a lost (or not yet made) connection.
 *
 * @example
 * ```ts
 * const fast: ReconnectOptions = { firstDelayMaxMs: 0, initialDelayMs: 50, maxDelayMs: 200 };
 * ```
 */
export interface ReconnectOptions {
  /** The first retry waits a random time in `[0, firstDelayMaxMs)`. Default 250 ms. */
  firstDelayMaxMs?: number;
  /** Base delay of the second retry; each later retry doubles it. Default 500 ms. */
  initialDelayMs?: number;
  /** Largest base delay (jitter is applied to the capped value). Default 10 000 ms. */
  maxDelayMs?: number;
  /** Relative jitter applied to every exponential delay: +-`jitter` x delay. Default 0.25. */
  jitter?: number;
  /** Consecutive failed retries after which the client gives up and closes. Default Infinity. */
  maxAttempts?: number;
}

/** {@link ReconnectOptions} with every default filled in. */
export type ResolvedReconnectOptions = Required<ReconnectOptions>;

/** The defaults of {@link ReconnectOptions} (PROTOCOL.md section 4). */
export const DEFAULT_RECONNECT: Readonly<ResolvedReconnectOptions> = Object.freeze({
  firstDelayMaxMs: 250,
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  jitter: 0.25,
  maxAttempts: Infinity,
});

/**
 * Fills in defaults and validates. Throws ERR_INVALID_ARGUMENT for negative or non-numeric
 * values, a jitter outside [0, 1), or `maxDelayMs < initialDelayMs`.
 *
 * @example
 * ```ts
 * resolveReconnectOptions({ initialDelayMs: 100 }).maxDelayMs; // 10000
 * ```
 */
export function resolveReconnectOptions(options: ReconnectOptions = {}): ResolvedReconnectOptions {
  const r: ResolvedReconnectOptions = { ...DEFAULT_RECONNECT };
  for (const key of Object.keys(DEFAULT_RECONNECT) as (keyof ReconnectOptions)[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `reconnect.${key} must be a number >= 0 (got ${String(v)})`,
      );
    }
    r[key] = v;
  }
  if (r.jitter >= 1) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `reconnect.jitter must be below 1 (got ${r.jitter})`,
    );
  }
  if (r.maxDelayMs < r.initialDelayMs) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `reconnect.maxDelayMs (${r.maxDelayMs}) is below reconnect.initialDelayMs (${r.initialDelayMs})`,
    );
  }
  if (r.maxAttempts !== Infinity && !Number.isInteger(r.maxAttempts)) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `reconnect.maxAttempts must be an integer or Infinity`,
    );
  }
  return r;
}

/**
 * The base (un-jittered) delay of retry number `attempt` (1-based) for attempts >= 2:
 * `min(maxDelayMs, initialDelayMs * 2^(attempt - 2))`. Attempt 1 has no base (it is uniformly
 * random in `[0, firstDelayMaxMs)`); this returns `firstDelayMaxMs` for it.
 *
 * @example
 * ```ts
 * const o = resolveReconnectOptions();
 * [2, 3, 4, 5, 6, 7, 8].map((n) => backoffBaseMs(n, o)); // [500, 1000, 2000, 4000, 8000, 10000, 10000]
 * ```
 */
export function backoffBaseMs(attempt: number, options: ResolvedReconnectOptions): number {
  if (attempt <= 1) return options.firstDelayMaxMs;
  // Capping the exponent keeps 2 ** n finite for any attempt count.
  const exp = Math.min(attempt - 2, 52);
  return Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exp);
}

/**
 * The delay before retry number `attempt` (1-based, counted since the last successful
 * registration): attempt 1 waits `random * firstDelayMaxMs`; later attempts wait
 * `backoffBaseMs(attempt) * (1 + jitter * (2 * random - 1))`, i.e. within +-25% of the base by
 * default, never above `maxDelayMs` (at the 10 s cap: 7.5 s to 10 s). `random` is injectable for tests.
 *
 * @example
 * ```ts
 * const o = resolveReconnectOptions();
 * backoffDelayMs(1, o, () => 0.5); // 125
 * backoffDelayMs(2, o, () => 0);   // 375  (500 - 25%)
 * backoffDelayMs(3, o, () => 1);   // 1250 (1000 + 25%)
 * ```
 */
export function backoffDelayMs(
  attempt: number,
  options: ResolvedReconnectOptions,
  random: () => number = Math.random,
): number {
  const r = Math.min(1, Math.max(0, random()));
  if (attempt <= 1) return Math.round(r * options.firstDelayMaxMs);
  const base = backoffBaseMs(attempt, options);
  // The cap holds after jitter too, so no wait ever exceeds maxDelayMs.
  return Math.min(options.maxDelayMs, Math.max(0, Math.round(base * (1 + options.jitter * (2 * r - 1)))));
}
