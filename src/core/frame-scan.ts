/**
 * Envelope scanner: reads the routing members of a frame's payload (`transaction_id`, `topic`,
 * `message_type`) in one pass over its bytes, without decoding the text or building the message,
 * for a hub that forwards the original bytes anyway.
 *
 * Soundness is the point: whenever {@link scanEnvelope} returns true, `decodePayload(type,
 * payload, maxDepth)` of frame.ts succeeds and gives the same three values. It only vouches for
 * a narrow, plain form of payload (ASCII, no escapes, strictly valid JSON, envelope members of
 * their plain types) and returns false on anything else, leaving the decision to the full decoder.
 */
import { type CommandMessageWire, MessageType, isMessageType } from './message.ts';

/**
 * The routing members of one payload, as {@link scanEnvelope} reads them.
 *
 * @example
 * ```ts
 * const out: ScannedEnvelope = { transactionId: 0, topic: '', messageType: 0 };
 * ```
 */
export interface ScannedEnvelope {
  /** `transaction_id`, a u32. */
  transactionId: number;
  /** `topic`. */
  topic: string;
  /** `message_type`, equal to the frame's type byte. */
  messageType: number;
}

/**
 * The deepest nesting the scanner vouches for, whatever `maxDepth` allows: the full decoder
 * checks nesting by recursion, which must stay far from the call stack's limit (it overflows
 * at a few thousand levels on Node 20). Deeper payloads go to the slow path.
 */
export const MAX_SCAN_DEPTH = 512;

/**
 * Reads the routing members of a frame's payload without building the message, or returns false
 * when it cannot vouch for the payload (the caller then decodes it fully with `decodePayload`).
 * On true, `out` holds the payload's transaction id, topic and message type, and
 * `decodePayload(type, payload, maxDepth)` is guaranteed to succeed with the same three values.
 * On false, `out` is left as it was. Allocates nothing but the topic string.
 *
 * It returns false on: any byte >= 0x80 (so any BOM), a control byte, backslash or end of input
 * inside a string; anything that is not strictly valid JSON (RFC 8259 grammar, whitespace =
 * space, tab, CR, LF; nothing but whitespace after the value); a top-level value that is not an
 * object; nesting deeper than `maxDepth` (the envelope is depth 1) or {@link MAX_SCAN_DEPTH}; an
 * envelope member (`transaction_id`, `timecode`, `topic`, `message_type`, `data`, `crc`,
 * `success`, `error_message`, `control_type`) given twice; `message_type` missing, not a plain
 * digit literal, not equal to `type`, or Control (which always takes the slow path), and any
 * `control_type`; `transaction_id` missing or not a plain u32 digit literal; `timecode` present
 * and not an integer literal of at most 15 digits; `crc` present and not a plain u32 digit
 * literal; `success` present and not `true`/`false`; `error_message` present and not a string;
 * `topic` missing or not a string. Unknown members and `data` may hold any valid JSON.
 *
 * So a payload it vouches for is also pure ASCII, holds no backslash at all, and has exactly
 * one top-level `transaction_id` (code that rewrites the id in place may rely on that).
 *
 * @param type - the frame's header type byte, or -1 for a payload without a header (the
 *   WebSocket text form: then `decodeJson(text, maxDepth)` is what it vouches for, and any
 *   `message_type` but Control is taken).
 * @param payload - the frame's payload (the bytes after the 5-byte header).
 * @param maxDepth - the nesting limit `decodePayload` would be called with.
 * @param out - caller-owned result, overwritten only when the scan succeeds.
 * @example
 * ```ts
 * const frame = encodeFrame(CommandMessage.request('press1.start', { rpm: 1200 }));
 * const env: ScannedEnvelope = { transactionId: 0, topic: '', messageType: 0 };
 * if (scanEnvelope(frame[4]!, frame.subarray(HEADER_SIZE), DEFAULT_MAX_DEPTH, env)) {
 *   route(env.topic, env.transactionId, frame); // forward the original bytes
 * } else {
 *   const msg = decodePayload(frame[4]!, frame.subarray(HEADER_SIZE)); // the slow path decides
 * }
 * ```
 */
