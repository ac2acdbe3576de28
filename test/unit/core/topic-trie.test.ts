import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import { TopicPatternMap, TopicTrie } from '../../../src/core/topic-trie.ts';

/** Every ordering of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  const out: T[][] = [];
  items.forEach((item, i) => {
    const others = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const p of permutations(others)) out.push([item, ...p]);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Brute-force reference: a linear scan with an explicit precedence comparator. Written from the
// protocol text, independent of the trie and of topic-pattern.ts.
// ---------------------------------------------------------------------------------------------

type RefKind = 0 | 1 | 2; // literal, * or {name}, >

function refKind(seg: string): RefKind {
  if (seg === '>') return 2;
  if (seg === '*' || seg.startsWith('{')) return 1;
  return 0;
}

function refMatch(pattern: string, topic: string): Record<string, string> | undefined {
  const ps = pattern.split('.');
  const ts = topic.split('.');
  if (ts.some((s) => s === '')) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as string;
    if (p === '>') {
      if (ts.length <= i) return undefined;
      params.rest = ts.slice(i).join('.');
      return params;
    }
    const t = ts[i];
    if (t === undefined) return undefined;
    if (p.startsWith('{')) params[p.slice(1, -1)] = t;
    else if (p !== '*' && p !== t) return undefined;
  }
  return ps.length === ts.length ? params : undefined;
}

/** Negative when `a` takes precedence over `b` (ignoring registration order). */
function refCompare(a: string, b: string): number {
  const as = a.split('.');
  const bs = b.split('.');
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const ka = as[i] === undefined ? 3 : refKind(as[i] as string);
    const kb = bs[i] === undefined ? 3 : refKind(bs[i] as string);
    if (ka !== kb) return ka - kb;
  }
  return 0;
}

interface RefPair {
  pattern: string;
  value: number;
}

function refBest(pairs: readonly RefPair[], topic: string): RefPair | undefined {
  let best: RefPair | undefined;
  for (const pair of pairs) {
    if (refMatch(pair.pattern, topic) === undefined) continue;
    // Strictly better only: on a full tie the earlier pair (first in `pairs`) stays.
    if (best === undefined || refCompare(pair.pattern, best.pattern) < 0) best = pair;
  }
  return best;
}

// Small alphabets so that random patterns and topics collide often.
const patternSegment = fc.constantFrom('a', 'b', 'c', '*', '{x}', '{y}');
const patternArb = fc
  .tuple(fc.array(patternSegment, { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([segs, rest]) => segs.length > 0 || rest)
  .map(([segs, rest]) => {
    // Make capture names unique within the pattern, keeping ties like `a.*` vs `a.{x}`.
    const named = segs.map((s, i) => (s.startsWith('{') ? `{${s.slice(1, -1)}${i}}` : s));
    return (rest ? [...named, '>'] : named).join('.');
  });
const topicArb = fc
  .array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 6 })
  .map((segs) => segs.join('.'));

