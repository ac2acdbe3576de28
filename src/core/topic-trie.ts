/**
 * A segment trie of topic patterns: the matching engine behind TopicRouter (best match, with the
 * precedence of PROTOCOL.md section 6) and Subscribe delivery (every match, section 5).
 */
import {
  parseTopicPattern,
  splitTopic,
  type TopicParams,
  type TopicPattern,
} from './topic-pattern.ts';

/**
 * All values registered under one pattern. Values are kept in registration order (a Map keeps
 * insertion order and sequence numbers only grow), so the first entry is the earliest.
 */
interface Bucket<V> {
  readonly pattern: TopicPattern;
  /** value -> registration sequence number. */
  readonly values: Map<V, number>;
  /** Cached first entry of `values`, so `best()` needs no iterator. */
  headValue: V;
  headSeq: number;
  /**
   * How to build params without walking the pattern's segment objects (each one a likely cache
   * miss in a big trie): `[position, name, position, name, ...]` of the captures, or undefined.
   */
  readonly captures: (number | string)[] | undefined;
  /** Position of `>`, or -1. */
  readonly restAt: number;
}

function newBucket<V>(pattern: TopicPattern, value: V, seq: number): Bucket<V> {
  const captures: (number | string)[] = [];
  let restAt = -1;
  pattern.segments.forEach((seg, i) => {
    if (seg.kind === 'capture') captures.push(i, seg.name);
    else if (seg.kind === 'rest') restAt = i;
  });
  return {
    pattern,
    values: new Map([[value, seq]]),
    headValue: value,
    headSeq: seq,
    captures: captures.length === 0 ? undefined : captures,
    restAt,
  };
}

/** The params of a bucket's pattern for topic segments it matches (null prototype). */
/** Most topics whose `best` result a trie remembers. */
const BEST_CACHE_SIZE = 8192;
/** Longest topic whose `best` result is remembered. */
const BEST_CACHE_TOPIC_LENGTH = 256;

function paramsOf<V>(bucket: Bucket<V>, segs: readonly string[]): TopicParams {
  const params = Object.create(null) as TopicParams;
  const captures = bucket.captures;
  if (captures !== undefined) {
    for (let k = 0; k < captures.length; k += 2) {
      params[captures[k + 1] as string] = segs[captures[k] as number] as string;
    }
  }
  if (bucket.restAt >= 0) params.rest = segs.slice(bucket.restAt).join('.');
  return params;
}

/**
 * One trie node = one pattern position. `*` and `{name}` rank equal, so they share the `wild`
 * child; patterns that tie everywhere therefore end in the same node and are ordered by their
 * registration sequence number.
 *
 * Most nodes have a single literal child (`axis`, `pos`, ...). It is kept in `key`/`child` and
 * compared with `===`, which skips hashing the fresh segment string and the Map's table; a Map
 * is used only from the second literal child on.
 */
class TrieNode<V> {
  key: string | undefined = undefined;
  child: TrieNode<V> | undefined = undefined;
  literals: Map<string, TrieNode<V>> | undefined = undefined;
  wild: TrieNode<V> | undefined = undefined;
  /** Patterns that end at this node. */
  exact: Bucket<V>[] | undefined = undefined;
  /** Patterns whose `>` sits right after this node (it needs one or more further segments). */
  rest: Bucket<V>[] | undefined = undefined;

  literal(seg: string): TrieNode<V> | undefined {
    if (this.key !== undefined) return this.key === seg ? this.child : undefined;
    return this.literals === undefined ? undefined : this.literals.get(seg);
  }

  literalOrCreate(seg: string): TrieNode<V> {
    const found = this.literal(seg);
    if (found !== undefined) return found;
    const created = new TrieNode<V>();
    if (this.literals !== undefined) {
      this.literals.set(seg, created);
    } else if (this.key === undefined) {
      this.key = seg;
      this.child = created;
    } else {
      this.literals = new Map([[this.key, this.child as TrieNode<V>]]);
      this.literals.set(seg, created);
      this.key = undefined;
      this.child = undefined;
    }
    return created;
  }