export function scanEnvelope(
  type: number,
  payload: Uint8Array,
  maxDepth: number,
  out: ScannedEnvelope,
): boolean {
  // Control traffic (registration above all) always goes the slow path; isMessageType also
  // rejects a non-integer or out-of-range type byte.
  if (type !== NO_HEADER && (type === MessageType.Control || !isMessageType(type))) return false;
  // `!(x >= 1)` is also true for NaN. A fractional limit allows what its floor allows.
  if (!(maxDepth >= 1)) return false;
  // Container levels allowed below the envelope.
  const room = (maxDepth >= MAX_SCAN_DEPTH ? MAX_SCAN_DEPTH : Math.floor(maxDepth)) - 1;

  const p = payload;
  const n = p.length;
  let i = skipSpace(p, 0, n);
  if (i >= n || p[i] !== LBRACE) return false;
  i = skipSpace(p, i + 1, n);
  if (i >= n || p[i] !== QUOTE) return false; // `{}` lacks the required members anyway

  let seen = 0;
  let transactionId = 0;
  let messageType = 0;
  let topicStart = 0;
  let topicEnd = 0;
  for (;;) {
    // Here p[i] is the opening quote of a key.
    const keyStart = i + 1;
    const known = envelopeMember(p, keyStart, n);
    const member = known >>> 5;
    const keyEnd = member !== 0 ? keyStart + (known & 31) : stringEnd(p, keyStart, n);
    if (keyEnd < 0) return false;
    i = skipSpace(p, keyEnd + 1, n);
    if (i >= n || p[i] !== COLON) return false;
    i = skipSpace(p, i + 1, n);
    if (i >= n) return false;
    if (member !== 0) {
      // JSON.parse would keep the last of two; rather than reason about which, bail.
      if ((seen & member) !== 0) return false;
      seen |= member;
    }
    switch (member) {
      case M_TRANSACTION_ID:
      case M_CRC:
      case M_MESSAGE_TYPE: {
        // A plain digit literal: the structural check after the switch rejects a following
        // `.`, `e` or `E`, so this is also the whole number.
        const start = i;
        let v = 0;
        while (i < n) {
          const d = p[i]! - DIGIT_0;
          if (d < 0 || d > 9) break;
          v = v * 10 + d;
          i++;
        }
        const len = i - start;
        if (len === 0 || len > U32_DIGITS || (len > 1 && p[start] === DIGIT_0) || v > U32_MAX) {
          return false;
        }
        if (member === M_TRANSACTION_ID) transactionId = v;
        else if (member === M_MESSAGE_TYPE) {
          if (type === NO_HEADER ? v === MessageType.Control || !isMessageType(v) : v !== type) {
            return false;
          }
          messageType = v;
        }
        break;
      }
      case M_TIMECODE: {
        if (p[i] === MINUS) i++;
        const start = i;
        while (i < n && isDigit(p[i]!)) i++;
        const len = i - start;
        if (len === 0 || len > TIMECODE_DIGITS || (len > 1 && p[start] === DIGIT_0)) return false;
        break;
      }
      case M_TOPIC:
      case M_ERROR_MESSAGE: {
        if (p[i] !== QUOTE) return false;
        const end = stringEnd(p, i + 1, n);
        if (end < 0) return false;
        if (member === M_TOPIC) {
          topicStart = i + 1;
          topicEnd = end;
        }
        i = end + 1;
        break;
      }
      case M_SUCCESS:
        if (p[i] === LOWER_N) return false; // `null` is not a boolean
        i = literalEnd(p, i, n);
        if (i < 0) return false;
        break;
      case M_CONTROL_TYPE:
        return false;
      case M_DATA:
      default:
        // `data` and unknown members: any valid JSON within the depth limit.
        i = valueEnd(p, i, n, room);
        if (i < 0) return false;
    }
    i = skipSpace(p, i, n);
    if (i >= n) return false;
    const c = p[i];
    if (c === RBRACE) break;
    if (c !== COMMA) return false;
    i = skipSpace(p, i + 1, n);
    if (i >= n || p[i] !== QUOTE) return false;
  }
  if (skipSpace(p, i + 1, n) !== n) return false;
  if ((seen & REQUIRED) !== REQUIRED) return false;

  out.transactionId = transactionId;
  out.topic = asciiString(p, topicStart, topicEnd);
  out.messageType = messageType;
  return true;
}

/** `type` of a payload that came without a frame header (the WebSocket text form). */
const NO_HEADER = -1;
const U32_MAX = 0xffff_ffff;
/** Digits of the largest u32. */
const U32_DIGITS = 10;
/** Up to 15 digits a timecode is below 2^53, so JSON.parse reads it as an exact integer. */
const TIMECODE_DIGITS = 15;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const COLON = 0x3a;
const UPPER_E = 0x45;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_L = 0x6c;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/**
 * 1 for the bytes a string may hold as they are: 0x20-0x7f except `"` and `\`. Everything else
 * ends the plain run: the closing quote, or a byte the scanner does not vouch for (a control
 * byte, which JSON forbids; a backslash, whose escapes are left to the slow path; a byte >= 0x80,
 * whose UTF-8 validity is left to the slow path).
 */
