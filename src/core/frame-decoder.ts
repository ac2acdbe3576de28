import { toIpcError, type IpcError } from './errors.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  HEADER_SIZE,
  checkHeader,
  decodePayload,
  readLength,
} from './frame.ts';
import { DEFAULT_MAX_DEPTH, type CommandMessage } from './message.ts';

const NO_OUTPUT: Array<CommandMessage | IpcError> = [];

/**
 * Smallest first buffer of a split frame (when little of it has arrived yet): small frames get
 * their exact size at once, larger ones grow as their bytes come.
 */
const FIRST_FRAME_BUFFER = 1024;

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes; checked before anything is allocated. Default 4 MiB. */
  maxPayload?: number;
  /** Deepest JSON nesting accepted (the envelope is depth 1). Default 64. */
  maxDepth?: number;
}

/**
 * Receives one whole frame. `payload` and `frame` (header + payload) are views that stay valid
 * after the call: the decoder never reuses the memory it hands out.
 */
export type FrameSink = (type: number, payload: Uint8Array, frame: Uint8Array) => void;

/**
 * Streaming frame decoder. Accepts chunks split anywhere (inside the header too), hands out
 * whole frames, and enforces the payload limit from the header alone, before allocating.
 *
 * A fault that makes the stream untrustworthy (PROTOCOL.md section 1) fails the decoder: every
 * later push reports the same `ERR_FRAMING` error. A message that is well framed but invalid
 * is reported as `ERR_INVALID_MESSAGE` and decoding continues.
 *
 * Memory: a frame split across chunks is gathered in one buffer that grows with the bytes that
 * have actually arrived (doubling, up to the frame's exact size), never sized from the header
 * alone: a peer that announces a large frame and sends nothing costs a few KiB, not the announced
 * size. Frames that lie whole inside a chunk are handed out as views of it, without copying.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxPayload: 64 * 1024 });
 * socket.on('data', (chunk) => {
 *   for (const item of decoder.push(chunk)) {
 *     if (!(item instanceof IpcError)) handle(item);
 *     else if (item.code === 'ERR_FRAMING') socket.destroy();
 *     else console.warn(item.message);
 *   }
 * });
 * ```
 */
export class FrameDecoder {
  /** Current payload limit; may be raised after registration. */
  maxPayload: number;
  readonly maxDepth: number;
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFill = 0;
  /** The split frame being gathered; may still be shorter than `frameSize` (see `reserve`). */
  private frame: Uint8Array | null = null;
  /** Total size (header + payload) of the frame being gathered. */
  private frameSize = 0;
  private frameFill = 0;
  private offset = 0;
  private failure: IpcError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  /** True while part of a frame has arrived and the rest has not. */
  get inFrame(): boolean {
    return this.headerFill > 0 || this.frame !== null;
  }

  /** Bytes held for the frame in progress. */
  get bufferedBytes(): number {
    return this.frame === null ? this.headerFill : this.frameFill;
  }

  /** The error that failed this decoder, if any. */
  get error(): IpcError | null {
    return this.failure;
  }

  /**
   * Decodes a chunk into messages, in order. A message that is framed but invalid comes out as
   * an IpcError `ERR_INVALID_MESSAGE` and decoding goes on. A framing fault comes out as an
   * IpcError `ERR_FRAMING`, always the last item: the messages before it are still delivered,
   * the decoder is failed, and the connection must be closed. Never throws.
   */
  push(chunk: Uint8Array): Array<CommandMessage | IpcError> {
    const out: Array<CommandMessage | IpcError> = [];
    this.out = out;
    try {
      this.pushFrames(chunk, this.decodeInto);
    } catch (e) {
      if (out[out.length - 1] !== e) out.push(toIpcError(e, 'ERR_FRAMING'));
    }
    this.out = NO_OUTPUT;
    return out;
  }

