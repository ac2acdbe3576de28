const U32_MAX = 0xffff_ffff;

let lastTransactionId = 0;

/**
 * Returns the next transaction id of this process: a u32 counter that starts at 1 and wraps
 * from 2^32-1 back to 1, so 0 (the "no reply expected" id) is never issued.
 *
 * @example
 * ```ts
 * const id = nextTransactionId(); // 1, 2, 3, ...
 * ```
 */
export function nextTransactionId(): number {
  lastTransactionId = lastTransactionId >= U32_MAX ? 1 : lastTransactionId + 1;
  return lastTransactionId;
}

/**
 * Test hook: makes the next call of {@link nextTransactionId} return `value + 1` (wrapped).
 * @internal
 */
export function setLastTransactionId(value: number): void {
  lastTransactionId = value >>> 0;
}

/**
 * Milliseconds since the UNIX epoch, as carried in `timecode`.
 *
 * @example
 * ```ts
 * const msg = CommandMessage.request('press1.start', {});
 * msg.timecode <= currentTimecode(); // true
 * ```
 */
export function currentTimecode(): number {
  return Date.now();
}

/** True for an integer in 0..2^32-1. */
export function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= U32_MAX;
}