const PLAIN_STRING_BYTE: Uint8Array = /* @__PURE__ */ (() => {
  const table = new Uint8Array(256);
  for (let b = SPACE; b < 0x80; b++) table[b] = 1;
  table[QUOTE] = 0;
  table[0x5c] = 0;
  return table;
})();

// Envelope members, one bit each (the duplicate check and the required set).
const M_TRANSACTION_ID = 1;
const M_TIMECODE = 2;
const M_TOPIC = 4;
const M_MESSAGE_TYPE = 8;
const M_DATA = 16;
const M_CRC = 32;
const M_SUCCESS = 64;
const M_ERROR_MESSAGE = 128;
const M_CONTROL_TYPE = 256;
const REQUIRED = M_TRANSACTION_ID | M_TOPIC | M_MESSAGE_TYPE;

/**
 * A member name's bytes followed by its closing quote; typed against the wire interface so a
 * renamed member fails to compile.
 */
function quotedName(name: keyof CommandMessageWire): Uint8Array {
  const bytes = new Uint8Array(name.length + 1);
  for (let k = 0; k < name.length; k++) bytes[k] = name.charCodeAt(k);
  bytes[name.length] = QUOTE;
  return bytes;
}

/** The envelope member names, each at the index of its bit (M_X === 1 << index). */
const NAME_TEXTS: readonly (keyof CommandMessageWire)[] = [
  'transaction_id',
  'timecode',
  'topic',
  'message_type',
  'data',
  'crc',
  'success',
  'error_message',
  'control_type',
];
const NAMES: readonly Uint8Array[] = /* @__PURE__ */ NAME_TEXTS.map(quotedName);

/**
 * Which envelope member the key whose text starts at `at` names: `(bit << 5) | length` of the
 * name, or 0 for any other key (which the caller then scans as a plain string). The first two
 * bytes pick the only candidate, so each key is compared once and never scanned twice.
 */
function envelopeMember(p: Uint8Array, at: number, n: number): number {
  let index: number;
  switch (p[at]) {
    case LOWER_T: {
      const c = p[at + 1];
      index = c === 0x72 ? 0 : c === 0x69 ? 1 : c === 0x6f ? 2 : -1;
      if (index < 0) return 0;
      break;
    }
    case 0x6d:
      index = 3;
      break;
    case 0x64:
      index = 4;
      break;
    case 0x63:
      index = p[at + 1] === 0x72 ? 5 : 8;
      break;
    case 0x73:
      index = 6;
      break;
    case LOWER_E:
      index = 7;
      break;
    default:
      return 0;
  }
  const word = NAMES[index]!;
  const len = word.length;
  if (at + len > n) return 0;
  for (let k = 0; k < len; k++) if (p[at + k] !== word[k]) return 0;
  // The length without the closing quote: the key's end is at + that.
  return (1 << (index + 5)) | (len - 1);
}

function isDigit(b: number): boolean {
  return (b - DIGIT_0) >>> 0 <= 9;
}

/** The first index from `i` that is not JSON whitespace (or `n`). */
function skipSpace(p: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = p[i]!;
    // Compact JSON has no whitespace: one comparison settles the common case.
    if (c > SPACE || (c !== SPACE && c !== LF && c !== CR && c !== TAB)) return i;
    i++;
  }
  return n;
}

/**
 * The index of the quote that closes the string whose content starts at `i`, or -1 when a byte
 * the scanner does not vouch for (see PLAIN_STRING_BYTE) or the end comes first.
 */
function stringEnd(p: Uint8Array, i: number, n: number): number {
  const t = PLAIN_STRING_BYTE;
  // Four bytes per step while all are plain: a third cheaper than one at a time.
  while (i + 4 <= n && (t[p[i]!]! & t[p[i + 1]!]! & t[p[i + 2]!]! & t[p[i + 3]!]!) === 1) i += 4;
  while (i < n && t[p[i]!] === 1) i++;
  return i < n && p[i] === QUOTE ? i : -1;
}

