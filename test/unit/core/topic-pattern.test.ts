import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import {
  isValidTopicPattern,
  matchTopicPattern,
  parseTopicPattern,
  splitTopic,
  topicMatches,
} from '../../../src/core/topic-pattern.ts';

function rejection(pattern: string): IpcError {
  try {
    parseTopicPattern(pattern);
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error(`expected ${JSON.stringify(pattern)} to be rejected`);
}

describe('parseTopicPattern', () => {
  it('compiles literal, wildcard, capture and rest segments', () => {
    const p = parseTopicPattern('press1.*.{n}.>');
    expect(p.source).toBe('press1.*.{n}.>');
    expect(p.segments).toEqual([
      { kind: 'literal', value: 'press1' },
      { kind: 'wildcard' },
      { kind: 'capture', name: 'n' },
      { kind: 'rest' },
    ]);
    expect(p.captureNames).toEqual(['n']);
    expect(p.hasRest).toBe(true);
  });

  it('returns a frozen pattern', () => {
    const p = parseTopicPattern('a.{b}');
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.segments)).toBe(true);
  });

  it('accepts single-segment patterns, a lone > and a lone *', () => {
    for (const ok of ['a', '>', '*', '{x}', 'a.b.c', '_._', 'a-b.c_d.E9', '{_x9}.>']) {
      expect(isValidTopicPattern(ok), ok).toBe(true);
    }
  });

  const rejected: [string, string, RegExp][] = [
    ['an empty pattern', '', /empty/],
    ['an empty segment in the middle', 'a..b', /segment 2 is empty/],
    ['a leading empty segment', '.a', /segment 1 is empty/],
    ['a trailing empty segment', 'a.', /segment 2 is empty/],
    ['a lone dot', '.', /empty/],
    ['> in the middle', 'a.>.b', /'>' must be the last segment/],
    ['> first of several', '>.a', /'>' must be the last segment/],
    ['two >', 'a.>.>', /'>' must be the last segment/],
    ['a wildcard with a prefix', 'a*', /mixes a wildcard or capture/],
    ['a wildcard with a suffix', 'a.*b', /mixes a wildcard or capture/],
    ['a double wildcard', 'a.**', /mixes a wildcard or capture/],
    ['> with other characters', 'a.b>', /mixes a wildcard or capture/],
    ['a capture with a prefix', 'x{id}', /mixes a wildcard or capture/],
    ['a capture with a suffix', '{a}b', /mixes a wildcard or capture/],
    ['an unclosed capture', 'a.{id', /mixes a wildcard or capture/],
    ['a stray closing brace', 'a.id}', /mixes a wildcard or capture/],
    ['a nested capture', 'a.{{id}}', /mixes a wildcard or capture/],
    ['two captures in one segment', '{a}{b}', /mixes a wildcard or capture/],
    ['an empty capture', 'a.{}', /empty capture/],
    ['a capture name used twice', '{id}.x.{id}', /"id" is used twice/],
    ['a capture named rest together with >', 'a.{rest}.>', /'rest' clashes with '>'/],
    ['a capture name starting with a digit', 'a.{1x}', /not an identifier/],
    ['a capture name with a dash', 'a.{x-y}', /not an identifier/],
    ['a capture name with a space', 'a.{x y}', /not an identifier/],
  ];
  for (const [what, pattern, why] of rejected) {
    it(`rejects ${what} (${JSON.stringify(pattern)})`, () => {
      const e = rejection(pattern);
      expect(e.code).toBe('ERR_INVALID_PATTERN');
      expect(e.kind).toBe('InvalidMessage');
      expect(e.message).toContain(JSON.stringify(pattern));
      expect(e.message).toMatch(why);
      expect(isValidTopicPattern(pattern)).toBe(false);
    });
  }

  it('allows a capture named rest without >', () => {
    expect(matchTopicPattern('a.{rest}', 'a.b')).toEqual({ rest: 'b' });
  });

  it('keeps the error message short for a huge pattern', () => {
    const e = rejection(`${'a.'.repeat(100_000)}>.b`);
    expect(e.code).toBe('ERR_INVALID_PATTERN');
    expect(e.message.length).toBeLessThan(300);
  });

  it('parses a pattern with very many captures quickly', () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `{c${i}}`);
    const p = parseTopicPattern(names.join('.'));
    expect(p.captureNames.length).toBe(50_000);
    const dup = rejection([...names, '{c7}'].join('.'));
    expect(dup.message).toMatch(/"c7" is used twice/);
  });

  it('rejects a value that is not a string', () => {
    const e = rejection(42 as unknown as string);
    expect(e.code).toBe('ERR_INVALID_PATTERN');
  });
});