  deleteLiteral(seg: string): void {
    if (this.key !== undefined) {
      if (this.key === seg) {
        this.key = undefined;
        this.child = undefined;
      }
      return;
    }
    if (this.literals === undefined || !this.literals.delete(seg)) return;
    if (this.literals.size <= 1) {
      for (const [k, c] of this.literals) {
        this.key = k;
        this.child = c;
      }
      this.literals = undefined;
    }
  }

  isEmpty(): boolean {
    return (
      this.key === undefined &&
      this.literals === undefined &&
      this.wild === undefined &&
      this.exact === undefined &&
      this.rest === undefined
    );
  }
}

/**
 * The best match of a topic: the winning value, its pattern and the captured params.
 *
 * @example
 * ```ts
 * const m: TrieMatch<string> | undefined = trie.best('press1.axis.3.pos');
 * m?.value; m?.params.n; m?.pattern.source;
 * ```
 */
export interface TrieMatch<V> {
  readonly value: V;
  /** Frozen when the trie caches results: `best` then hands the same object to every caller of a topic. */
  readonly params: TopicParams;
  readonly pattern: TopicPattern;
}

function earliest<V>(buckets: readonly Bucket<V>[]): Bucket<V> {
  let best = buckets[0] as Bucket<V>;
  for (let i = 1; i < buckets.length; i++) {
    const b = buckets[i] as Bucket<V>;
    if (b.headSeq < best.headSeq) best = b;
  }
  return best;
}

/**
 * Stacks reused by every walk of one trie, so a match allocates none. Walks are synchronous and
 * never call out while they use them. Both walks index the stacks from 0 and overwrite what an
 * earlier walk left there.
 */
interface Scratch<V> {
  readonly nodes: TrieNode<V>[];
  readonly nums: number[];
}

/** Scratch stacks that grew past this many levels are dropped after the walk. */
const SCRATCH_KEEP = 1024;

function trimScratch<V>(scratch: Scratch<V>): void {
  if (scratch.nodes.length > SCRATCH_KEEP) scratch.nodes.length = 0;
  if (scratch.nums.length > SCRATCH_KEEP) scratch.nums.length = 0;
}

/**
 * Depth-first in precedence order (literal child, then the wildcard child, then `>`): the first
 * complete match found is the best one, because at the first position where two matching
 * patterns differ the walk has tried the stronger kind first. Patterns with the same kind at
 * every position share the end node; there the earliest registration wins.
 *
 * Iterative, with an explicit stack, so a pattern and topic with a huge number of segments (a
 * peer may send megabytes) cannot overflow the call stack. Each level consumes one segment, so
 * the stack index is the segment index.
 */
function findBest<V>(
  root: TrieNode<V>,
  segs: readonly string[],
  { nodes, nums: steps }: Scratch<V>,
): Bucket<V> | undefined {
  const n = segs.length;
  nodes[0] = root;
  // Per level, what to try next: 0 the literal child, 1 the wildcard child, 2 the `>` slot.
  steps[0] = 0;
  let d = 0;
  while (d >= 0) {
    const node = nodes[d] as TrieNode<V>;
    if (d === n) {
      if (node.exact !== undefined) return earliest(node.exact);
      d--;
      continue;
    }
    const step = steps[d] as number;
    let next: TrieNode<V> | undefined;
    if (step === 0) {
      steps[d] = 1;
      next = node.literal(segs[d] as string);
    } else if (step === 1) {
      steps[d] = 2;
      next = node.wild;
    } else {
      if (node.rest !== undefined) return earliest(node.rest);
      d--;
      continue;
    }
    if (next !== undefined) {
      d++;
      nodes[d] = next;
      steps[d] = 0;
    }
  }
  return undefined;
}

/** Pushes every bucket whose pattern matches onto `out` (iterative, like {@link findBest}). */
function collect<V>(
  root: TrieNode<V>,
  segs: readonly string[],
  out: Bucket<V>[],
  { nodes, nums: depths }: Scratch<V>,
): void {
  const n = segs.length;
  // Index-based stack: entries above `top` are stale and simply overwritten.
  let top = 0;
  nodes[0] = root;
  depths[0] = 0;
  while (top >= 0) {
    const node = nodes[top] as TrieNode<V>;
    const i = depths[top] as number;
    top--;
    if (i === n) {
      if (node.exact !== undefined) for (const b of node.exact) out.push(b);
      continue;
    }
    if (node.rest !== undefined) for (const b of node.rest) out.push(b);
    const child = node.literal(segs[i] as string);
    if (child !== undefined) {
      nodes[++top] = child;
      depths[top] = i + 1;
    }
    if (node.wild !== undefined) {
      nodes[++top] = node.wild;
      depths[top] = i + 1;
    }
  }
}

