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

// Small frames are encoded into one reused scratch buffer and copied out, which is cheaper
// than TextEncoder.encode + a second copy behind the header.
const SCRATCH_CHARS = 16 * 1024;
const scratch = new Uint8Array(HEADER_SIZE + SCRATCH_CHARS * 3);

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
  if (
    typeof transactionId !== 'number' ||
    !Number.isFinite(transactionId) ||
    typeof timecode !== 'number' ||
    !Number.isFinite(timecode) ||
    typeof topic !== 'string' ||
    typeof messageType !== 'number' ||
    !Number.isFinite(messageType) ||
    typeof crc !== 'number' ||
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
    if (typeof ct !== 'number' || !Number.isFinite(ct)) return undefined;
    control = `,"control_type":${ct}`;
  }
  return (
    `{"transaction_id":${transactionId},"timecode":${timecode},"topic":${JSON.stringify(topic)}` +
    `,"message_type":${messageType},"data":${dataJson},"crc":${crc},"success":${success}` +
    `,"error_message":${JSON.stringify(errorMessage)}${control}}`
  );
}

/** `{"transaction_id":`, the start of every payload this package's encoder writes. */
const TXID_PREFIX = encoder.encode('{"transaction_id":');
/** `transaction_id`, searched for in the rest of a payload. */
const TXID_NAME = encoder.encode('transaction_id');
/** Offset of the `_` in `transaction_id`. */
const TXID_UNDERSCORE = 'transaction'.length;
const BACKSLASH = 0x5c;
const UNDERSCORE = 0x5f;
const LOWER_U = 0x75;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;

/**
 * A copy of `frame` whose payload carries `transactionId` instead of its own, made without
 * parsing the JSON, or undefined when that cannot be done safely (the caller re-encodes then).
 * A small copy is a view into memory shared with other frames (as {@link sharedFrameFromJson}),
 * meant to be handed to a transport at once.
 *
 * It applies only to a payload that starts with `{"transaction_id":<digits>,` (the shape this
 * package's encoder writes) and in which no other member can also be read as `transaction_id`:
 * the name appears nowhere else and no `\u` escape appears at all (an escaped duplicate key would
 * need one). JSON.parse keeps the LAST of duplicate keys, so without that check a payload with a
 * second `transaction_id` would keep its old id after the patch.
 *
 * @example
 * ```ts
 * const frame = encodeFrame(new CommandMessage({ transactionId: 7, topic: 'b.echo', messageType: MessageType.Request }));
 * const out = withTransactionId(frame, 1234)!;
 * decodePayload(out[4]!, out.subarray(HEADER_SIZE)).transactionId; // 1234
 * ```
 */
export function withTransactionId(frame: Uint8Array, transactionId: number): Uint8Array | undefined {
  const n = frame.length;
  let at = HEADER_SIZE;
  if (n < at + TXID_PREFIX.length + 2) return undefined;
  for (let i = 0; i < TXID_PREFIX.length; i++) {
    if (frame[at + i] !== TXID_PREFIX[i]) return undefined;
  }
  at += TXID_PREFIX.length;
  const digitsStart = at;
  while (at < n && at - digitsStart <= 10) {
    const b = frame[at]!;
    if (b < DIGIT_0 || b > DIGIT_0 + 9) break;
    at++;
  }
  if (at === digitsStart || at - digitsStart > 10 || frame[at] !== COMMA) return undefined;
  const rest = at;
  // Native indexOf scans: a JS loop over every byte would cost as much as the re-encoding saved.
  if (frame.indexOf(BACKSLASH, rest) >= 0 && hasUnicodeEscape(frame, rest)) return undefined;
  for (let u = frame.indexOf(UNDERSCORE, rest); u >= 0; u = frame.indexOf(UNDERSCORE, u + 1)) {
    if (startsWith(frame, u - TXID_UNDERSCORE, TXID_NAME)) return undefined;
  }
  const id = String(transactionId >>> 0);
  const size = n - (rest - digitsStart) + id.length;
  const out = size > BLOCK_MAX_FRAME ? new Uint8Array(size) : commit(reserve(size), size);
  out.set(frame.subarray(0, digitsStart));
  for (let i = 0; i < id.length; i++) out[digitsStart + i] = id.charCodeAt(i);
  out.set(frame.subarray(rest), digitsStart + id.length);
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
  let frame: Uint8Array;
  let length: number;
  if (json.length <= SCRATCH_CHARS) {
    length = encoder.encodeInto(json, scratch.subarray(HEADER_SIZE)).written;
    frame = scratch.slice(0, HEADER_SIZE + length);
  } else {
    // Most large payloads are ASCII: try encoding straight behind the header, and only
    // encode again (with a copy) when the text needs more bytes than characters.
    frame = new Uint8Array(HEADER_SIZE + json.length);
    const result = encoder.encodeInto(json, frame.subarray(HEADER_SIZE));
    length = result.written;
    if (result.read < json.length) {
      const bytes = encoder.encode(json);
      length = bytes.length;
      frame = new Uint8Array(HEADER_SIZE + length);
      frame.set(bytes, HEADER_SIZE);
    }
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

/** Marks `size` bytes from `at` as used (rounded up to 8, so every frame starts aligned). */
function commit(at: number, size: number): Uint8Array {
  blockUsed = (at + size + 7) & ~7;
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
  const worst = HEADER_SIZE + json.length * 3;
  if (worst > BLOCK_MAX_FRAME) return frameFromJson(json, type, maxPayload, topic);
  const at = reserve(worst);
  const length = encoder.encodeInto(json, block.subarray(at + HEADER_SIZE, at + worst)).written;
  if (length > maxPayload) throw tooLarge(length, maxPayload, topic);
  const frame = commit(at, HEADER_SIZE + length);
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