describe('topicMatches', () => {
  it('matches literal segments exactly', () => {
    expect(topicMatches('press1.start', 'press1.start')).toBe(true);
    expect(topicMatches('press1.start', 'press1.stop')).toBe(false);
    expect(topicMatches('press1.start', 'press1.start.now')).toBe(false);
    expect(topicMatches('press1.start', 'press1')).toBe(false);
  });

  it('matches * against exactly one segment', () => {
    expect(topicMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(topicMatches('a.*.c', 'a.c')).toBe(false);
    expect(topicMatches('a.*.c', 'a.b.b.c')).toBe(false);
    expect(topicMatches('*', 'a')).toBe(true);
    expect(topicMatches('*', 'a.b')).toBe(false);
  });

  it('matches > against one or more remaining segments', () => {
    expect(topicMatches('a.>', 'a.b')).toBe(true);
    expect(topicMatches('a.>', 'a.b.c.d')).toBe(true);
    expect(topicMatches('a.>', 'a')).toBe(false);
    expect(topicMatches('>', 'x.y')).toBe(true);
  });

  it('matches no pattern for a topic with an empty segment', () => {
    for (const topic of ['', '.', 'a.', '.a', 'a..b', 'a.b.']) {
      for (const pattern of ['a', 'a.*', 'a.>', '>', '*', '{x}', 'a.*.b', 'a.{x}']) {
        expect(topicMatches(pattern, topic), `${pattern} vs ${JSON.stringify(topic)}`).toBe(false);
      }
    }
  });

  it('accepts a compiled pattern', () => {
    const p = parseTopicPattern('a.{x}');
    expect(topicMatches(p, 'a.b')).toBe(true);
  });

  it('throws ERR_INVALID_PATTERN for an invalid pattern', () => {
    expect(() => topicMatches('a*', 'a')).toThrow(IpcError);
  });
});

describe('matchTopicPattern', () => {
  it('captures {name} segments', () => {
    expect(matchTopicPattern('press1.axis.{n}.{field}', 'press1.axis.3.pos')).toEqual({
      n: '3',
      field: 'pos',
    });
  });

  it('captures the segments taken by > as rest', () => {
    expect(matchTopicPattern('press1.>', 'press1.axis.3.pos')).toEqual({ rest: 'axis.3.pos' });
    expect(matchTopicPattern('{d}.>', 'press1.x')).toEqual({ d: 'press1', rest: 'x' });
  });

  it('returns undefined when the topic does not match', () => {
    expect(matchTopicPattern('a.{x}', 'b.c')).toBeUndefined();
  });

  it('returns null-prototype params', () => {
    const params = matchTopicPattern('a.{x}', 'a.b');
    expect(params).toBeDefined();
    expect(Object.getPrototypeOf(params)).toBeNull();
  });

  it('stores a capture named __proto__ as an own property without polluting prototypes', () => {
    const params = matchTopicPattern('a.{__proto__}.{constructor}', 'a.polluted.c');
    expect(params).toBeDefined();
    const p = params as Record<string, string>;
    expect(Object.getPrototypeOf(p)).toBeNull();
    expect(Object.hasOwn(p, '__proto__')).toBe(true);
    expect(p['__proto__']).toBe('polluted');
    expect(p['constructor']).toBe('c');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('has no inherited members such as toString', () => {
    const params = matchTopicPattern('a.{x}', 'a.b') as Record<string, string>;
    expect(params['toString']).toBeUndefined();
    expect(params['constructor']).toBeUndefined();
  });
});

describe('splitTopic', () => {
  it('splits on dots', () => {
    expect(splitTopic('a.b.c')).toEqual(['a', 'b', 'c']);
    expect(splitTopic('a')).toEqual(['a']);
  });

  it('returns undefined for empty topics and empty segments', () => {
    expect(splitTopic('')).toBeUndefined();
    expect(splitTopic('a..b')).toBeUndefined();
    expect(splitTopic('a.')).toBeUndefined();
  });
});
