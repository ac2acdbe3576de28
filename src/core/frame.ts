/**
 * Frame codec: a 5-byte header (u32 LE payload length, then the MessageType byte) followed by
 * the UTF-8 JSON of one CommandMessage.
 */
import { IpcError } from './errors.ts';
import { CommandMessage, DEFAULT_MAX_DEPTH, fromWire, isMessageType } from './message.ts';

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
    return JSON.stringify(msg);
  } catch (e) {
    throw new IpcError('ERR_SERIALIZATION', `cannot serialise message for ${msg.topic}: ${String(e)}`, {
      cause: e,
    });
  }
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
