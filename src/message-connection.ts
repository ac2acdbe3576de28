/**
 * One CommandMessage connection over any {@link Transport}: decoding and validating inbound
 * units, encoding outbound messages, heartbeats, dead-peer detection and the frame deadline.
 * IpcClient and IpcServer both stand on it, so the protocol's per-connection rules live in one
 * place.
 */
import { IpcError } from './core/errors.ts';
import { FrameDecoder } from './core/frame-decoder.ts';
import { nextTransactionId } from './core/ids.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  HEADER_SIZE,
  decodeJson,
  decodePayload,
  encodePayload,
  sharedFrameFromJson,
} from './core/frame.ts';
import { CommandMessage, DEFAULT_MAX_DEPTH, MessageType, expectsReply } from './core/message.ts';
import type { Transport } from './transports/transport.ts';

/** Per-connection protocol settings. */
export interface MessageConnectionOptions {
  /** Largest inbound payload in bytes. Default 4 MiB. Can be changed later (`inboundMaxPayload`). */
  maxPayload?: number;
  /** Largest outbound payload (the peer's limit). Default 4 MiB. */
  peerMaxPayload?: number;
  /** JSON nesting limit of inbound payloads. Default 64. */
  maxDepth?: number;
  /** Send a Heartbeat after this long without sending; close after 3x this long without hearing. 0 disables. Default 10 000 ms. */
  heartbeatMs?: number;
  /** All bytes of a frame must arrive within this long of its first byte. Default 30 000 ms. */
  frameTimeoutMs?: number;
}

/** What a {@link MessageConnection} reports to its owner. */
export interface MessageConnectionHandlers {
  /** A valid message (Heartbeats are handled inside). `frame` is the received TCP frame, when there was one. */
  onMessage(msg: CommandMessage, frame: Uint8Array | undefined): void;
  /** A fault worth logging: an invalid message (already answered when it could be), or the fatal error that closes the connection. */
  onError(error: IpcError): void;
  /** The connection closed; `error` says why when it was not a clean close. Called once. */
  onClose(error: IpcError | undefined): void;
}

const utf8 = new TextDecoder();

/** @internal A CommandMessage connection over one transport. */
export class MessageConnection {
  readonly transport: Transport;
  /** Largest outbound payload; set from the peer's RegisterAck. */
  peerMaxPayload: number;
  heartbeatMs: number;
  private readonly decoder: FrameDecoder;
  private readonly maxDepth: number;
  private readonly frameTimeoutMs: number;
  private readonly handlers: MessageConnectionHandlers;
  private lastSent = Date.now();
  private lastHeard = Date.now();
  private frameStart = 0;
  private frameTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private readonly awaitedHeartbeats = new Set<number>();
  private closedReported = false;

  constructor(
    transport: Transport,
    options: MessageConnectionOptions,
    handlers: MessageConnectionHandlers,
  ) {
    this.transport = transport;
    this.handlers = handlers;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.frameTimeoutMs = options.frameTimeoutMs ?? 30_000;
    this.peerMaxPayload = options.peerMaxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.decoder = new FrameDecoder({
      maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      maxDepth: this.maxDepth,
    });
    this.armHeartbeat();
    void this.readLoop();
    void transport.closed.then((err) => this.finish(err));
  }

  /** Largest inbound payload accepted from now on. */
  get inboundMaxPayload(): number {
    return this.decoder.maxPayload;
  }
  set inboundMaxPayload(value: number) {
    this.decoder.maxPayload = value;
  }

