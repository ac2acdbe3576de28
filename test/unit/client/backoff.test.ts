import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECONNECT,
  backoffBaseMs,
  backoffDelayMs,
  resolveReconnectOptions,
} from '../../../src/client/backoff.ts';
import { IpcError } from '../../../src/core/errors.ts';

const defaults = resolveReconnectOptions();

describe('reconnect backoff', () => {
  it('has the PROTOCOL.md section 4 defaults', () => {
    expect(DEFAULT_RECONNECT).toEqual({
      firstDelayMaxMs: 250,
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      jitter: 0.25,
      maxAttempts: Infinity,
    });
  });

  it('waits a random 0-250 ms before the first retry', () => {
    expect(backoffDelayMs(1, defaults, () => 0)).toBe(0);
    expect(backoffDelayMs(1, defaults, () => 0.5)).toBe(125);
    expect(backoffDelayMs(1, defaults, () => 0.999)).toBeLessThanOrEqual(250);
  });

  it('doubles from 500 ms and caps at 10 s', () => {
    expect([2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => backoffBaseMs(n, defaults))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000,
    ]);
  });

  it('applies +-25% jitter to the capped base', () => {
    expect(backoffDelayMs(2, defaults, () => 0)).toBe(375);
    expect(backoffDelayMs(2, defaults, () => 0.5)).toBe(500);
    expect(backoffDelayMs(2, defaults, () => 1)).toBe(625);
    expect(backoffDelayMs(20, defaults, () => 0)).toBe(7500);
    expect(backoffDelayMs(20, defaults, () => 1)).toBe(10_000);
    expect(backoffDelayMs(20, defaults, () => 0)).toBe(7_500);
  });

  it('stays within the jitter band for any random value', () => {
    for (let attempt = 2; attempt < 12; attempt++) {
      const base = backoffBaseMs(attempt, defaults);
      for (let i = 0; i < 200; i++) {
        const d = backoffDelayMs(attempt, defaults);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.75));
        expect(d).toBeLessThanOrEqual(Math.ceil(base * 1.25));
      }
    }
  });

  it('clamps a random source that leaves [0, 1]', () => {
    expect(backoffDelayMs(2, defaults, () => -5)).toBe(375);
    expect(backoffDelayMs(2, defaults, () => 7)).toBe(625);
  });

  it('honours custom options, including zero jitter', () => {
    const o = resolveReconnectOptions({
      firstDelayMaxMs: 0,
      initialDelayMs: 10,
      maxDelayMs: 40,
      jitter: 0,
    });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, o, () => 0.9))).toEqual([
      0, 10, 20, 40, 40,
    ]);
  });

  it('rejects invalid options with ERR_INVALID_ARGUMENT', () => {
    const bad = [
      { initialDelayMs: -1 },
      { maxDelayMs: Number.NaN },
      { jitter: 1 },
      { initialDelayMs: 1000, maxDelayMs: 10 },
      { maxAttempts: 1.5 },
      { firstDelayMaxMs: 'x' as unknown as number },
    ];
    for (const o of bad) {
      expect(() => resolveReconnectOptions(o)).toThrow(IpcError);
      try {
        resolveReconnectOptions(o);
      } catch (e) {
        expect((e as IpcError).code).toBe('ERR_INVALID_ARGUMENT');
      }
    }
  });

  it('never overflows for huge attempt numbers', () => {
    expect(backoffBaseMs(Number.MAX_SAFE_INTEGER, defaults)).toBe(10_000);
    expect(Number.isFinite(backoffDelayMs(1e9, defaults))).toBe(true);
  });
});
