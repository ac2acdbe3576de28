/**
 * Topic patterns (PROTOCOL.md section 6): parsing, validation and one-off matching.
 *
 * Syntax, segment by segment (segments are split on `.`):
 * - a literal segment matches itself;
 * - `*` matches exactly one segment;
 * - `{name}` matches exactly one segment and captures it as `params.name`;
 * - `>` matches one or more remaining segments and must be last; they are captured, joined
 *   with `.`, as `params.rest`.
 *
 * Topics: a topic is split on `.` too. A topic that is empty or has an empty segment (`a..b`,
 * `a.`, `.a`) matches NO pattern at all: every kind of pattern segment needs a non-empty topic
 * segment (literals are never empty, `*` and `{name}` refuse empty segments, and the segments
 * taken by `>` must be non-empty as well), so such a topic is rejected up front.
 */
import { IpcError } from './errors.ts';

/**
 * One segment of a compiled {@link TopicPattern}.
 *
 * @example
 * ```ts
 * parseTopicPattern('press1.{n}.*.>').segments;
 * // [{ kind: 'literal', value: 'press1' }, { kind: 'capture', name: 'n' },
 * //  { kind: 'wildcard' }, { kind: 'rest' }]
 * ```
 */
export type PatternSegment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'capture'; readonly name: string }
  | { readonly kind: 'rest' };

/**
 * A parsed, validated topic pattern. Immutable (frozen).
 *
 * @example
 * ```ts
 * const p = parseTopicPattern('press1.axis.{n}.pos');
 * p.source;       // 'press1.axis.{n}.pos'
 * p.captureNames; // ['n']
 * p.hasRest;      // false
 * ```
 */
export interface TopicPattern {
  /** The pattern as written; patterns compare as exact strings. */
  readonly source: string;
  readonly segments: readonly PatternSegment[];
  /** Names of the `{name}` captures, left to right. */
  readonly captureNames: readonly string[];
  /** True when the pattern ends with `>`. */
  readonly hasRest: boolean;
}

/**
 * Captured values of a match: `{name}` captures by name, the segments taken by `>` as `rest`.
 * Always a null-prototype object, so a capture named `__proto__` or `constructor` is stored as
 * an ordinary own property and cannot reach `Object.prototype`.
 *
 * @example
 * ```ts
 * const params: TopicParams = matchTopicPattern('press1.axis.{n}.>', 'press1.axis.3.pos.x')!;
 * params.n;    // '3'
 * params.rest; // 'pos.x'
 * ```
 */
export type TopicParams = Record<string, string>;

/** Capture names: identifier-like. */
const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Characters that only wildcards and captures may use. */
const RESERVED_CHARS = /[*>{}]/;

const WILDCARD: PatternSegment = Object.freeze({ kind: 'wildcard' });
const REST: PatternSegment = Object.freeze({ kind: 'rest' });

/** JSON-quotes `s`, cut to 80 characters so a huge pattern from a peer makes a short message. */
function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/**
 * The engine's canonical copy of `s` as a property key. Every pattern's `axis` or `{n}` then
 * shares one string, which stays in cache when a trie holds thousands of patterns, and setting
 * `params[name]` needs no string-table lookup. The engine's table is weak, so strings from peers
 * are not kept alive by this.
 */
function propertyKey(name: string): string {
  return Object.keys({ [name]: 0 })[0] ?? name;
}

function invalid(pattern: string, why: string): IpcError {
  return new IpcError('ERR_INVALID_PATTERN', `Invalid topic pattern ${quote(pattern)}: ${why}`);
}

/**
 * Parses and validates a topic pattern. Throws an {@link IpcError} with code
 * `ERR_INVALID_PATTERN`, whose message names the pattern and the fault, for: an empty pattern,
 * an empty segment, `>` anywhere but last, a segment that mixes a wildcard or capture with other
 * characters (`a*`, `x{id}`, `{a}b`, `a>`, a stray `{` or `}`), an empty capture `{}`, a capture
 * name that is not identifier-like (`[A-Za-z_][A-Za-z0-9_]*`), a capture name used twice, and a
 * capture named `rest` together with `>`.
 *
 * @example
 * ```ts
 * const p = parseTopicPattern('press1.axis.{n}.pos');
 * parseTopicPattern('a.>.b'); // throws IpcError ERR_INVALID_PATTERN ('>' must be last)
 * ```
 */