  // Made once per decoder: a closure per push would cost an allocation on the hot path.
  private out: Array<CommandMessage | IpcError> = NO_OUTPUT;
  private readonly decodeInto: FrameSink = (type, payload) => {
    try {
      this.out.push(decodePayload(type, payload, this.maxDepth));
    } catch (e) {
      const err = toIpcError(e, 'ERR_FRAMING');
      if (err.code === 'ERR_FRAMING') this.fail(err);
      this.out.push(err);
    }
  };

  /**
   * Splits a chunk into frames, checking only headers; payloads are not parsed. Throws the
   * `ERR_FRAMING` error on a bad header (or when the sink failed the decoder).
   */
  pushFrames(chunk: Uint8Array, sink: FrameSink): void {
    if (this.failure) throw this.failure;
    const n = chunk.length;
    let at = 0;
    while (at < n) {
      if (this.frame !== null) {
        const take = Math.min(this.frameSize - this.frameFill, n - at);
        const frame = this.reserve(this.frameFill + take);
        frame.set(chunk.subarray(at, at + take), this.frameFill);
        this.frameFill += take;
        at += take;
        if (this.frameFill === this.frameSize) {
          this.frame = null;
          this.frameFill = 0;
          this.offset += frame.length;
          sink(frame[4]!, frame.subarray(HEADER_SIZE), frame);
          if (this.failure) throw this.failure;
        }
        continue;
      }
      if (this.headerFill === 0 && n - at >= HEADER_SIZE) {
        const length = readLength(chunk, at);
        const type = chunk[at + 4]!;
        this.check(length, type);
        const end = at + HEADER_SIZE + length;
        if (end <= n) {
          // Plain views made with the constructor: a Node Buffer's own subarray() goes through
          // JS helpers and costs several times more, twice per frame.
          const base = chunk.byteOffset + at;
          const frame = new Uint8Array(chunk.buffer, base, HEADER_SIZE + length);
          at = end;
          this.offset += frame.length;
          sink(type, new Uint8Array(chunk.buffer, base + HEADER_SIZE, length), frame);
          if (this.failure) throw this.failure;
        } else {
          this.startFrame(HEADER_SIZE + length, chunk.subarray(at));
          at = n;
        }
        continue;
      }
      const take = Math.min(HEADER_SIZE - this.headerFill, n - at);
      this.header.set(chunk.subarray(at, at + take), this.headerFill);
      this.headerFill += take;
      at += take;
      if (this.headerFill === HEADER_SIZE) {
        const length = readLength(this.header, 0);
        const type = this.header[4]!;
        this.check(length, type);
        this.headerFill = 0;
        this.startFrame(HEADER_SIZE + length, this.header);
      }
    }
  }

  /** Starts gathering a split frame of `size` bytes whose first bytes are `first`. */
  private startFrame(size: number, first: Uint8Array): void {
    this.frameSize = size;
    this.frame = new Uint8Array(Math.min(size, Math.max(FIRST_FRAME_BUFFER, first.length * 2)));
    this.frame.set(first);
    this.frameFill = first.length;
  }

  /**
   * The frame buffer, grown to hold at least `needed` bytes: doubled (so copying stays linear in
   * the frame's size), never beyond the frame's size, so it is exactly that size once complete.
   */
  private reserve(needed: number): Uint8Array {
    const frame = this.frame as Uint8Array;
    if (needed <= frame.length) return frame;
    const grown = new Uint8Array(Math.min(this.frameSize, Math.max(needed, frame.length * 2)));
    grown.set(frame.subarray(0, this.frameFill));
    this.frame = grown;
    return grown;
  }

  private check(length: number, type: number): void {
    try {
      checkHeader(length, type, this.maxPayload, this.offset);
    } catch (e) {
      this.fail(e as IpcError);
      throw e;
    }
  }

  private fail(err: IpcError): void {
    this.failure = err;
    this.frame = null;
    this.headerFill = 0;
  }
}
