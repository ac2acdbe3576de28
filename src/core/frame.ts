/**
 * Frame codec: a 5-byte header (u32 LE payload length, then the MessageType byte) followed by
 * the UTF-8 JSON of one CommandMessage.
 */
import { IpcError } from './errors.ts';
import { CommandMessage, DEFAULT_MAX_DEPTH, MessageType, fromWire, isMessageType } from './message.ts';

/** Bytes in a frame header. */
export const HEADER_SIZE = 5;
/** Default payload limit on TCP (4 MiB). */
export const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;
/** Default payload limit before a connection has registered (64 KiB). */
export const PRE_REGISTRATION_MAX_PAYLOAD = 64 * 1024;

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the text, so JSON.parse rejects it instead of it being
// silently dropped: a BOM is not valid at the start of a JSON payload on this wire.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The JSON text of a message's payload. Throws ERR_SERIALIZATION for values JSON cannot carry.
 *
 * @example
 * ```ts
 * encodePayload(CommandMessage.broadcast('press1.speed', 1200)); // '{"transaction_id":0,...}'
 * ```
 */
export function encodePayload(msg: CommandMessage): string {
  try {
    return fastJson(msg) ?? JSON.stringify(msg);
  } catch (e) {
    throw new IpcError('ERR_SERIALIZATION', `cannot serialise message for ${msg.topic}: ${String(e)}`, {
      cause: e,
    });
  }
}

const toJSONOfCommandMessage = CommandMessage.prototype.toJSON;

/**
 * The JSON that `JSON.stringify(msg)` gives (same members, same order, same text), written by
 * concatenation: no wire object is built and only `data` goes through JSON.stringify, which
 * makes the codec's hottest call about a third cheaper. Undefined when a member is not of its
 * declared type (or `toJSON` was replaced), so that the generic path decides what to write.
 */
function fastJson(msg: CommandMessage): string | undefined {
  const { transactionId, timecode, topic, messageType, data, crc, success, errorMessage } = msg;
  // Number.isFinite is false for anything but a finite number.
  if (
    !Number.isFinite(transactionId) ||
    !Number.isFinite(timecode) ||
    typeof topic !== 'string' ||
    !Number.isFinite(messageType) ||
    !Number.isFinite(crc) ||
    typeof success !== 'boolean' ||
    typeof errorMessage !== 'string' ||
    msg.toJSON !== toJSONOfCommandMessage
  ) {
    return undefined;
  }
  // A member JSON.stringify would leave out (a function, a symbol) takes the generic path.
  const dataJson = data === undefined || data === null ? 'null' : JSON.stringify(data);
  if (dataJson === undefined) return undefined;
  let control = '';
  if (messageType === MessageType.Control) {
    const ct = msg.controlType ?? 0;
    if (!Number.isFinite(ct)) return undefined;
    control = `,"control_type":${ct}`;
  }
  // Consecutive messages mostly share their millisecond: its text is kept, as a timecode is past
  // the small-integer range and costs a slow number-to-text conversion each time.
  if (timecode !== lastTimecode) lastTimecodeText = String((lastTimecode = timecode));
  return (
    `{"transaction_id":${transactionId},"timecode":${lastTimecodeText},"topic":${JSON.stringify(topic)}` +
    `,"message_type":${messageType},"data":${dataJson},"crc":${crc},"success":${success}` +
    `,"error_message":${errorMessage === '' ? '""' : JSON.stringify(errorMessage)}${control}}`
  );
}

// The timecode fastJson wrote last, and its text (see there).
let lastTimecode = 0;
let lastTimecodeText = '0';

/** `{"transaction_id":`, the start of every payload this package's encoder writes. */
const TXID_PREFIX = /* @__PURE__ */ encoder.encode('{"transaction_id":');
/**
 * Offset in a frame of the first digit of the transaction id (see {@link idSlotEnd}): the header
 * and `{"transaction_id":`. A literal, so that bundles without the id rewriting drop it all.
 */
const TXID_DIGITS = 23;
/** `transaction_id`, searched for in the rest of a payload. */
const TXID_NAME = /* @__PURE__ */ encoder.encode('transaction_id');
/** Offset of the `_` in `transaction_id`. */
const TXID_UNDERSCORE = 'transaction'.length;
const BACKSLASH = 0x5c;
const UNDERSCORE = 0x5f;
const LOWER_U = 0x75;
const COMMA = 0x2c;
const SPACE = 0x20;
const DIGIT_0 = 0x30;
/** Digits of the largest u32. */
const U32_DIGITS = 10;
/**
 * Where the transaction id of `frame` may be rewritten without parsing the JSON: the offset of
 * the comma that ends the id's slot (its digits, then any spaces a previous rewrite left), or -1
 * when that cannot be done safely.
 *
 * It applies only to a payload that starts with `{"transaction_id":<digits>` (the shape this
 * package's encoder writes) and in which no other member can also be read as `transaction_id`:
 * the name appears nowhere else and no `\u` escape appears at all (an escaped duplicate key would
 * need one). JSON.parse keeps the LAST of duplicate keys, so without that check a payload with a
 * second `transaction_id` would keep its old id after the patch.
 */
