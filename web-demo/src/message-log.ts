/**
 * The page's side of the tap: every record the worker sends, numbered and kept in a ring buffer
 * of 10,000 (memory stays bounded at any rate), plus running totals for the rates.
 */
import type { TapRecord } from './protocol.ts';
import { RingBuffer } from './ring-buffer.ts';

/** One recorded message with its place in the log. */
export interface TapEntry extends TapRecord {
  /** Position in the log (increasing, never reused). */
  readonly seq: number;
}

/** Default number of messages the log keeps. */
export const TAP_CAPACITY = 10_000;

/**
 * @example
 * ```ts
 * const log = new MessageLog();
 * log.onAppend(perFrame(() => list.render()));
 * log.append(batch.tap);
 * ```
 */
export class MessageLog {
  readonly buffer: RingBuffer<TapEntry>;
  /** Messages in and out and bytes, as counted by the worker (also while paused). */
  totals = { in: 0, out: 0, bytes: 0 };
  /** Records lost between worker and page (the page could not keep up). */
  dropped = 0;
  paused = false;
  readonly #appendListeners = new Set<(entries: readonly TapEntry[]) => void>();
  readonly #clearListeners = new Set<() => void>();

  constructor(capacity = TAP_CAPACITY) {
    this.buffer = new RingBuffer<TapEntry>(capacity);
  }

  /** Calls `fn` with each appended group of entries; returns a function that removes it. */
  onAppend(fn: (entries: readonly TapEntry[]) => void): () => void {
    this.#appendListeners.add(fn);
    return () => this.#appendListeners.delete(fn);
  }

  /** Calls `fn` after clear(). */
  onClear(fn: () => void): () => void {
    this.#clearListeners.add(fn);
    return () => this.#clearListeners.delete(fn);
  }

  /** Appends records (oldest first). Only the newest `capacity` of a huge batch are kept. */
  append(records: readonly TapRecord[]): void {
    if (records.length === 0) return;
    const start = Math.max(0, records.length - this.buffer.capacity);
    const entries: TapEntry[] = [];
    for (let i = start; i < records.length; i++) {
      const rec = records[i] as TapRecord;
      const entry = rec as TapEntry;
      (entry as { seq: number }).seq = this.buffer.nextSeq;
      this.buffer.push(entry);
      entries.push(entry);
    }
    for (const fn of this.#appendListeners) fn(entries);
  }

  /** Forgets every entry (totals are kept). */
  clear(): void {
    this.buffer.clear();
    for (const fn of this.#clearListeners) fn();
  }
}
