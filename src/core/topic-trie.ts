/**
 * A segment trie of topic patterns: the matching engine behind TopicRouter (best match, with the
 * precedence of PROTOCOL.md section 6) and Subscribe delivery (every match, section 5).
 */
import {
  captureParams,
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
}

/**
 * One trie node = one pattern position. `*` and `{name}` rank equal, so they share the `wild`
 * child; patterns that tie everywhere therefore end in the same node and are ordered by their
 * registration sequence number.
 */
class TrieNode<V> {
  literals: Map<string, TrieNode<V>> | undefined = undefined;
  wild: TrieNode<V> | undefined = undefined;
  /** Patterns that end at this node. */
  exact: Bucket<V>[] | undefined = undefined;
  /** Patterns whose `>` sits right after this node (it needs one or more further segments). */
  rest: Bucket<V>[] | undefined = undefined;

  isEmpty(): boolean {
    return (
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
 * Depth-first in precedence order (literal child, then the wildcard child, then `>`): the first
 * complete match found is the best one, because at the first position where two matching
 * patterns differ the walk has tried the stronger kind first. Patterns with the same kind at
 * every position share the end node; there the earliest registration wins.
 */
function findBest<V>(node: TrieNode<V>, segs: readonly string[], i: number): Bucket<V> | undefined {
  if (i === segs.length) return node.exact === undefined ? undefined : earliest(node.exact);
  if (node.literals !== undefined) {
    const child = node.literals.get(segs[i] as string);
    if (child !== undefined) {
      const found = findBest(child, segs, i + 1);
      if (found !== undefined) return found;
    }
  }
  if (node.wild !== undefined) {
    const found = findBest(node.wild, segs, i + 1);
    if (found !== undefined) return found;
  }
  return node.rest === undefined ? undefined : earliest(node.rest);
}

function collect<V>(
  node: TrieNode<V>,
  segs: readonly string[],
  i: number,
  out: (bucket: Bucket<V>) => void,
): void {
  if (i === segs.length) {
    if (node.exact !== undefined) for (const b of node.exact) out(b);
    return;
  }
  if (node.rest !== undefined) for (const b of node.rest) out(b);
  if (node.literals !== undefined) {
    const child = node.literals.get(segs[i] as string);
    if (child !== undefined) collect(child, segs, i + 1, out);
  }
  if (node.wild !== undefined) collect(node.wild, segs, i + 1, out);
}

/**
 * A multimap from topic patterns to values, organised as a segment trie: one child per literal
 * segment, one wildcard child shared by `*` and `{name}`, and a `>` slot per node. Matching walks
 * the topic's segments, so its cost grows with the topic's depth and the number of matching
 * branches, not with the number of registered patterns.
 *
 * Each `(pattern, value)` pair is held at most once; patterns compare as exact strings (`a.*`
 * and `a.{x}` are different patterns that match the same topics).
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
export class TopicTrie<V> {
  readonly #root = new TrieNode<V>();
  /** pattern source -> bucket, in order of first registration. */
  readonly #buckets = new Map<string, Bucket<V>>();
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
    let node = this.#root;
    let atRest = false;
    for (const seg of compiled.segments) {
      if (seg.kind === 'rest') {
        atRest = true;
        break;
      }
      if (seg.kind === 'literal') {
        node.literals ??= new Map();
        let child = node.literals.get(seg.value);
        if (child === undefined) {
          child = new TrieNode<V>();
          node.literals.set(seg.value, child);
        }
        node = child;
      } else {
        node = node.wild ??= new TrieNode<V>();
      }
    }
    const seq = this.#seq++;
    const bucket: Bucket<V> = {
      pattern: compiled,
      values: new Map([[value, seq]]),
      headValue: value,
      headSeq: seq,
    };
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
    const path: TrieNode<V>[] = [this.#root];
    const keys: (string | undefined)[] = [];
    let node = this.#root;
    let atRest = false;
    for (const seg of bucket.pattern.segments) {
      if (seg.kind === 'rest') {
        atRest = true;
        break;
      }
      const next = seg.kind === 'literal' ? node.literals?.get(seg.value) : node.wild;
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
      } else if (parent.literals !== undefined) {
        parent.literals.delete(key);
        if (parent.literals.size === 0) parent.literals = undefined;
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
    const root = this.#root;
    root.literals = undefined;
    root.wild = undefined;
    root.exact = undefined;
    root.rest = undefined;
    this.#buckets.clear();
    this.#size = 0;
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
    const segs = splitTopic(topic);
    if (segs === undefined) return undefined;
    const bucket = findBest(this.#root, segs, 0);
    if (bucket === undefined) return undefined;
    return { value: bucket.headValue, params: captureParams(bucket.pattern, segs), pattern: bucket.pattern };
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
    collect(this.#root, segs, 0, (bucket) => {
      for (const v of bucket.values.keys()) visit(v, bucket.pattern);
    });
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
    collect(this.#root, segs, 0, (bucket) => {
      for (const v of bucket.values.keys()) out.add(v);
    });
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