export function parseTopicPattern(pattern: string): TopicPattern {
  if (typeof pattern !== 'string') {
    throw new IpcError(
      'ERR_INVALID_PATTERN',
      `Invalid topic pattern: expected a string, got ${typeof pattern}`,
    );
  }
  if (pattern === '') throw invalid(pattern, 'the pattern is empty');
  const parts = pattern.split('.');
  const segments: PatternSegment[] = [];
  const captureNames: string[] = [];
  const seen = new Set<string>(); // not captureNames.includes: a peer may send huge patterns
  let hasRest = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const where = `segment ${i + 1}`;
    if (part === '') throw invalid(pattern, `${where} is empty`);
    if (part === '>') {
      if (i !== parts.length - 1)
        throw invalid(pattern, `'>' must be the last segment (found at ${where})`);
      hasRest = true;
      segments.push(REST);
    } else if (part === '*') {
      segments.push(WILDCARD);
    } else if (part.startsWith('{') && part.endsWith('}') && part.length >= 2) {
      const raw = part.slice(1, -1);
      if (raw === '') throw invalid(pattern, `${where} is an empty capture '{}'`);
      if (!CAPTURE_NAME.test(raw)) {
        throw invalid(
          pattern,
          RESERVED_CHARS.test(raw)
            ? `${where} ${quote(part)} mixes a wildcard or capture with other characters`
            : `capture name ${quote(raw)} in ${where} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)`,
        );
      }
      const name = propertyKey(raw);
      if (seen.has(name)) throw invalid(pattern, `capture name ${quote(name)} is used twice`);
      seen.add(name);
      captureNames.push(name);
      segments.push(Object.freeze({ kind: 'capture', name }));
    } else if (RESERVED_CHARS.test(part)) {
      throw invalid(
        pattern,
        `${where} ${quote(part)} mixes a wildcard or capture with other characters`,
      );
    } else {
      segments.push(Object.freeze({ kind: 'literal', value: propertyKey(part) }));
    }
  }
  if (hasRest && seen.has('rest')) {
    throw invalid(pattern, "a capture named 'rest' clashes with '>', which captures params.rest");
  }
  return Object.freeze({
    source: pattern,
    segments: Object.freeze(segments),
    captureNames: Object.freeze(captureNames),
    hasRest,
  });
}

/**
 * True when `pattern` parses; never throws.
 *
 * @example
 * ```ts
 * isValidTopicPattern('press1.*.pos'); // true
 * isValidTopicPattern('press1.a*');    // false
 * ```
 */
export function isValidTopicPattern(pattern: string): boolean {
  try {
    parseTopicPattern(pattern);
    return true;
  } catch {
    return false;
  }
}

/**
 * Splits a topic on `.`; undefined when the topic is empty or has an empty segment, since such a
 * topic matches no pattern (see the module notes).
 *
 * @example
 * ```ts
 * splitTopic('press1.axis.3'); // ['press1', 'axis', '3']
 * splitTopic('press1..3');     // undefined
 * ```
 */
export function splitTopic(topic: string): string[] | undefined {
  if (typeof topic !== 'string' || topic === '') return undefined;
  const segs = topic.split('.');
  for (let i = 0; i < segs.length; i++) if (segs[i] === '') return undefined;
  return segs;
}

/**
 * Builds the params of `pattern` for topic segments it is known to match.
 * @internal
 */
export function captureParams(pattern: TopicPattern, segs: readonly string[]): TopicParams {
  const params = Object.create(null) as TopicParams;
  const ps = pattern.segments;
  for (let i = 0; i < ps.length; i++) {
    const s = ps[i] as PatternSegment;
    if (s.kind === 'capture') params[s.name] = segs[i] as string;
    else if (s.kind === 'rest') params.rest = segs.slice(i).join('.');
  }
  return params;
}

function segmentsMatch(pattern: TopicPattern, segs: readonly string[]): boolean {
  const ps = pattern.segments;
  const n = segs.length;
  for (let i = 0; i < ps.length; i++) {
    const s = ps[i] as PatternSegment;
    if (s.kind === 'rest') return i < n;
    if (i >= n) return false;
    if (s.kind === 'literal' && s.value !== segs[i]) return false;
  }
  return ps.length === n;
}

function compiled(pattern: string | TopicPattern): TopicPattern {
  return typeof pattern === 'string' ? parseTopicPattern(pattern) : pattern;
}

/**
 * Matches one topic against one pattern and returns its params, or undefined when it does not
 * match. A string pattern is parsed first (throws ERR_INVALID_PATTERN when invalid); to match
 * many topics against many patterns use `TopicTrie` or `TopicRouter`.
 *
 * @example
 * ```ts
 * matchTopicPattern('press1.axis.{n}.pos', 'press1.axis.3.pos'); // { n: '3' }
 * matchTopicPattern('press1.>', 'press1');                       // undefined ('>' needs one segment)
 * ```
 */
export function matchTopicPattern(
  pattern: string | TopicPattern,
  topic: string,
): TopicParams | undefined {
  const p = compiled(pattern);
  const segs = splitTopic(topic);
  if (segs === undefined || !segmentsMatch(p, segs)) return undefined;
  return captureParams(p, segs);
}

/**
 * True when `topic` matches `pattern` (a one-off check; throws ERR_INVALID_PATTERN for an invalid
 * string pattern).
 *
 * @example
 * ```ts
 * topicMatches('press1.*.pos', 'press1.axis.pos'); // true
 * topicMatches('press1.*', 'press1.axis.pos');     // false
 * topicMatches('a.*', 'a.');                       // false: empty segments match nothing
 * ```
 */
export function topicMatches(pattern: string | TopicPattern, topic: string): boolean {
  const p = compiled(pattern);
  const segs = splitTopic(topic);
  return segs !== undefined && segmentsMatch(p, segs);
}
