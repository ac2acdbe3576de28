/**
 * The fuzz oracle: what PROTOCOL.md (sections 1, 2, 3, 4 and 6) says must happen to one frame,
 * one WebSocket message or one topic pattern, written from the spec alone. It imports nothing
 * from `src/` or `bridge/`: a fuzz case is checked against this reading of the contract, never
 * against the validator under test. Where the spec leaves a point open, the comment says which
 * reading is taken.
 */

/** MessageType names by wire number (PROTOCOL.md section 3). */
export const MESSAGE_TYPES = [
  'NoOp',
  'Request',
  'Response',
  'Broadcast',
  'Control',
  'Read',
  'Write',
  'Subscribe',
  'Unsubscribe',
  'Heartbeat',
] as const;
/** ControlType names by wire number (PROTOCOL.md section 4). */
export const CONTROL_TYPES = [
  'NoOp',
  'Initialize',
  'Finalize',
  'Register',
  'RegisterAck',
  'Configure',
  'Status',
] as const;

export const T = {
  NoOp: 0,
  Request: 1,
  Response: 2,
  Broadcast: 3,
  Control: 4,
  Read: 5,
  Write: 6,
  Subscribe: 7,
  Unsubscribe: 8,
  Heartbeat: 9,
} as const;
export const C = { NoOp: 0, Initialize: 1, Finalize: 2, Register: 3, RegisterAck: 4 } as const;

const U32_MAX = 0xffff_ffff;

/** A message the spec accepts, with every member resolved to its value or its default. */
export interface ExpectedMessage {
  transactionId: number;
  timecode: number;
  topic: string;
  messageType: number;
  /** Resolved on Control messages only. */
  controlType: number | undefined;
  data: unknown;
  crc: number;
  success: boolean;
  errorMessage: string;
}

/**
 * The verdict on one unit (a frame, or a WebSocket text message):
 * - `close`: an error that closes the connection (section 1, first list);
 * - `invalid`: an error of this message alone; `reply` is what a failed Response must carry
 *   (transaction id and topic) when the message asked for one and its id is readable, non-zero;
 * - `message`: a valid message.
 */
export type Verdict =
  | { kind: 'close'; why: string }
  | {
      kind: 'invalid';
      why: string;
      messageType: number;
      reply: { txid: number; topic: string } | undefined;
    }
  | { kind: 'message'; msg: ExpectedMessage };

/** True for an integer 0..2^32-1 (section 2: "u32 members must be JSON integers in range"). */
export function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= U32_MAX;
}

/** Types that ask for a reply (section 1: Request, Read, Write, Subscribe, Unsubscribe, Control). */
export function asksReply(type: number): boolean {
  return type === 1 || type === 4 || type === 5 || type === 6 || type === 7 || type === 8;
}

/**
 * Strict UTF-8 check (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, no
 * truncated sequence. Written out here so the oracle does not lean on the decoder under test.
 */
export function isValidUtf8(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min, cp] = [1, 0x80, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [need, min, cp] = [2, 0x800, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [need, min, cp] = [3, 0x10000, c & 0x07];
    else return false;
    if (i + need >= n) return false;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += need + 1;
  }
  return true;
}

/**
 * Deepest nesting of a parsed JSON value (the envelope object is depth 1), walked with an
 * explicit stack and stopping once past `limit`. Depth is a property of the message, i.e. of the
 * value JSON.parse leaves: with duplicate keys only the last one counts, so deep nesting under
 * a key that a later duplicate replaces is not part of the message. (PROTOCOL.md does not say
 * which of the two it means; a text-based count would refuse such a payload.)
 */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

function own(o: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** A MessageType given as a number 0-9 or as its exact, case-sensitive name (section 2). */
function messageTypeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 9 ? v : undefined;
  if (typeof v === 'string') {
    const i = (MESSAGE_TYPES as readonly string[]).indexOf(v);
    return i < 0 ? undefined : i;
  }
  return undefined;
}

function controlTypeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 6 ? v : undefined;
  if (typeof v === 'string') {
    const i = (CONTROL_TYPES as readonly string[]).indexOf(v);
    return i < 0 ? undefined : i;
  }
  return undefined;
}

/**
 * Judges one payload. `headerType` is the frame's type byte, or -1 for a WebSocket text
 * message (no header). `maxDepth` is the nesting limit (64 by default, section 8).
 */