/**
 * A multimap from topic patterns to values, organised as a segment trie: one child per literal
 * segment, one wildcard child shared by `*` and `{name}`, and a `>` slot per node. Matching walks
 * the topic's segments, so its cost grows with the topic's depth and the number of matching
 * branches, not with the number of registered patterns. It finds every match (Subscribe
 * delivery); {@link TopicTrie} adds the single best match (routing).
 *
 * Each `(pattern, value)` pair is held at most once; patterns compare as exact strings (`a.*`
 * and `a.{x}` are different patterns that match the same topics).
 *
 * @example
 * ```ts
 * const subs = new TopicPatternMap<string>();
 * subs.add('press1.axis.*.pos', 'hmi');
 * subs.add('press1.>', 'logger');
 * subs.forEachMatchingValue('press1.axis.3.pos', (who) => console.log(who)); // hmi, logger
 * ```
 */
export class TopicPatternMap<V> {
  protected readonly root = new TrieNode<V>();
  /** pattern source -> bucket, in order of first registration. */
  readonly #buckets = new Map<string, Bucket<V>>();
  protected readonly scratch: Scratch<V> = { nodes: [], nums: [] };
  #seq = 0;
  #size = 0;

  /**
   * Number of `(pattern, value)` pairs held.
   *
   * @example
   * ```ts
   * trie.add('a.*', 1); trie.add('a.*', 2); trie.size; // 2
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * Registers `value` under `pattern` and returns the compiled pattern. Adding a pair that is
   * already held changes nothing (it keeps its original place in the tie order). Throws an
   * IpcError ERR_INVALID_PATTERN when the pattern is invalid.
   *
   * @example
   * ```ts
   * const p = trie.add('plc1.axis.{n}.pos', handler);
   * p.captureNames; // ['n']
   * ```
   */
  add(pattern: string | TopicPattern, value: V): TopicPattern {
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    const existing = this.#buckets.get(source);
    if (existing !== undefined) {
      if (!existing.values.has(value)) {
        existing.values.set(value, this.#seq++);
        this.#size++;
      }
      return existing.pattern;
    }
    const compiled = typeof pattern === 'string' ? parseTopicPattern(pattern) : pattern;
    let node = this.root;
    let atRest = false;
    for (const seg of compiled.segments) {
      if (seg.kind === 'rest') {
        atRest = true;
        break;
      }
      if (seg.kind === 'literal') {
        node = node.literalOrCreate(seg.value);
      } else {
        node = node.wild ??= new TrieNode<V>();
      }
    }
    const seq = this.#seq++;
    const bucket = newBucket(compiled, value, seq);
    if (atRest) (node.rest ??= []).push(bucket);
    else (node.exact ??= []).push(bucket);
    this.#buckets.set(source, bucket);
    this.#size++;
    return compiled;
  }

  /**
   * Removes the pair `(pattern, value)`; true when it was held. Nodes left empty are pruned, so
   * a trie does not grow with subscription churn.
   *
   * @example
   * ```ts
   * trie.add('a.*', conn);
   * trie.remove('a.*', conn); // true
   * trie.remove('a.*', conn); // false
   * ```
   */
  remove(pattern: string | TopicPattern, value: V): boolean {
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    const bucket = this.#buckets.get(source);
    if (bucket === undefined || !bucket.values.delete(value)) return false;
    this.#size--;
    if (bucket.values.size > 0) {
      if (bucket.headValue === value) {
        for (const [v, s] of bucket.values) {
          bucket.headValue = v;
          bucket.headSeq = s;
          break;
        }
      }
      return true;
    }
    this.#buckets.delete(source);
    this.#detach(bucket);
    return true;
  }

  #detach(bucket: Bucket<V>): void {
    const path: TrieNode<V>[] = [this.root];
    const keys: (string | undefined)[] = [];
    let node = this.root;
    let atRest = false;
    for (const seg of bucket.pattern.segments) {
      if (seg.kind === 'rest') {
        atRest = true;
        break;
      }
      const next = seg.kind === 'literal' ? node.literal(seg.value) : node.wild;
      if (next === undefined) return; // unreachable: the bucket was placed along this path
      keys.push(seg.kind === 'literal' ? seg.value : undefined);
      path.push(next);
      node = next;
    }
    const list = atRest ? node.rest : node.exact;
    if (list !== undefined) {
      const at = list.indexOf(bucket);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) {
        if (atRest) node.rest = undefined;
        else node.exact = undefined;
      }
    }
    for (let d = path.length - 1; d > 0; d--) {
      const child = path[d] as TrieNode<V>;
      if (!child.isEmpty()) break;
      const parent = path[d - 1] as TrieNode<V>;
      const key = keys[d - 1];
      if (key === undefined) {
        parent.wild = undefined;
      } else {
        parent.deleteLiteral(key);
      }
    }
  }

  /**
   * True when some value is registered under `pattern` (exact string), or, with a `value` other
   * than undefined, when that pair is held. Never throws, also not for invalid patterns.
   *
   * @example
   * ```ts
   * trie.add('a.*', conn);
   * trie.has('a.*');        // true
   * trie.has('a.{x}');      // false: patterns compare as exact strings
   * trie.has('a.*', other); // false
   * ```
   */
  has(pattern: string, value?: V): boolean {
    const bucket = this.#buckets.get(pattern);
    if (bucket === undefined) return false;
    return value === undefined || bucket.values.has(value);
  }

  /**
   * The distinct patterns held, in order of first registration.
   *
   * @example
   * ```ts
   * trie.add('a.*', 1); trie.add('b.>', 2); trie.add('a.*', 3);
   * trie.patterns(); // ['a.*', 'b.>']
   * ```
   */
  patterns(): string[] {
    return [...this.#buckets.keys()];
  }

  /**
   * Removes everything.
   *
   * @example
   * ```ts
   * trie.clear(); trie.size; // 0
   * ```
   */
  clear(): void {
    const root = this.root;
    root.key = undefined;
    root.child = undefined;
    root.literals = undefined;
    root.wild = undefined;
    root.exact = undefined;
    root.rest = undefined;
    this.#buckets.clear();
    this.#size = 0;
  }

  /**
   * Calls `visit` once for every `(pattern, value)` pair whose pattern matches `topic`, with no
   * precedence and in no promised order. A value held under two matching patterns is visited
   * twice; use {@link TopicTrie.forEachMatchingValue} to get each value once. The visitor must
   * not add to or remove from this trie (use `forEachMatchingValue` when it may).
   *
   * @example
   * ```ts
   * trie.all('press1.axis.3.pos', (value, pattern) => console.log(pattern.source, value));
   * ```
   */
  all(topic: string, visit: (value: V, pattern: TopicPattern) => void): void {
    const segs = splitTopic(topic);
    if (segs === undefined) return;
    const buckets: Bucket<V>[] = [];
    collect(this.root, segs, buckets, this.scratch);
    trimScratch(this.scratch);
    for (const bucket of buckets) {
      for (const v of bucket.values.keys()) visit(v, bucket.pattern);
    }
  }

  /**
   * The distinct values that have at least one pattern matching `topic`.
   *
   * @example
   * ```ts
   * trie.add('a.*', conn); trie.add('a.>', conn);
   * trie.matchingValues('a.b'); // Set { conn }
   * ```
   */
  matchingValues(topic: string): Set<V> {
    const out = new Set<V>();
    const segs = splitTopic(topic);
    if (segs === undefined) return out;
    const buckets: Bucket<V>[] = [];
    collect(this.root, segs, buckets, this.scratch);
    trimScratch(this.scratch);
    for (const bucket of buckets) {
      for (const v of bucket.values.keys()) out.add(v);
    }
    return out;
  }

  /**
   * Calls `visit` exactly once for every distinct value with at least one pattern matching
   * `topic`, and returns how many values were visited. This is Subscribe delivery ("once to
   * every connection with at least one matching subscription"). The matches are collected
   * before the first call, so the visitor may add or remove pairs; a throwing visitor stops the
   * walk and the error propagates.
   *
   * @example
   * ```ts
   * subscriptions.forEachMatchingValue(msg.topic, (conn) => {
   *   if (conn !== sender) conn.send(bytes);
   * });
   * ```
   */
  forEachMatchingValue(topic: string, visit: (value: V) => void): number {
    const values = this.matchingValues(topic);
    for (const v of values) visit(v);
    return values.size;
  }
}

