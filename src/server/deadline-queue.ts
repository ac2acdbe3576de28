/**
 * Deadlines for items that all wait the same length of time, so they expire in the order they
 * were added: a FIFO and one timer replace a timer per item.
 */

/** What a {@link DeadlineQueue} holds: an absolute deadline and a settled flag. */
export interface Deadlined {
  /** Absolute time (the queue's clock, `performance.now()` by default) at which the item expires. */
  readonly deadline: number;
  /** Set by the owner when the item is settled; settled items are skipped and dropped. */
  done: boolean;
}

const COMPACT_AT = 1024;

/**
 * A FIFO of items whose deadlines never decrease in the order they are added (one fixed timeout
 * for all of them). One timer, armed for the oldest unsettled item, expires items in order;
 * settling an item sets its `done` flag and drops settled items from the front, so the hot path
 * costs an array push and a flag. Settled items stuck behind an old unsettled one are swept out
 * once they are the majority, so one hung request does not make the queue hold every request
 * answered meanwhile. The timer is unref'd and, once the queue is empty, left to run out instead
 * of being cleared and armed again per item.
 *
 * @example
 * ```ts
 * const q = new DeadlineQueue<Pending>((p) => failWithTimeout(p));
 * q.push(pending);   // pending.deadline = performance.now() + 10_000
 * q.settle(pending); // answered in time
 * q.clear();         // on shutdown
 * ```
 */
export class DeadlineQueue<T extends Deadlined> {
  private items: (T | undefined)[] = [];
  private head = 0;
  /** Unsettled items held. */
  private live = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onExpire: (item: T) => void;
  private readonly now: () => number;

  /**
   * @param onExpire called for each item whose deadline passed while it was not done; the item's
   *   `done` flag is already set.
   * @param now the clock deadlines are measured on. Default `performance.now()`.
   */
  constructor(onExpire: (item: T) => void, now: () => number = () => performance.now()) {
    this.onExpire = onExpire;
    this.now = now;
  }

  /** Items held, settled ones not yet dropped included. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Unsettled items. */
  get pending(): number {
    return this.live;
  }

  /** Adds an unsettled item; its deadline must not be earlier than that of any item added before. */
  push(item: T): void {
    this.items.push(item);
    this.live++;
    if (this.timer === undefined) this.arm(item.deadline);
  }

  /** Marks an item settled (answered or failed): it will not expire. Settling twice is harmless. */
  settle(item: T): void {
    if (item.done) return;
    item.done = true;
    this.live--;
    const items = this.items;
    if (items[this.head] === item) {
      let head = this.head;
      while (head < items.length && (items[head] as T).done) items[head++] = undefined;
      this.head = head;
    }
    this.compact();
  }

  /** Forgets every item and stops the timer (items are not expired). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.items = [];
    this.head = 0;
    this.live = 0;
  }

  private compact(): void {
    const held = this.items.length - this.head;
    if (held === 0) {
      if (this.items.length > 0) {
        this.items = [];
        this.head = 0;
      }
    } else if (held >= COMPACT_AT && this.live * 2 <= held) {
      // Mostly settled items behind an old unsettled one: keep only the unsettled, in order.
      const kept: T[] = [];
      for (let i = this.head; i < this.items.length; i++) {
        const item = this.items[i] as T;
        if (!item.done) kept.push(item);
      }
      this.items = kept;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private arm(deadline: number): void {
    const delay = Math.max(1, Math.ceil(deadline - this.now()));
    this.timer = setTimeout(this.fire, delay);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = this.now();
    // Re-read the fields every turn: onExpire may settle other items (compaction) or clear().
    while (this.head < this.items.length) {
      const item = this.items[this.head] as T;
      if (!item.done && item.deadline > now) break;
      this.items[this.head++] = undefined;
      if (!item.done) {
        item.done = true;
        this.live--;
        this.onExpire(item);
      }
    }
    this.compact();
    const next = this.items[this.head];
    if (next !== undefined && this.timer === undefined) this.arm(next.deadline);
  };
}