export function judgePayload(
  payload: Uint8Array | string,
  headerType: number,
  maxDepth = 64,
): Verdict {
  let text: string;
  if (typeof payload === 'string') text = payload;
  else {
    if (!isValidUtf8(payload)) return { kind: 'close', why: 'payload is not valid UTF-8' };
    text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(payload);
  }
  // A leading U+FEFF is not JSON whitespace (RFC 8259 forbids senders to add it), so a payload
  // that starts with a byte order mark is "not JSON": a closing error.
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'close', why: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'close', why: 'JSON that is not an object' };
  }
  const o = value as Record<string, unknown>;
  const rawType = own(o, 'message_type');
  if (rawType === undefined) return { kind: 'close', why: 'message_type missing' };
  const type = messageTypeOf(rawType);
  if (type === undefined) return { kind: 'close', why: 'unknown message_type' };
  if (headerType >= 0 && type !== headerType) {
    return { kind: 'close', why: 'message_type differs from the header byte' };
  }

  const txid = own(o, 'transaction_id');
  const topic = own(o, 'topic');
  const pick = <V>(key: string, fallback: V): unknown => {
    const v = own(o, key);
    return v === undefined ? fallback : v;
  };
  const timecode = pick('timecode', 0);
  const crc = pick('crc', 0);
  const success = pick('success', false);
  const errorMessage = pick('error_message', '');
  let controlType: number | undefined;
  let why: string | undefined;
  if (!isU32(txid)) why = 'transaction_id missing or not a u32';
  else if (typeof topic !== 'string') why = 'topic not a string';
  else if (typeof timecode !== 'number' || !Number.isInteger(timecode))
    why = 'timecode not an integer';
  else if (!isU32(crc)) why = 'crc not a u32';
  else if (typeof success !== 'boolean') why = 'success not a boolean';
  else if (typeof errorMessage !== 'string') why = 'error_message not a string';
  else if (type === T.Control) {
    // Section 2 gives no default for a missing control_type; like the other optional members it
    // is read as its zero value (ControlType NoOp).
    controlType = controlTypeOf(pick('control_type', 0));
    if (controlType === undefined) why = 'unknown control_type';
  }
  if (why === undefined && jsonDepth(o, maxDepth) > maxDepth) why = `nesting deeper than ${maxDepth}`;
  if (why !== undefined) {
    const answerable = isU32(txid) && txid !== 0 && asksReply(type);
    return {
      kind: 'invalid',
      why,
      messageType: type,
      reply: answerable ? { txid, topic: typeof topic === 'string' ? topic : '' } : undefined,
    };
  }
  const data = own(o, 'data');
  return {
    kind: 'message',
    msg: {
      transactionId: txid as number,
      timecode: timecode as number,
      topic: topic as string,
      messageType: type,
      controlType: type === T.Control ? controlType : undefined,
      data: data === undefined ? null : data,
      crc: crc as number,
      success: success as boolean,
      errorMessage: errorMessage as string,
    },
  };
}

/** Reads the u32 little-endian length at `at`. */
export function lengthAt(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
}

/**
 * Judges a frame header alone (section 1): an empty payload, one over `maxPayload`, or a type
 * byte that names no MessageType close the connection before anything is read or allocated.
 */
export function judgeHeader(length: number, type: number, maxPayload: number): Verdict | undefined {
  if (length === 0) return { kind: 'close', why: 'N = 0' };
  if (length > maxPayload) return { kind: 'close', why: 'N over the limit' };
  if (type > 9) return { kind: 'close', why: 'type byte names no MessageType' };
  return undefined;
}

/** One whole frame (header + exactly its payload). */
export function judgeFrame(frame: Uint8Array, maxPayload: number, maxDepth = 64): Verdict {
  const length = lengthAt(frame, 0);
  const type = frame[4] as number;
  return judgeHeader(length, type, maxPayload) ?? judgePayload(frame.subarray(5), type, maxDepth);
}

/**
 * Topic pattern validity (section 6). `'either'` where the spec leaves it open: the spec names
 * no character set for capture names, so a capture whose name is not an identifier may be
 * accepted or refused.
 */
export function patternValidity(pattern: string): boolean | 'either' {
  if (pattern === '') return false;
  const segs = pattern.split('.');
  const names = new Set<string>();
  let open = false;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (s === '') return false;
    if (s === '>') {
      if (i !== segs.length - 1) return false;
      continue;
    }
    if (s === '*') continue;
    if (s.startsWith('{') && s.endsWith('}') && s.length >= 2) {
      const name = s.slice(1, -1);
      if (name === '') return false;
      if (/[{}*>]/.test(name)) return false;
      if (names.has(name)) return false;
      names.add(name);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) open = true;
      continue;
    }
    // "a segment that mixes a wildcard or capture with other characters": any of * > { } in a
    // segment that is not exactly a wildcard, `>` or one capture.
    if (/[*>{}]/.test(s)) return false;
  }
  if (segs[segs.length - 1] === '>' && names.has('rest')) return false;
  return open ? 'either' : true;
}

/** Module names (section 4): 1-64 of `[A-Za-z0-9_-]`, not `system`. */
export function isModuleName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v) && v !== 'system';
}

/** True when Register `data` is a valid ModuleRegistration (section 4). */
export function isRegistration(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const d = data as Record<string, unknown>;
  if (!isModuleName(own(d, 'name'))) return false;
  const version = own(d, 'version');
  if (version !== undefined && version !== null && typeof version !== 'string') return false;
  const caps = own(d, 'capabilities');
  if (caps === undefined || caps === null) return true;
  return Array.isArray(caps) && caps.every((c) => typeof c === 'string');
}

/** The JSON text of a value, for comparing decoded data (own `__proto__` keys included). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