/**
 * A {@link TopicPatternMap} that also finds the single best match of a topic: the matching
 * engine behind TopicRouter. Results of `best` are remembered per topic (real traffic repeats its
 * topics, so most lookups become one Map.get); any change empties that cache.
 *
 * @example
 * ```ts
 * const trie = new TopicTrie<string>();
 * trie.add('press1.axis.{n}.pos', 'axis-pos');
 * trie.add('press1.>', 'anything');
 * trie.best('press1.axis.3.pos');  // { value: 'axis-pos', params: { n: '3' }, pattern: ... }
 * trie.all('press1.axis.3.pos', (value, pattern) => console.log(value, pattern.source));
 * ```
 */
export class TopicTrie<V> extends TopicPatternMap<V> {
  /** Results of `best` by topic (null: no match); emptied by any change and when full. */
  readonly #bestCache = new Map<string, TrieMatch<V> | null>();
  readonly #cacheSize: number;

  /**
   * @param options.cacheSize How many topics' `best` results to remember (0 turns the cache
   * off). Default 8192.
   *
   * @example
   * ```ts
   * const trie = new TopicTrie<string>({ cacheSize: 0 });
   * ```
   */
  constructor(options: { cacheSize?: number } = {}) {
    super();
    this.#cacheSize = options.cacheSize ?? BEST_CACHE_SIZE;
  }

