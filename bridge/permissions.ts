/**
 * Per-token permissions of the bridge (PROTOCOL.md section 7): which module names a connection
 * may register and which topics it may request, subscribe to and broadcast on. Deny lists win
 * over allow lists; everything not allowed is refused.
 */
import {
  parseTopicPattern,
  splitTopic,
  type PatternSegment,
  type TopicPattern,
} from 'autocore-ipc';

/** Permission lists as validated strings. */
export interface PermissionLists {
  names: string[];
  request: string[];
  subscribe: string[];
  broadcast: string[];
  denyRequest: string[];
  denySubscribe: string[];
  denyBroadcast: string[];
}

/**
 * Compiled permissions of one token.
 *
 * @example
 * ```ts
 * const p = compilePermissions({ names: ['hmi_*'], request: ['press1.>'], subscribe: ['press1.>'],
 *   broadcast: [], denyRequest: ['press1.config.>'], denySubscribe: [], denyBroadcast: [] });
 * p.mayRegister('hmi_1');               // true
 * p.mayRequest('press1.config.speed');  // false: denied
 * p.maySubscribe('press1.axis.*');      // true: inside press1.>
 * ```
 */
export interface CompiledPermissions {
  mayRegister(name: string): boolean;
  /** Request, Read and Write of a concrete topic. */
  mayRequest(topic: string): boolean;
  /** Subscribe to a topic pattern. */
  maySubscribe(pattern: string): boolean;
  /** Broadcast on a concrete topic. */
  mayBroadcast(topic: string): boolean;
}

/**
 * A name glob as a RegExp: `*` matches any run (possibly empty) of name characters; everything
 * else is literal. Globs are validated to `[A-Za-z0-9_*-]` before they get here, so nothing
 * needs escaping but `-`, which is literal outside a character class anyway.
 */
export function nameGlobToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').join('[A-Za-z0-9_-]*')}$`);
}

function segmentsMatch(ps: readonly PatternSegment[], segs: readonly string[]): boolean {
  for (let i = 0; i < ps.length; i++) {
    const s = ps[i] as PatternSegment;
    if (s.kind === 'rest') return i < segs.length;
    if (i >= segs.length) return false;
    if (s.kind === 'literal' && s.value !== segs[i]) return false;
  }
  return ps.length === segs.length;
}

/**
 * True when every topic `inner` can match is matched by `outer` as well: `press1.>` covers
 * `press1.axis.*` and `press1.>`, `a.*` covers `a.b` and `a.{x}`, nothing but `>` (at the same
 * depth) covers a `>`.
 */
export function patternCovers(outer: TopicPattern, inner: TopicPattern): boolean {
  const a = outer.segments;
  const b = inner.segments;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as PatternSegment;
    // `>` takes one or more segments; every remaining inner segment takes at least one.
    if (x.kind === 'rest') return i < b.length;
    const y = b[i];
    if (y === undefined || y.kind === 'rest') return false;
    if (x.kind === 'literal' && (y.kind !== 'literal' || y.value !== x.value)) return false;
  }
  return a.length === b.length;
}

/** True when some topic is matched by both patterns. */
export function patternsOverlap(p: TopicPattern, q: TopicPattern): boolean {
  const a = p.segments;
  const b = q.segments;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as PatternSegment;
    const y = b[i];
    if (y === undefined) return false;
    if (x.kind === 'rest' || y.kind === 'rest') return true;
    if (x.kind === 'literal' && y.kind === 'literal' && x.value !== y.value) return false;
  }
  return a.length === b.length;
}

function topicAllowed(
  topic: string,
  allow: readonly TopicPattern[],
  deny: readonly TopicPattern[],
): boolean {
  const segs = splitTopic(topic);
  // A topic with an empty segment matches no pattern, so it can never be allowed.
  if (segs === undefined) return false;
  if (deny.some((p) => segmentsMatch(p.segments, segs))) return false;
  return allow.some((p) => segmentsMatch(p.segments, segs));
}

/** Topics longer than this are decided afresh each time: the memo's memory stays small. */
const MEMO_MAX_TOPIC = 128;
/** Decisions remembered per check; the memo is emptied when it is full. */
const MEMO_MAX_ENTRIES = 512;

/**
 * `decide`, remembering its answers: a connection asks about the same few topics again and
 * again, and splitting a topic and matching it against every pattern costs more than a lookup.
 * Permissions never change once compiled, so a remembered answer never goes stale.
 */
function memoized(decide: (topic: string) => boolean): (topic: string) => boolean {
  const memo = new Map<string, boolean>();
  return (topic) => {
    const known = memo.get(topic);
    if (known !== undefined) return known;
    const verdict = decide(topic);
    if (topic.length <= MEMO_MAX_TOPIC) {
      if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
      memo.set(topic, verdict);
    }
    return verdict;
  };
}

/** Compiles validated permission lists. Throws ERR_INVALID_PATTERN on an invalid pattern. */
export function compilePermissions(lists: PermissionLists): CompiledPermissions {
  const names = lists.names.map(nameGlobToRegExp);
  const compile = (list: readonly string[]): TopicPattern[] =>
    list.map((p) => parseTopicPattern(p));
  const request = compile(lists.request);
  const subscribe = compile(lists.subscribe);
  const broadcast = compile(lists.broadcast);
  const denyRequest = compile(lists.denyRequest);
  const denySubscribe = compile(lists.denySubscribe);
  const denyBroadcast = compile(lists.denyBroadcast);
  return {
    mayRegister: (name) => names.some((re) => re.test(name)),
    mayRequest: memoized((topic) => topicAllowed(topic, request, denyRequest)),
    mayBroadcast: memoized((topic) => topicAllowed(topic, broadcast, denyBroadcast)),
    maySubscribe: memoized((source) => {
      let pattern: TopicPattern;
      try {
        pattern = parseTopicPattern(source);
      } catch {
        return false;
      }
      if (denySubscribe.some((d) => patternsOverlap(d, pattern))) return false;
      return subscribe.some((a) => patternCovers(a, pattern));
    }),
  };
}
