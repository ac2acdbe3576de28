/**
 * A fixed-capacity ring buffer addressed by sequence number: the n-th item ever pushed has
 * sequence n (0-based) and stays readable until `capacity` newer items have overwritten it (or
 * `clear()`). Memory is bounded whatever the message rate.
 */
export class RingBuffer<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #next = 0;
  #clearedAt = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  /** Sequence number the next push gets (= items pushed so far). */
  get nextSeq(): number {
    return this.#next;
  }

  /** Oldest sequence number still held. */
  get firstSeq(): number {
    return Math.max(this.#clearedAt, this.#next - this.capacity);
  }

  /** Items held. */
  get length(): number {
    return this.#next - this.firstSeq;
  }

  /** Adds an item (overwriting the oldest when full); returns its sequence number. */
  push(item: T): number {
    const seq = this.#next++;
    this.#items[seq % this.capacity] = item;
    return seq;
  }

  /** The item with sequence `seq`, or undefined once it was overwritten or cleared. */
  get(seq: number): T | undefined {
    if (seq < this.firstSeq || seq >= this.#next) return undefined;
    return this.#items[seq % this.capacity];
  }

  /** Drops every item; sequence numbers keep counting. */
  clear(): void {
    this.#items.fill(undefined);
    this.#clearedAt = this.#next;
  }
}