function idSlotEnd(frame: Uint8Array, checkSecondId = true): number {
  const n = frame.length;
  if (n < TXID_DIGITS + 2) return -1;
  for (let i = 0; i < TXID_PREFIX.length; i++) {
    if (frame[HEADER_SIZE + i] !== TXID_PREFIX[i]) return -1;
  }
  let at = TXID_DIGITS;
  while (at < n && at - TXID_DIGITS <= U32_DIGITS) {
    const b = frame[at]!;
    if (b < DIGIT_0 || b > DIGIT_0 + 9) break;
    at++;
  }
  if (at === TXID_DIGITS || at - TXID_DIGITS > U32_DIGITS) return -1;
  while (at < n && frame[at] === SPACE) at++;
  if (frame[at] !== COMMA) return -1;
  return checkSecondId && mayHoldSecondId(frame, at) ? -1 : at;
}

/**
 * True when a second `transaction_id` key could hide in `bytes` from `from` on (see idSlotEnd).
 * Native indexOf scans: a JS loop over every byte costs more than the few calls they take.
 */
function mayHoldSecondId(bytes: Uint8Array, from: number): boolean {
  if (bytes.indexOf(BACKSLASH, from) >= 0 && hasUnicodeEscape(bytes, from)) return true;
  for (let u = bytes.indexOf(UNDERSCORE, from); u >= 0; u = bytes.indexOf(UNDERSCORE, u + 1)) {
    if (startsWith(bytes, u - TXID_UNDERSCORE, TXID_NAME)) return true;
  }
  return false;
}

/** Writes the decimal digits of `id` (a u32) at `at`; returns how many. Never builds a string. */
function writeDigits(target: Uint8Array, at: number, id: number): number {
  const width = digitCount(id);
  for (let i = width - 1, rest = id; i >= 0; i--, rest = Math.floor(rest / 10)) {
    target[at + i] = DIGIT_0 + (rest % 10);
  }
  return width;
}

function digitCount(id: number): number {
  let width = 1;
  for (let rest = id; rest >= 10; rest = Math.floor(rest / 10)) width++;
  return width;
}

/**
 * Rewrites, in place, the transaction id of a frame this package's encoder wrote (see
 * {@link withTransactionId} for which payloads qualify), when the new id fits in the old one's
 * slot: its digits go first and spaces fill the rest (JSON allows whitespace before the comma),
 * so the frame keeps its length and needs no copy. Returns false, leaving the frame untouched,
 * when the payload does not qualify or the id does not fit.
 *
 * Only for a frame that nothing else reads any more, such as one just received and about to be
 * relayed.
 *
 * @example
 * ```ts
 * const frame = encodeFrame(new CommandMessage({ transactionId: 1234, topic: 'b.echo', messageType: MessageType.Request }));
 * patchTransactionId(frame, 56); // true: the payload now starts {"transaction_id":56  ,
 * ```
 */
export function patchTransactionId(frame: Uint8Array, transactionId: number): boolean {
  return patchIdSlot(frame, transactionId, idSlotEnd(frame));
}

/**
 * @internal {@link patchTransactionId} for a payload that `scanEnvelope` has vouched for: it has
 * one top-level `transaction_id` and no escape at all, so the search for a second one is skipped.
 */
export function patchScannedTransactionId(frame: Uint8Array, transactionId: number): boolean {
  return patchIdSlot(frame, transactionId, idSlotEnd(frame, false));
}

function patchIdSlot(frame: Uint8Array, transactionId: number, end: number): boolean {
  const id = transactionId >>> 0;
  if (end < 0 || digitCount(id) > end - TXID_DIGITS) return false;
  const width = writeDigits(frame, TXID_DIGITS, id);
  frame.fill(SPACE, TXID_DIGITS + width, end);
  return true;
}

/**
 * A copy of `frame` whose payload carries `transactionId` instead of its own, made without
 * parsing the JSON, or undefined when that cannot be done safely (the caller re-encodes then).
 * A small copy is a view into memory shared with other frames (as {@link sharedFrameFromJson}),
 * meant to be handed to a transport at once.
 *
 * It applies only to a payload that starts with `{"transaction_id":<digits>,` (the shape this
 * package's encoder writes; spaces before the comma, as {@link patchTransactionId} leaves, are
 * allowed) and in which no other member can also be read as `transaction_id`: the name appears
 * nowhere else and no `\u` escape appears at all (an escaped duplicate key would need one).
 * JSON.parse keeps the LAST of duplicate keys, so without that check a payload with a second
 * `transaction_id` would keep its old id after the patch.
 *
 * @example
 * ```ts
 * const frame = encodeFrame(new CommandMessage({ transactionId: 7, topic: 'b.echo', messageType: MessageType.Request }));
 * const out = withTransactionId(frame, 1234)!;
 * decodePayload(out[4]!, out.subarray(HEADER_SIZE)).transactionId; // 1234
 * ```
 */