  override add(pattern: string | TopicPattern, value: V): TopicPattern {
    if (this.#bestCache.size > 0) this.#bestCache.clear();
    return super.add(pattern, value);
  }

  override remove(pattern: string | TopicPattern, value: V): boolean {
    if (this.#bestCache.size > 0) this.#bestCache.clear();
    return super.remove(pattern, value);
  }

  override clear(): void {
    this.#bestCache.clear();
    super.clear();
  }

  /**
   * The single best match of `topic` by the precedence of PROTOCOL.md section 6: compared
   * segment by segment from the left, at the first position where two patterns differ a
   * literal beats `*`/`{name}` (equal rank), which beat `>`; patterns that tie everywhere go to
   * the earliest registered pair. Undefined when nothing matches (always for a topic with an
   * empty segment).
   *
   * @example
   * ```ts
   * trie.add('a.*.c', 'wild');
   * trie.add('a.b.>', 'rest');
   * trie.best('a.b.c')?.value; // 'rest': at position 2 the literal 'b' beats '*'
   * ```
   */
  best(topic: string): TrieMatch<V> | undefined {
    const cached = this.#bestCache.get(topic);
    if (cached !== undefined) return cached ?? undefined;
    const segs = splitTopic(topic);
    if (segs === undefined) return undefined;
    const bucket = findBest(this.root, segs, this.scratch);
    trimScratch(this.scratch);
    if (bucket === undefined && this.#cacheSize === 0) return undefined;
    const found: TrieMatch<V> | null =
      bucket === undefined
        ? null
        : { value: bucket.headValue, params: paramsOf(bucket, segs), pattern: bucket.pattern };
    // Long topics are not kept: a peer sending huge unique topics must not grow memory.
    if (this.#cacheSize > 0 && topic.length <= BEST_CACHE_TOPIC_LENGTH) {
      // Every caller of this topic gets the same object from now on, so it must not change.
      if (found !== null) Object.freeze(Object.freeze(found).params);
      if (this.#bestCache.size >= this.#cacheSize) this.#bestCache.clear();
      this.#bestCache.set(topic, found);
    }
    return found ?? undefined;
  }

}