/** The index after the literal `true`, `false` or `null` at `i`, or -1. */
function literalEnd(p: Uint8Array, i: number, n: number): number {
  const c = p[i];
  if (c === LOWER_T) {
    return i + 4 <= n && p[i + 1] === 0x72 && p[i + 2] === 0x75 && p[i + 3] === LOWER_E
      ? i + 4
      : -1;
  }
  if (c === LOWER_F) {
    return i + 5 <= n &&
      p[i + 1] === 0x61 &&
      p[i + 2] === LOWER_L &&
      p[i + 3] === 0x73 &&
      p[i + 4] === LOWER_E
      ? i + 5
      : -1;
  }
  if (c === LOWER_N) {
    return i + 4 <= n && p[i + 1] === 0x75 && p[i + 2] === LOWER_L && p[i + 3] === LOWER_L
      ? i + 4
      : -1;
  }
  return -1;
}

/**
 * The index after the JSON number at `i` (RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
 * ([eE] [+-]? [0-9]+)?`), or -1.
 */
function numberEnd(p: Uint8Array, i: number, n: number): number {
  if (p[i] === MINUS) i++;
  if (i >= n) return -1;
  const first = p[i]!;
  if (first === DIGIT_0) i++;
  else if (isDigit(first)) {
    i++;
    while (i < n && isDigit(p[i]!)) i++;
  } else return -1;
  if (i < n && p[i] === DOT) {
    i++;
    const start = i;
    while (i < n && isDigit(p[i]!)) i++;
    if (i === start) return -1;
  }
  if (i < n && (p[i] === LOWER_E || p[i] === UPPER_E)) {
    i++;
    if (i < n && (p[i] === PLUS || p[i] === MINUS)) i++;
    const start = i;
    while (i < n && isDigit(p[i]!)) i++;
    if (i === start) return -1;
  }
  return i;
}

/**
 * The index after the JSON value that starts at `i` (no leading whitespace), or -1. `room` is
 * how many container levels may still open, counting one at `i`; the recursion is bounded by it,
 * so by MAX_SCAN_DEPTH.
 */
function valueEnd(p: Uint8Array, i: number, n: number, room: number): number {
  const c = p[i];
  return c === LBRACE || c === LBRACKET ? containerEnd(p, i, n, room) : scalarEnd(p, i, n);
}

/**
 * The index after the object or array that opens at `i`, or -1 (see valueEnd for `room`).
 * Scalars are read in the loop; only a nested container costs a (recursive) call.
 */
function containerEnd(p: Uint8Array, i: number, n: number, room: number): number {
  if (room < 1) return -1;
  const object = p[i] === LBRACE;
  const close = object ? RBRACE : RBRACKET;
  i = skipSpace(p, i + 1, n);
  if (i < n && p[i] === close) return i + 1;
  for (;;) {
    if (object) {
      if (i >= n || p[i] !== QUOTE) return -1;
      const keyEnd = stringEnd(p, i + 1, n);
      if (keyEnd < 0) return -1;
      i = skipSpace(p, keyEnd + 1, n);
      if (i >= n || p[i] !== COLON) return -1;
      i = skipSpace(p, i + 1, n);
    }
    if (i >= n) return -1;
    const c = p[i];
    i = c === LBRACE || c === LBRACKET ? containerEnd(p, i, n, room - 1) : scalarEnd(p, i, n);
    if (i < 0) return -1;
    i = skipSpace(p, i, n);
    if (i >= n) return -1;
    const d = p[i];
    if (d === close) return i + 1;
    if (d !== COMMA) return -1;
    i = skipSpace(p, i + 1, n);
  }
}

/** The index after the string, number or literal at `i`, or -1. */
function scalarEnd(p: Uint8Array, i: number, n: number): number {
  const c = p[i]!;
  if (c === QUOTE) {
    const end = stringEnd(p, i + 1, n);
    return end < 0 ? -1 : end + 1;
  }
  if (c === MINUS || isDigit(c)) return numberEnd(p, i, n);
  return literalEnd(p, i, n);
}

/**
 * The text of `p[start, end)`, all of whose bytes are ASCII (checked by the scan). Short texts
 * are built a character at a time: below 13 characters V8 makes flat strings of the pieces,
 * cheaper than a decoder call. Longer ones would become a chain of cons strings that every map
 * lookup has to flatten, so the decoder makes them instead.
 */
function asciiString(p: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_TEXT) return textDecoder.decode(p.subarray(start, end));
  let s = '';
  for (let k = start; k < end; k++) s += String.fromCharCode(p[k]!);
  return s;
}

const SHORT_TEXT = 12;
// Stateless for whole-buffer calls; fed ASCII only, so no replacement or BOM handling applies.
const textDecoder = /* @__PURE__ */ new TextDecoder();