describe('TopicTrie', () => {
  describe('best', () => {
    const ranked = ['press1.axis.3.pos', 'press1.axis.{n}.pos', 'press1.*.3.pos', 'press1.>'];

    it('applies the precedence press1.axis.3.pos > press1.axis.{n}.pos > press1.*.3.pos > press1.> in every registration order', () => {
      for (const order of permutations(ranked)) {
        const trie = new TopicTrie<string>();
        for (const p of order) trie.add(p, p);
        // Remove winners one by one: the next in rank must take over.
        for (const expected of ranked) {
          expect(trie.best('press1.axis.3.pos')?.value, order.join(' | ')).toBe(expected);
          trie.remove(expected, expected);
        }
        expect(trie.best('press1.axis.3.pos')).toBeUndefined();
      }
    });

    it('backtracks: a literal early beats a wildcard even when > is weaker later', () => {
      for (const order of permutations(['a.b.>', 'a.*.c'])) {
        const trie = new TopicTrie<string>();
        for (const p of order) trie.add(p, p);
        expect(trie.best('a.b.c')?.value).toBe('a.b.>');
        expect(trie.best('a.x.c')?.value).toBe('a.*.c');
      }
    });

    it('backtracks out of a literal branch that dead-ends', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.b.c.d', 'deep-literal');
      trie.add('a.*.c.e', 'wild');
      trie.add('a.>', 'rest');
      expect(trie.best('a.b.c.e')?.value).toBe('wild');
      expect(trie.best('a.b.c.d')?.value).toBe('deep-literal');
      expect(trie.best('a.b.x')?.value).toBe('rest');
    });

    it('gives a full tie to the pattern registered first', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.{x}', 'capture');
      trie.add('a.*', 'star');
      expect(trie.best('a.b')?.value).toBe('capture');
      const other = new TopicTrie<string>();
      other.add('a.*', 'star');
      other.add('a.{x}', 'capture');
      expect(other.best('a.b')?.value).toBe('star');
      expect(other.best('a.b')?.params).toEqual({});
    });

    it('gives a full tie to the earliest pair when one pattern holds several values', () => {
      const trie = new TopicTrie<number>();
      trie.add('a.*', 1);
      trie.add('a.{x}', 2);
      trie.add('a.*', 3);
      expect(trie.best('a.b')?.value).toBe(1);
      trie.remove('a.*', 1);
      expect(trie.best('a.b')?.value).toBe(2);
      trie.remove('a.{x}', 2);
      expect(trie.best('a.b')?.value).toBe(3);
    });

    it('sends a re-added pair to the back of the tie order', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.*', 'first');
      trie.add('a.{x}', 'second');
      trie.remove('a.*', 'first');
      trie.add('a.*', 'first');
      expect(trie.best('a.b')?.value).toBe('second');
    });

    it('keeps the original place when an existing pair is added again', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.*', 'first');
      trie.add('a.{x}', 'second');
      trie.add('a.*', 'first');
      expect(trie.size).toBe(2);
      expect(trie.best('a.b')?.value).toBe('first');
    });

    it('captures {name} segments and the rest', () => {
      const trie = new TopicTrie<string>();
      trie.add('plc1.axis', 'shorter');
      trie.add('{plc}.axis.{n}.>', 'v');
      const m = trie.best('plc1.axis.3.pos.x');
      expect(m?.value).toBe('v');
      expect(m?.params).toEqual({ plc: 'plc1', n: '3', rest: 'pos.x' });
      expect(m?.pattern.source).toBe('{plc}.axis.{n}.>');
    });

    it('requires at least one segment for >', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.>', 'rest');
      expect(trie.best('a')).toBeUndefined();
      trie.add('a', 'exact');
      expect(trie.best('a')?.value).toBe('exact');
      expect(trie.best('a.b')?.value).toBe('rest');
    });

    it('matches nothing for a topic with an empty segment', () => {
      const trie = new TopicTrie<string>();
      trie.add('>', 'all');
      trie.add('a.*', 'star');
      for (const topic of ['', 'a.', '.a', 'a..b']) {
        expect(trie.best(topic)).toBeUndefined();
        expect(trie.matchingValues(topic).size).toBe(0);
      }
    });

    it('does not let a capture named __proto__ pollute Object.prototype', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.{__proto__}', 'v');
      const m = trie.best('a.polluted');
      expect(m?.params['__proto__']).toBe('polluted');
      expect(Object.getPrototypeOf(m?.params)).toBeNull();
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });

    it('matches patterns and topics of 100,000 segments without overflowing the stack', () => {
      const deep = Array.from({ length: 100_000 }, (_, i) => (i % 2 === 0 ? 'a' : '*')).join('.');
      const topic = Array.from({ length: 100_000 }, () => 'a').join('.');
      const trie = new TopicTrie<string>();
      trie.add(deep, 'deep');
      trie.add(`${deep}.>`, 'deeper');
      trie.add('a.>', 'rest');
      expect(trie.best(topic)?.value).toBe('deep');
      expect(trie.best(`${topic}.x`)?.value).toBe('deeper');
      expect(trie.best(`${topic}.b.c`)?.params.rest).toBe('b.c');
      expect([...trie.matchingValues(topic)].sort()).toEqual(['deep', 'rest']);
      expect(trie.remove(deep, 'deep')).toBe(true);
      expect(trie.best(topic)?.value).toBe('rest');
    });

    it('serves thousands of patterns', () => {
      const trie = new TopicTrie<number>();
      let v = 0;
      for (let plc = 0; plc < 50; plc++) {
        for (let axis = 0; axis < 40; axis++) trie.add(`plc${plc}.axis.${axis}.pos`, v++);
        trie.add(`plc${plc}.axis.{n}.pos`, v++);
        trie.add(`plc${plc}.GM.*.stData`, v++);
        trie.add(`plc${plc}.>`, v++);
      }
      expect(trie.size).toBe(50 * 43);
      expect(trie.best('plc7.axis.12.pos')?.pattern.source).toBe('plc7.axis.12.pos');
      expect(trie.best('plc7.axis.99.pos')?.params).toEqual({ n: '99' });
      expect(trie.best('plc7.GM.x.stData')?.pattern.source).toBe('plc7.GM.*.stData');
      expect(trie.best('plc7.GM.x.other')?.params).toEqual({ rest: 'GM.x.other' });
      expect(trie.best('plc50.axis.1.pos')).toBeUndefined();
    });
  });

  describe('add, remove, has', () => {
    it('rejects an invalid pattern with ERR_INVALID_PATTERN', () => {
      const trie = new TopicTrie<number>();
      expect(() => trie.add('a.>.b', 1)).toThrow(IpcError);
      try {
        trie.add('x{id}', 1);
      } catch (e) {
        expect((e as IpcError).code).toBe('ERR_INVALID_PATTERN');
      }
      expect(trie.size).toBe(0);
    });

    it('removes exactly the given pair', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.*', 'x');
      trie.add('a.*', 'y');
      expect(trie.remove('a.*', 'x')).toBe(true);
      expect(trie.remove('a.*', 'x')).toBe(false);
      expect(trie.remove('a.{z}', 'y')).toBe(false);
      expect(trie.remove('nope', 'y')).toBe(false);
      expect(trie.has('a.*')).toBe(true);
      expect(trie.has('a.*', 'x')).toBe(false);
      expect(trie.has('a.*', 'y')).toBe(true);
      expect(trie.best('a.b')?.value).toBe('y');
      expect(trie.remove('a.*', 'y')).toBe(true);
      expect(trie.has('a.*')).toBe(false);
      expect(trie.size).toBe(0);
      expect(trie.best('a.b')).toBeUndefined();
    });

    it('compares patterns as exact strings in has', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.*', 'x');
      expect(trie.has('a.*')).toBe(true);
      expect(trie.has('a.{x}')).toBe(false);
      expect(trie.has('a*')).toBe(false);
    });

    it('keeps other branches intact when a removal prunes nodes', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.b.c.d', 'deep');
      trie.add('a.b', 'short');
      trie.add('a.*.c.>', 'rest');
      trie.remove('a.b.c.d', 'deep');
      expect(trie.best('a.b')?.value).toBe('short');
      expect(trie.best('a.b.c.d')?.value).toBe('rest');
      trie.remove('a.*.c.>', 'rest');
      expect(trie.best('a.b.c.d')).toBeUndefined();
      expect(trie.best('a.b')?.value).toBe('short');
      trie.add('a.b.c.d', 'again');
      expect(trie.best('a.b.c.d')?.value).toBe('again');
    });

    it('lists patterns in order of first registration and clears', () => {
      const trie = new TopicTrie<number>();
      trie.add('b.>', 1);
      trie.add('a.*', 2);
      trie.add('b.>', 3);
      expect(trie.patterns()).toEqual(['b.>', 'a.*']);
      trie.clear();
      expect(trie.size).toBe(0);
      expect(trie.patterns()).toEqual([]);
      expect(trie.best('b.x')).toBeUndefined();
      trie.add('b.>', 4);
      expect(trie.best('b.x')?.value).toBe(4);
    });

    it('returns to empty after adding and removing thousands of patterns', () => {
      const trie = new TopicTrie<number>();
      const patterns: string[] = [];
      for (let i = 0; i < 3000; i++)
        patterns.push(`p${i % 7}.${i % 3 === 0 ? '*' : `s${i}`}.${i % 5 === 0 ? '>' : `{v}`}`);
      patterns.forEach((p, i) => trie.add(p, i));
      expect(trie.size).toBe(3000);
      patterns.forEach((p, i) => expect(trie.remove(p, i)).toBe(true));
      expect(trie.size).toBe(0);
      expect(trie.patterns()).toEqual([]);
      expect(trie.best('p1.s1.x')).toBeUndefined();
    });
  });

  describe('all and forEachMatchingValue', () => {
    it('visits every matching pair with its pattern, without precedence', () => {
      const trie = new TopicTrie<string>();
      trie.add('press1.axis.3.pos', 'lit');
      trie.add('press1.axis.{n}.pos', 'cap');
      trie.add('press1.*.3.pos', 'star');
      trie.add('press1.>', 'rest');
      trie.add('press2.>', 'other');
      trie.add('press1.axis', 'short');
      const seen: string[] = [];
      trie.all('press1.axis.3.pos', (v, p) => seen.push(`${v}@${p.source}`));
      expect(seen.sort()).toEqual(
        [
          'lit@press1.axis.3.pos',
          'cap@press1.axis.{n}.pos',
          'star@press1.*.3.pos',
          'rest@press1.>',
        ].sort(),
      );
    });

    it('visits a value once per matching pattern in all, once in total in forEachMatchingValue', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.*', 'conn1');
      trie.add('a.>', 'conn1');
      trie.add('a.b', 'conn2');
      trie.add('x.>', 'conn3');
      const all: string[] = [];
      trie.all('a.b', (v) => all.push(v));
      expect(all.sort()).toEqual(['conn1', 'conn1', 'conn2']);
      const once: string[] = [];
      expect(trie.forEachMatchingValue('a.b', (v) => once.push(v))).toBe(2);
      expect(once.sort()).toEqual(['conn1', 'conn2']);
      expect([...trie.matchingValues('a.b')].sort()).toEqual(['conn1', 'conn2']);
    });

    it('lets the forEachMatchingValue visitor remove pairs while it runs', () => {
      const trie = new TopicTrie<string>();
      for (const c of ['c1', 'c2', 'c3']) {
        trie.add('a.>', c);
        trie.add('a.*', c);
      }
      const seen: string[] = [];
      trie.forEachMatchingValue('a.b', (v) => {
        seen.push(v);
        trie.remove('a.>', v);
        trie.remove('a.*', v);
      });
      expect(seen.sort()).toEqual(['c1', 'c2', 'c3']);
      expect(trie.size).toBe(0);
    });

    it('visits nothing when nothing matches', () => {
      const trie = new TopicTrie<string>();
      trie.add('a.b', 'x');
      let calls = 0;
      trie.all('a.c', () => calls++);
      expect(trie.forEachMatchingValue('a.c', () => calls++)).toBe(0);
      expect(calls).toBe(0);
    });
  });

  describe('against a brute-force reference', () => {
    const scenario = fc.record({
      pairs: fc.array(fc.tuple(patternArb, fc.nat({ max: 3 })), { minLength: 1, maxLength: 14 }),
      removals: fc.array(fc.nat({ max: 20 }), { maxLength: 12 }),
      topics: fc.array(topicArb, { minLength: 1, maxLength: 10 }),
    });

    function build(
      pairs: [string, number][],
      removals: number[],
    ): { trie: TopicTrie<number>; ref: RefPair[] } {
      const trie = new TopicTrie<number>();
      let ref: RefPair[] = [];
      for (const [pattern, value] of pairs) {
        trie.add(pattern, value);
        if (!ref.some((r) => r.pattern === pattern && r.value === value))
          ref.push({ pattern, value });
      }
      for (const idx of removals) {
        const victim = ref[idx % Math.max(ref.length, 1)];
        if (victim === undefined) continue;
        expect(trie.remove(victim.pattern, victim.value)).toBe(true);
        ref = ref.filter((r) => r !== victim);
      }
      expect(trie.size).toBe(ref.length);
      return { trie, ref };
    }

    it('picks the same best match and params as a linear comparator-based scan', () => {
      fc.assert(
        fc.property(scenario, ({ pairs, removals, topics }) => {
          const { trie, ref } = build(pairs, removals);
          for (const topic of topics) {
            const want = refBest(ref, topic);
            const got = trie.best(topic);
            if (want === undefined) {
              expect(got).toBeUndefined();
            } else {
              expect(got?.pattern.source).toBe(want.pattern);
              expect(got?.value).toBe(want.value);
              expect({ ...got?.params }).toEqual(refMatch(want.pattern, topic));
            }
            // Interleave the other walk: both share the trie's scratch stacks.
            const matching = new Set(
              ref.filter((r) => refMatch(r.pattern, topic) !== undefined).map((r) => r.value),
            );
            expect(trie.matchingValues(topic)).toEqual(matching);
          }
        }),
        { numRuns: 500 },
      );
    });

    it('visits the same pairs in all and the same values in forEachMatchingValue', () => {
      fc.assert(
        fc.property(scenario, ({ pairs, removals, topics }) => {
          const { trie, ref } = build(pairs, removals);
          for (const topic of topics) {
            const want = ref.filter((r) => refMatch(r.pattern, topic) !== undefined);
            const got: string[] = [];
            trie.all(topic, (value, pattern) => got.push(`${pattern.source}#${value}`));
            expect(got.sort()).toEqual(want.map((r) => `${r.pattern}#${r.value}`).sort());
            const values: number[] = [];
            trie.forEachMatchingValue(topic, (v) => values.push(v));
            expect(values.sort()).toEqual([...new Set(want.map((r) => r.value))].sort());
          }
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('TopicTrie result cache', () => {
  it('answers a repeated topic with the same frozen result', () => {
    const trie = new TopicTrie<string>();
    trie.add('a.{x}.c', 'cap');
    const first = trie.best('a.b.c');
    expect(trie.best('a.b.c')).toBe(first);
    expect(Object.isFrozen(first?.params)).toBe(true);
    expect(first?.params.x).toBe('b');
  });

  it('forgets cached results when a better route is added', () => {
    const trie = new TopicTrie<string>();
    trie.add('a.>', 'rest');
    expect(trie.best('a.b.c')?.value).toBe('rest');
    trie.add('a.b.c', 'literal');
    expect(trie.best('a.b.c')?.value).toBe('literal');
  });

  it('forgets cached results, misses included, on remove and clear', () => {
    const trie = new TopicTrie<string>();
    expect(trie.best('a.b')).toBeUndefined();
    trie.add('a.*', 'w');
    expect(trie.best('a.b')?.value).toBe('w');
    trie.remove('a.*', 'w');
    expect(trie.best('a.b')).toBeUndefined();
    trie.add('a.*', 'w2');
    expect(trie.best('a.b')?.value).toBe('w2');
    trie.clear();
    expect(trie.best('a.b')).toBeUndefined();
  });

  it('matches the same with the cache off', () => {
    const cached = new TopicTrie<number>();
    const cold = new TopicTrie<number>({ cacheSize: 0 });
    ['p.axis.{n}.pos', 'p.*.3.pos', 'p.>'].forEach((p, i) => {
      cached.add(p, i);
      cold.add(p, i);
    });
    for (const t of ['p.axis.3.pos', 'p.x.3.pos', 'p.q', 'p.axis.3.pos']) {
      expect(cold.best(t)?.value).toBe(cached.best(t)?.value);
    }
  });
});

describe('TopicPatternMap', () => {
  it('finds every value with a matching pattern, once each, and forgets removed pairs', () => {
    const subs = new TopicPatternMap<string>();
    subs.add('press1.axis.*.pos', 'hmi');
    subs.add('press1.>', 'hmi');
    subs.add('press1.>', 'logger');
    subs.add('press2.>', 'other');
    const seen: string[] = [];
    expect(subs.forEachMatchingValue('press1.axis.3.pos', (v) => seen.push(v))).toBe(2);
    expect(seen.sort()).toEqual(['hmi', 'logger']);
    expect(subs.remove('press1.>', 'logger')).toBe(true);
    expect([...subs.matchingValues('press1.axis.3.pos')]).toEqual(['hmi']);
    expect(subs.patterns()).toEqual(['press1.axis.*.pos', 'press1.>', 'press2.>']);
    subs.clear();
    expect(subs.size).toBe(0);
  });

  it('is the base of TopicTrie, which keeps its best-match cache in step with changes', () => {
    const trie = new TopicTrie<string>();
    expect(trie).toBeInstanceOf(TopicPatternMap);
    trie.add('a.*', 'wild');
    expect(trie.best('a.b')?.value).toBe('wild');
    trie.add('a.b', 'literal');
    expect(trie.best('a.b')?.value).toBe('literal');
    trie.remove('a.b', 'literal');
    expect(trie.best('a.b')?.value).toBe('wild');
    trie.clear();
    expect(trie.best('a.b')).toBeUndefined();
  });
});