export function withTransactionId(frame: Uint8Array, transactionId: number): Uint8Array | undefined {
  const rest = idSlotEnd(frame);
  if (rest < 0) return undefined;
  const id = transactionId >>> 0;
  const width = digitCount(id);
  const n = frame.length;
  const size = n - (rest - TXID_DIGITS) + width;
  const out = size > BLOCK_MAX_FRAME ? new Uint8Array(size) : commit(reserve(size), size);
  out.set(frame.subarray(0, TXID_DIGITS));
  writeDigits(out, TXID_DIGITS, id);
  out.set(frame.subarray(rest), TXID_DIGITS + width);
  writeHeader(out, out.length - HEADER_SIZE, frame[4]!);
  return out;
}

function startsWith(bytes: Uint8Array, at: number, word: Uint8Array): boolean {
  if (at < 0 || at + word.length > bytes.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word[i]) return false;
  return true;
}

/** True when a `\u` escape appears from `from` on (an escaped backslash is skipped, not read as one). */
function hasUnicodeEscape(bytes: Uint8Array, from: number): boolean {
  for (let i = bytes.indexOf(BACKSLASH, from); i >= 0; i = bytes.indexOf(BACKSLASH, i + 2)) {
    if (bytes[i + 1] === LOWER_U) return true;
  }
  return false;
}

/**
 * Encodes one message as a frame: header + UTF-8 JSON.
 * Throws ERR_SERIALIZATION (not JSON-able) or ERR_PAYLOAD_TOO_LARGE (over `maxPayload`).
 *
 * @example
 * ```ts
 * const frame = encodeFrame(CommandMessage.request('system.ping'));
 * frame[4]; // 1 (MessageType.Request)
 * ```
 */
export function encodeFrame(msg: CommandMessage, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  return frameFromJson(encodePayload(msg), msg.messageType, maxPayload, msg.topic);
}

/** Frames an already-serialised payload; `type` must match its `message_type`. */
export function frameFromJson(
  json: string,
  type: number,
  maxPayload = DEFAULT_MAX_PAYLOAD,
  topic = '',
): Uint8Array {
  // UTF-8 never has fewer bytes than UTF-16 code units, so this skips encoding hopeless cases.
  if (json.length > maxPayload) throw tooLarge(json.length, maxPayload, topic);
  // Up to a block's size, encoded into the free end of the current block and copied out: cheaper
  // than TextEncoder.encode + a second copy behind the header.
  if (HEADER_SIZE + json.length * 3 <= BLOCK_SIZE) return blockFrame(json, type, maxPayload, topic, false);
  // Most large payloads are ASCII: try encoding straight behind the header, and only encode
  // again (with a copy) when the text needs more bytes than characters.
  let frame = new Uint8Array(HEADER_SIZE + json.length);
  const result = encoder.encodeInto(json, frame.subarray(HEADER_SIZE));
  let length = result.written;
  if (result.read < json.length) {
    const bytes = encoder.encode(json);
    length = bytes.length;
    frame = new Uint8Array(HEADER_SIZE + length);
    frame.set(bytes, HEADER_SIZE);
  }
  if (length > maxPayload) throw tooLarge(length, maxPayload, topic);
  writeHeader(frame, length, type);
  return frame;
}

// Frames handed straight to a transport are carved out of shared blocks: `new Uint8Array(n)`
// costs about a microsecond for a small n (an off-heap backing store each time), several times
// the encoding of a small message, while a view into a block costs tens of nanoseconds. A block
// is never written twice: once full, the next one is allocated and the old one lives only as long
// as the frames that view it (until the socket has written them). Node's Buffer pool works alike.
const BLOCK_SIZE = 64 * 1024;
/** Frames whose worst-case size is above this get their own memory. */
const BLOCK_MAX_FRAME = BLOCK_SIZE / 8;
let block = new Uint8Array(BLOCK_SIZE);
let blockUsed = 0;

/** Reserves up to `size` bytes at the end of the current block; returns the offset. */
function reserve(size: number): number {
  if (blockUsed + size > BLOCK_SIZE) {
    block = new Uint8Array(BLOCK_SIZE);
    blockUsed = 0;
  }
  return blockUsed;
}