  get isClosed(): boolean {
    return this.transport.isClosed;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  /** Bytes queued towards the peer in this process. */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /**
   * Encodes and sends one message. Throws ERR_SERIALIZATION or ERR_PAYLOAD_TOO_LARGE (nothing is
   * sent then); sending on a closed connection does nothing.
   */
  send(msg: CommandMessage): void {
    if (this.transport.isClosed) return;
    const json = encodePayload(msg);
    if (this.transport.framing === 'json') {
      if (json.length > this.peerMaxPayload) this.checkTextSize(json, msg.topic);
      this.transport.send(json);
    } else {
      this.transport.send(
        sharedFrameFromJson(json, msg.messageType, this.peerMaxPayload, msg.topic),
      );
    }
    this.lastSent = Date.now();
  }

  /**
   * Sends an already-encoded frame (header + JSON) as it is, e.g. one Broadcast to many
   * subscribers. On a JSON-framed transport the payload is sent as text.
   */
  sendFrame(frame: Uint8Array): void {
    if (this.transport.isClosed) return;
    if (frame.length - HEADER_SIZE > this.peerMaxPayload) {
      throw new IpcError(
        'ERR_PAYLOAD_TOO_LARGE',
        `Message too large: ${frame.length - HEADER_SIZE} bytes, limit ${this.peerMaxPayload}`,
      );
    }
    this.transport.send(
      this.transport.framing === 'json' ? utf8.decode(frame.subarray(HEADER_SIZE)) : frame,
    );
    this.lastSent = Date.now();
  }

  /** Flushes and closes. */
  end(): Promise<void> {
    this.stopTimers();
    return this.transport.end();
  }

  /** Closes at once; `error` is reported as the reason. */
  close(error?: IpcError): void {
    this.stopTimers();
    this.transport.close(error);
  }

  private checkTextSize(json: string, topic: string): void {
    const bytes = new TextEncoder().encode(json).length;
    if (bytes > this.peerMaxPayload) {
      throw new IpcError(
        'ERR_PAYLOAD_TOO_LARGE',
        `Message too large: ${bytes} bytes for ${topic}, limit ${this.peerMaxPayload}`,
      );
    }
  }

  private async readLoop(): Promise<void> {
    const sink = (type: number, payload: Uint8Array, frame: Uint8Array): void =>
      this.receiveFrame(type, payload, frame);
    try {
      for await (const unit of this.transport) {
        this.lastHeard = Date.now();
        if (this.transport.framing === 'frames') {
          this.decoder.pushFrames(unit as Uint8Array, sink);
          if (this.decoder.inFrame) this.startFrameClock();
          else this.frameStart = 0;
        } else {
          this.receiveText(unit);
        }
        if (this.transport.isClosed) break;
      }
    } catch (e) {
      // pushFrames throws only the framing error that has already failed the decoder.
      const err = e instanceof IpcError ? e : new IpcError('ERR_IO', String(e), { cause: e });
      this.fatal(err);
    }
  }

  /** Decodes one well-framed TCP frame and delivers it (the hub relays some by their bytes first). */
  protected receiveFrame(type: number, payload: Uint8Array, frame: Uint8Array): void {
    let msg: CommandMessage;
    try {
      msg = decodePayload(type, payload, this.maxDepth);
    } catch (e) {
      this.reject(e as IpcError);
      return;
    }
    this.deliver(msg, frame);
  }

  private receiveText(unit: Uint8Array | string): void {
    const size = typeof unit === 'string' ? unit.length : unit.length;
    if (size > this.decoder.maxPayload) {
      // Text length is a lower bound of its byte length; bytes are exact.
      this.fatal(
        new IpcError(
          'ERR_FRAMING',
          `message of ${size}+ bytes, over the limit of ${this.decoder.maxPayload}`,
        ),
      );
      return;
    }
    let msg: CommandMessage;
    try {
      msg =
        typeof unit === 'string'
          ? decodeJson(unit, this.maxDepth)
          : decodePayload(-1, unit, this.maxDepth);
    } catch (e) {
      this.reject(e as IpcError);
      return;
    }
    this.deliver(msg, undefined);
  }

  private deliver(msg: CommandMessage, frame: Uint8Array | undefined): void {
    if (msg.messageType === MessageType.Heartbeat) {
      this.onHeartbeat(msg);
      return;
    }
    if (msg.messageType === MessageType.NoOp) return;
    this.handlers.onMessage(msg, frame);
  }

  /** A message that failed validation: close on framing faults, else answer when possible. */
  private reject(err: IpcError): void {
    if (err.code === 'ERR_FRAMING') {
      this.fatal(err);
      return;
    }
    const info = err.invalid;
    if (
      info?.transactionId !== undefined &&
      info.transactionId !== 0 &&
      info.messageType !== undefined &&
      expectsReply(info.messageType)
    ) {
      const reply = new CommandMessage({
        transactionId: info.transactionId,
        topic: info.topic ?? '',
        messageType: MessageType.Response,
        success: false,
        errorMessage: `Invalid message: ${err.message}`,
      });
      try {
        this.send(reply);
      } catch {
        // A topic near the payload limit makes the answer too large: answer without it rather
        // than let the throw close the connection.
        reply.topic = '';
        this.send(reply);
      }
    }
    this.handlers.onError(err);
  }

  private fatal(err: IpcError): void {
    if (this.transport.isClosed) return;
    this.handlers.onError(err);
    this.close(err);
  }

  private onHeartbeat(msg: CommandMessage): void {
    const id = msg.transactionId;
    if (id === 0) return;
    if (this.awaitedHeartbeats.delete(id)) return;
    this.send(CommandMessage.heartbeat(id));
  }

  private startFrameClock(): void {
    if (this.frameStart !== 0) return;
    this.frameStart = Date.now();
    if (this.frameTimer === undefined) this.armFrameTimer(this.frameTimeoutMs);
  }

  private armFrameTimer(ms: number): void {
    this.frameTimer = setTimeout(() => {
      this.frameTimer = undefined;
      if (this.frameStart === 0 || this.transport.isClosed) return;
      const elapsed = Date.now() - this.frameStart;
      if (elapsed >= this.frameTimeoutMs) {
        this.fatal(
          new IpcError(
            'ERR_FRAMING',
            `frame incomplete ${elapsed} ms after its first byte (limit ${this.frameTimeoutMs} ms)`,
          ),
        );
      } else {
        this.armFrameTimer(this.frameTimeoutMs - elapsed);
      }
    }, ms);
    unref(this.frameTimer);
  }

  /** Restarts heartbeats with the current `heartbeatMs` (after a RegisterAck changed it). */
  armHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.heartbeatMs <= 0) return;
    const interval = this.heartbeatMs;
    this.heartbeatTimer = setInterval(
      () => this.checkLiveness(interval),
      Math.max(1, interval / 4),
    );
    unref(this.heartbeatTimer);
  }

  private checkLiveness(interval: number): void {
    if (this.transport.isClosed) return;
    const now = Date.now();
    const silent = now - this.lastHeard;
    if (silent >= 3 * interval) {
      this.fatal(
        new IpcError(
          'ERR_CONNECTION',
          `peer ${this.remoteAddress} silent for ${silent} ms (3 heartbeat intervals)`,
        ),
      );
      return;
    }
    if (now - this.lastSent >= interval) {
      if (this.awaitedHeartbeats.size > 16) this.awaitedHeartbeats.clear();
      // Process-wide ids, so the two sides' own heartbeats are unlikely to share an id.
      const id = nextTransactionId();
      this.awaitedHeartbeats.add(id);
      this.send(CommandMessage.heartbeat(id));
    }
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.frameTimer);
    this.heartbeatTimer = undefined;
    this.frameTimer = undefined;
  }

  private finish(err: IpcError | undefined): void {
    this.stopTimers();
    if (this.closedReported) return;
    this.closedReported = true;
    this.handlers.onClose(err);
  }
}

function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
