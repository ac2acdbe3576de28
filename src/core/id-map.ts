/**
 * A map from transaction ids (u32, never 0) to values, for requests in flight.
 *
 * A `Map` that goes from empty to a few dozen entries and back, as pipelined requests do many
 * times a second, reallocates its hash table each time it grows and shrinks; those tables outlive
 * young-generation collections and cost the garbage collector more than the lookups themselves
 * (a third of a round trip's CPU in the benchmark). This table grows and never shrinks: open
 * addressing with linear probing on a power-of-two array, ids in a Uint32Array (0 marks a free
 * slot), and backward-shift deletion, so no tombstones pile up however long one request stays.
 * @internal
 */
export class IdMap<T> {
  #ids = new Uint32Array(16);
  #values: (T | undefined)[] = new Array<T | undefined>(16);
  /** Entries held. */
  size = 0;

  get(id: number): T | undefined {
    const ids = this.#ids;
    const mask = ids.length - 1;
    for (let i = id & mask; ids[i] !== 0; i = (i + 1) & mask) {
      if (ids[i] === id) return this.#values[i];
    }
    return undefined;
  }

  /** Sets `id` (a u32 other than 0) to `value` (not undefined). */
  set(id: number, value: T): void {
    if (this.size * 2 >= this.#ids.length) this.#grow();
    const ids = this.#ids;
    const mask = ids.length - 1;
    let i = id & mask;
    while (ids[i] !== 0 && ids[i] !== id) i = (i + 1) & mask;
    if (ids[i] === 0) this.size++;
    ids[i] = id;
    this.#values[i] = value;
  }

  /** Removes `id`; true when it was there. */
  delete(id: number): boolean {
    const ids = this.#ids;
    const values = this.#values;
    const mask = ids.length - 1;
    let i = id & mask;
    while (ids[i] !== id) {
      if (ids[i] === 0) return false;
      i = (i + 1) & mask;
    }
    // Backward shift: a later entry of the probe run moves into the hole unless its home slot
    // lies cyclically in (hole, its slot], so every lookup still meets its entry before a free
    // slot.
    for (let j = (i + 1) & mask; ids[j] !== 0; j = (j + 1) & mask) {
      const home = (ids[j] as number) & mask;
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        ids[i] = ids[j] as number;
        values[i] = values[j];
        i = j;
      }
    }
    ids[i] = 0;
    values[i] = undefined;
    this.size--;
    return true;
  }

  /** The values, in no particular order. */
  values(): T[] {
    return this.#values.filter((v, i) => this.#ids[i] !== 0) as T[];
  }

  clear(): void {
    this.#ids = new Uint32Array(16);
    this.#values = new Array<T | undefined>(16);
    this.size = 0;
  }

  #grow(): void {
    const ids = this.#ids;
    const values = this.#values;
    this.#ids = new Uint32Array(ids.length * 2);
    this.#values = new Array<T | undefined>(ids.length * 2);
    this.size = 0;
    ids.forEach((id, i) => id !== 0 && this.set(id, values[i] as T));
  }
}