/**
 * Marks `size` bytes from `at` as used. Frames are packed back to back, so a transport can send
 * several encoded in a row as one view (see TcpTransport.send).
 */
function commit(at: number, size: number): Uint8Array {
  blockUsed = at + size;
  return block.subarray(at, at + size);
}

/**
 * @internal Like {@link frameFromJson}, but a small frame is a view into a block of memory it
 * shares with other frames (each frame's bytes are its own and never reused). For frames that
 * are handed to a transport at once; code that keeps or transfers `frame.buffer` must use
 * {@link encodeFrame} / {@link frameFromJson}, whose frames own their buffer.
 */
export function sharedFrameFromJson(
  json: string,
  type: number,
  maxPayload = DEFAULT_MAX_PAYLOAD,
  topic = '',
): Uint8Array {
  return HEADER_SIZE + json.length * 3 > BLOCK_MAX_FRAME
    ? frameFromJson(json, type, maxPayload, topic)
    : blockFrame(json, type, maxPayload, topic, true);
}

/**
 * Encodes `json` as a frame at the free end of the current block. `keep` leaves it there (a view,
 * see {@link sharedFrameFromJson}); otherwise it is copied out and the space stays free.
 */
function blockFrame(json: string, type: number, maxPayload: number, topic: string, keep: boolean): Uint8Array {
  const worst = HEADER_SIZE + json.length * 3;
  const at = reserve(worst);
  const length = encoder.encodeInto(json, block.subarray(at + HEADER_SIZE, at + worst)).written;
  if (length > maxPayload) throw tooLarge(length, maxPayload, topic);
  const frame = keep ? commit(at, HEADER_SIZE + length) : block.slice(at, at + HEADER_SIZE + length);
  writeHeader(frame, length, type);
  return frame;
}

function tooLarge(length: number, maxPayload: number, topic: string): IpcError {
  return new IpcError(
    'ERR_PAYLOAD_TOO_LARGE',
    `Message too large: at least ${length} bytes for ${topic || 'a message'}, limit ${maxPayload}`,
  );
}

/** Writes a frame header at the start of `target`. */
export function writeHeader(target: Uint8Array, length: number, type: number): void {
  target[0] = length & 0xff;
  target[1] = (length >>> 8) & 0xff;
  target[2] = (length >>> 16) & 0xff;
  target[3] = (length >>> 24) & 0xff;
  target[4] = type;
}

/** Reads the u32 LE length at `offset`. */
export function readLength(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! |
      (bytes[offset + 1]! << 8) |
      (bytes[offset + 2]! << 16) |
      (bytes[offset + 3]! << 24)) >>>
    0
  );
}

/**
 * Decodes one frame's payload into a CommandMessage, applying every rule of PROTOCOL.md
 * section 1. Throws ERR_FRAMING for faults that must close the connection and
 * ERR_INVALID_MESSAGE for faults of this message alone.
 *
 * @example
 * ```ts
 * const frame = encodeFrame(CommandMessage.request('system.ping'));
 * const msg = decodePayload(frame[4]!, frame.subarray(5));
 * ```
 */
export function decodePayload(
  type: number,
  payload: Uint8Array,
  maxDepth = DEFAULT_MAX_DEPTH,
): CommandMessage {
  let text: string;
  try {
    text = decoder.decode(payload);
  } catch (e) {
    throw new IpcError('ERR_FRAMING', 'payload is not valid UTF-8', { cause: e });
  }
  return decodeJson(text, maxDepth, type);
}

/**
 * Parses and validates the JSON text of one CommandMessage (the WebSocket text form).
 * `headerType` is the frame's type byte, or -1 when there is no header.
 *
 * @example
 * ```ts
 * const msg = decodeJson('{"transaction_id":1,"topic":"system.ping","message_type":"Request"}');
 * ```
 */
export function decodeJson(text: string, maxDepth = DEFAULT_MAX_DEPTH, headerType = -1): CommandMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new IpcError('ERR_FRAMING', `payload is not JSON: ${(e as Error).message}`, { cause: e });
  }
  return fromWire(value, maxDepth, headerType);
}

/** Checks a header's length and type byte; throws ERR_FRAMING naming the fault. */
export function checkHeader(length: number, type: number, maxPayload: number, offset: number): void {
  if (length === 0) {
    throw new IpcError('ERR_FRAMING', `frame at stream offset ${offset} announces an empty payload`);
  }
  if (length > maxPayload) {
    throw new IpcError(
      'ERR_FRAMING',
      `frame at stream offset ${offset} announces ${length} bytes, over the limit of ${maxPayload}`,
    );
  }
  if (!isMessageType(type)) {
    throw new IpcError(
      'ERR_FRAMING',
      `frame at stream offset ${offset} has type byte ${type}, which names no MessageType`,
    );
  }
}
