/**
 * One browser connection of the bridge: a WebSocket on one side, one TCP connection to the IPC
 * server on the other (PROTOCOL.md section 7). Every message from the browser is decoded and
 * validated here, checked against the token's permissions and the rate limit, and only then
 * re-encoded as a frame for the server; what the server sends is validated too and goes back
 * as the bytes received, in the form the browser chose with its first message.
 *
 * Backpressure, both ways:
 * - towards the server: when the TCP transport holds more than `upstreamPauseBytes`, reading from
 *   the browser pauses (`ws.pause()`, i.e. its socket stops being read, so TCP flow control
 *   pushes back on the browser) until the queue has drained to half of that;
 * - towards the browser: the backlog is what the WebSocket holds beyond the message being
 *   written (PROTOCOL.md section 7), worked out from `ws.bufferedAmount`, the bytes of this tick
 *   not written yet and the sizes of the messages sent, so one large message never counts
 *   against the browser by itself. Over
 *   `maxBufferedBytes`, Broadcasts wait in a map that keeps only the newest per topic and is
 *   flushed on a 10 ms poll as the socket drains. Over `closeBufferedBytes` (backlog + waiting
 *   Broadcasts, checked before a message is added), or no drain progress for `slowConsumerMs`
 *   while over `maxBufferedBytes`, the browser is closed 1013.
 *
 * Every request gets an answer or the connection closes: requests the bridge refuses are
 * answered by the bridge; requests relayed to the server are answered by the server; if the
 * server connection drops with requests in flight, the WebSocket closes (1000/1011) and the
 * client SDK rejects its pending requests itself, so nothing is left waiting.
 */
import {
  CommandMessage,
  ControlType,
  FrameDecoder,
  HEADER_SIZE,
  IpcError,
  MessageType,
  checkHeader,
  decodeJson,
  encodeFrame,
  encodePayload,
  expectsReply,
  isRequestType,
  parseRegistration,
  readLength,
  scanEnvelope,
  sharedFrameFromJson,
  toIpcError,
  writeHeader,
  type InvalidMessageInfo,
  type ScannedEnvelope,
} from 'autocore-ipc';
import { connectTcp, redactText as redact, type TcpTransport } from 'autocore-ipc/node';
import type { RawData, WebSocket } from 'ws';
import type { BridgeLogEntry, ResolvedBridgeOptions, ResolvedToken } from './config.ts';
import type { MetricsRegistry } from './metrics.ts';

/** What a connection needs from its bridge. */
export interface ConnectionContext {
  readonly id: number;
  readonly remote: string;
  readonly token: ResolvedToken;
  readonly options: ResolvedBridgeOptions;
  readonly metrics: MetricsRegistry;
  log(level: BridgeLogEntry['level'], event: string, fields: Record<string, unknown>): void;
  /** Called once, when the WebSocket has closed. */
  onClosed(conn: BridgeConnection): void;
}

/** Refusals further apart than this end a run of rate-limit excess. */
const EXCESS_GAP_MS = 250;
/** How often a congested connection is checked. */
const POLL_MS = 10;
/** Bytes sent to a browser in one tick past which they leave early, once per tick (see write). */
const EARLY_FLUSH_BYTES = 4 * 1024;

/** Bytes sent to a browser in one tick past which they are written at once. */
const TICK_FLUSH_BYTES = 64 * 1024;
/** Messages larger than this are written as they are, behind a header of their own, not copied. */
const COPY_MAX_BYTES = 16 * 1024;
/** WebSocket first header byte: FIN and the text or binary opcode (RFC 6455 section 5.2). */
const TEXT_OPCODE = 0x81;
const BINARY_OPCODE = 0x82;
const WS_OPEN = 1;

/** The part of `ws`'s underlying socket the bridge writes its data frames to. */
interface WsSocket {
  write(chunk: Uint8Array): boolean;
  readonly destroyed: boolean;
}

/** `ws.send` options, made once (used only where `ws` has no socket of its own to write to). */
const TEXT_FRAME = { binary: false } as const;
const BINARY_FRAME = { binary: true } as const;

/** Bytes of the header of an unmasked WebSocket frame carrying `n` payload bytes. */
function headerSize(n: number): number {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

/** Writes the header of an unmasked, final frame of `n` payload bytes at `at`; returns its end. */
function writeFrameHeader(target: Buffer, at: number, opcode: number, n: number): number {
  target[at] = opcode;
  if (n < 126) {
    target[at + 1] = n;
    return at + 2;
  }
  if (n < 65536) {
    target[at + 1] = 126;
    target.writeUInt16BE(n, at + 2);
    return at + 4;
  }
  target[at + 1] = 127;
  target.writeUInt32BE(Math.floor(n / 2 ** 32), at + 2);
  target.writeUInt32BE(n >>> 0, at + 6);
  return at + 10;
}

/** Per-message log lines (forbidden, invalid) written per connection before they are only counted. */
const MAX_MESSAGE_LOGS = 20;

/** ws error codes and the close code ws sends for each; the rest close with 1002. */
const WS_ERROR_CLOSE: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function clip(text: string, max = 128): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Decodes a binary WebSocket message, which must hold exactly one frame. */
function decodeBinary(buf: Uint8Array, maxDepth: number): CommandMessage {
  if (buf.length < HEADER_SIZE) {
    throw new IpcError(
      'ERR_FRAMING',
      `binary message of ${buf.length} bytes is shorter than a frame header`,
    );
  }
  const length = readLength(buf, 0);
  const type = buf[4] as number;
  checkHeader(length, type, buf.length, 0);
  if (length !== buf.length - HEADER_SIZE) {
    throw new IpcError(
      'ERR_FRAMING',
      `a binary message must hold exactly one frame: the header announces ${length} payload bytes, the message carries ${buf.length - HEADER_SIZE}`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(buf.subarray(HEADER_SIZE));
  } catch (e) {
    throw new IpcError('ERR_FRAMING', 'payload is not valid UTF-8', { cause: e });
  }
  return decodeJson(text, maxDepth, type);
}

function sizeOf(unit: string | Uint8Array): number {
  return typeof unit === 'string' ? Buffer.byteLength(unit) : unit.length;
}

/**
 * `unit`, or a copy of it when it is a small view into a larger buffer (a message relayed as a
 * view of the TCP chunk it came in): held for a slow browser, each such view would keep its
 * whole chunk alive, up to 64 KiB for a few hundred bytes.
 */
function owned(unit: string | Uint8Array): string | Uint8Array {
  return typeof unit === 'string' || unit.byteLength * 2 >= unit.buffer.byteLength
    ? unit
    : new Uint8Array(unit);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** @internal One browser <-> server relay. */
export class BridgeConnection {
  /** Resolves when both the WebSocket and the TCP connection are closed. */
  readonly done: Promise<void>;
  private readonly ws: WebSocket;
  private readonly ctx: ConnectionContext;
  private readonly limits: ResolvedBridgeOptions['limits'];
  private readonly openedAt = Date.now();
  private form: 'text' | 'binary' | undefined;
  /** The fast path's scan result, reused for every message. */
  private readonly scanned: ScannedEnvelope = { transactionId: 0, topic: '', messageType: 0 };

  private upstream: TcpTransport | undefined;
  private readonly connectAbort = new AbortController();
  private preconnect: Uint8Array[] = [];
  private preconnectBytes = 0;
  private upstreamReleased = false;

  private pendingRegister: { txid: number; name: string } | undefined;
  private registeredName: string | undefined;

  private closing = false;
  private closeCode: number | undefined;
  private closeReason = '';
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveWsClosed!: () => void;

  private bucket: number;
  private lastRefill = Date.now();
  private excessStart = 0;
  private lastRefusal = 0;

  private readonly waiting = new Map<string, string | Uint8Array>();
  private waitingBytes = 0;
  private written = 0;
  /** Cumulative end offset (in `written`) of every message not yet known to be taken by the socket. */
  private ends: number[] = [];
  private endsHead = 0;
  private lastDrained = 0;
  private lastProgressAt = 0;
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  private resumeTimer: ReturnType<typeof setInterval> | undefined;

  private alive = true;
  /** Messages for the browser sent in this tick and not yet written (see write). */
  private out: Uint8Array[] = [];
  /** Their payload bytes, and their bytes as frames (headers included). */
  private outBytes = 0;
  private outFrameBytes = 0;
  private flushScheduled = false;
  /** This tick has already written its first few KiB early. */
  private tickSplit = false;
  private messageLogs = 0;
  private messagesIn = 0;
  private messagesOut = 0;

  constructor(ws: WebSocket, ctx: ConnectionContext) {
    this.ws = ws;
    this.ctx = ctx;
    this.limits = ctx.options.limits;
    this.bucket = this.limits.rateCapacity;
    const wsClosed = new Promise<void>((resolve) => (this.resolveWsClosed = resolve));
    ws.on('message', (data, isBinary) => this.onBrowserMessage(toBuffer(data), isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('error', (err: Error & { code?: string }) => this.onWsError(err));
    ws.on('close', (code) => this.onWsClose(code));
    const upstreamDone = this.connectUpstream();
    this.done = Promise.all([wsClosed, upstreamDone]).then(() => undefined);
  }

  /** The registered module name, once the server acknowledged it. */
  get name(): string | undefined {
    return this.registeredName;
  }

  /** Called on every ping interval: terminates a browser that did not answer the last ping. */
  heartbeat(): void {
    if (this.closing) return;
    if (!this.alive) {
      this.log('warn', 'limit', { reason: 'no_pong' });
      this.closing = true;
      this.closeReason = 'no_pong';
      this.stopTimers();
      this.releaseUpstream();
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Closes the browser with 1001 and the server connection; resolves when both are closed. */
  shutdown(): Promise<void> {
    this.closeWith(1001, 'bridge shutting down');
    return this.done;
  }

  // ---------------------------------------------------------------- browser -> server

  private onBrowserMessage(buf: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    this.alive = true;
    this.messagesIn++;
    const m = this.ctx.metrics.m;
    m.messagesIn++;
    m.bytesIn += buf.length;

    const form = isBinary ? 'binary' : 'text';
    if (this.form === undefined) this.form = form;
    else if (form !== this.form) {
      this.log('warn', 'invalid', { reason: 'mixed_forms', first: this.form, got: form });
      this.closeWith(1003, 'mixed text and binary messages');
      return;
    }
    if (this.registeredName === undefined && buf.length > this.limits.maxPreRegistrationBytes) {
      this.log('warn', 'limit', { reason: 'too_large_before_registration', bytes: buf.length });
      this.closeWith(1009, 'message too large before registration');
      return;
    }

    if (this.registeredName !== undefined && this.relayPlain(buf, isBinary)) return;

    let msg: CommandMessage | undefined;
    let invalid: IpcError | undefined;
    try {
      msg = isBinary
        ? decodeBinary(buf, this.limits.maxDepth)
        : decodeJson(buf.toString('utf8'), this.limits.maxDepth);
    } catch (e) {
      const err = toIpcError(e, 'ERR_FRAMING');
      if (err.code !== 'ERR_INVALID_MESSAGE') {
        m.invalidMessages++;
        this.log('warn', 'invalid', { reason: 'framing', detail: redact(err.message) });
        this.closeWith(1007, 'invalid message');
        return;
      }
      invalid = err;
    }
    // A decoded message carries everything an answer needs itself (no object per message).
    const info: InvalidMessageInfo = msg ?? invalid?.invalid ?? {};

    const rate = this.takeRateToken();
    if (rate !== 'ok') {
      m.rateLimited++;
      this.answer(info, 'Rate limit exceeded');
      if (rate === 'close') {
        this.log('warn', 'limit', { reason: 'rate_sustained', ms: this.limits.rateExcessCloseMs });
        this.closeWith(1008, 'rate limit exceeded');
      }
      return;
    }
    if (msg === undefined) {
      m.invalidMessages++;
      this.logMessage('warn', 'invalid', {
        reason: 'invalid_message',
        detail: redact(invalid?.message ?? ''),
      });
      this.answer(info, `Invalid message: ${invalid?.message ?? 'unreadable'}`);
      return;
    }
    this.handle(msg);
  }

  /**
   * The fast path of a registered browser: a Request/Read/Write, Broadcast or Response whose
   * payload `scanEnvelope` vouches for (plain ASCII JSON, no escapes, no repeated envelope member,
   * members of their plain types; everything the full decoder would accept alike) is checked
   * against the rate limit and the token's permissions on the scanned topic, and relayed as its
   * own bytes. Such a payload reads the same to any JSON parser, which is why the ordinary path
   * re-encodes everything else. Returns false, having done nothing, to leave a message to the
   * ordinary path (which also answers and logs every refusal).
   */
  private relayPlain(buf: Buffer, isBinary: boolean): boolean {
    let type = -1;
    let payload: Uint8Array = buf;
    if (isBinary) {
      if (buf.length <= HEADER_SIZE || readLength(buf, 0) !== buf.length - HEADER_SIZE) return false;
      type = buf[4] as number;
      payload = buf.subarray(HEADER_SIZE);
    }
    if (payload.length > this.limits.upstreamMaxPayload) return false;
    const env = this.scanned;
    if (!scanEnvelope(type, payload, this.limits.maxDepth, env)) return false;
    const perms = this.ctx.token.permissions;
    const scanned = env.messageType;
    const allowed = isRequestType(scanned)
      ? perms.mayRequest(env.topic)
      : scanned === MessageType.Broadcast
        ? perms.mayBroadcast(env.topic)
        : scanned === MessageType.Response;
    if (!allowed) return false;
    if (this.bucket < 1) return false; // the ordinary path refuses, answers and logs
    this.takeRateToken();
    let frame: Uint8Array = buf;
    if (!isBinary) {
      frame = Buffer.allocUnsafe(HEADER_SIZE + buf.length);
      writeHeader(frame, buf.length, env.messageType);
      frame.set(buf, HEADER_SIZE);
    }
    this.sendUpstream(frame);
    return true;
  }

  /** Token bucket: 'ok', 'refused', or 'close' when the excess has lasted too long. */
  private takeRateToken(): 'ok' | 'refused' | 'close' {
    const now = Date.now();
    const { rateCapacity, rateRefillPerSecond, rateExcessCloseMs } = this.limits;
    this.bucket = Math.min(
      rateCapacity,
      this.bucket + ((now - this.lastRefill) * rateRefillPerSecond) / 1000,
    );
    this.lastRefill = now;
    if (this.bucket >= 1) {
      this.bucket -= 1;
      return 'ok';
    }
    if (this.excessStart === 0 || now - this.lastRefusal > EXCESS_GAP_MS) {
      this.excessStart = now;
      this.logMessage('warn', 'limit', { reason: 'rate' });
    }
    this.lastRefusal = now;
    return now - this.excessStart >= rateExcessCloseMs ? 'close' : 'refused';
  }

  private handle(msg: CommandMessage): void {
    const type = msg.messageType;
    const perms = this.ctx.token.permissions;
    if (type === MessageType.NoOp) return;
    if (type === MessageType.Heartbeat) {
      this.relay(msg);
      return;
    }
    if (type === MessageType.Control && msg.controlType === ControlType.Register) {
      this.onRegister(msg);
      return;
    }
    if (this.registeredName === undefined) {
      this.forbid('not_registered', msg, 'Not registered');
      return;
    }
    if (isRequestType(type)) {
      if (!perms.mayRequest(msg.topic))
        return this.forbid('request', msg, `Not allowed: ${msg.topic}`);
    } else if (type === MessageType.Subscribe) {
      if (!perms.maySubscribe(msg.topic))
        return this.forbid('subscribe', msg, `Not allowed: ${msg.topic}`);
    } else if (type === MessageType.Broadcast) {
      if (!perms.mayBroadcast(msg.topic)) return this.forbid('broadcast', msg, undefined);
    }
    this.relay(msg);
  }

  private onRegister(msg: CommandMessage): void {
    const held = this.registeredName ?? this.pendingRegister?.name;
    if (held !== undefined) {
      this.refuseRegister(msg, `Already registered as ${held}`, 'already_registered');
      return;
    }
    let name: string;
    try {
      name = parseRegistration(msg.data).name;
    } catch (e) {
      this.refuseRegister(msg, (e as Error).message, 'invalid_registration');
      return;
    }
    if (!this.ctx.token.permissions.mayRegister(name)) {
      this.refuseRegister(msg, `Not allowed: ${name}`, 'name_not_allowed', name);
      return;
    }
    this.pendingRegister = { txid: msg.transactionId, name };
    this.relay(msg);
  }

  private refuseRegister(
    msg: CommandMessage,
    errorMessage: string,
    reason: string,
    name?: string,
  ): void {
    this.ctx.metrics.count('forbidden', 'register');
    this.log('warn', 'forbidden', {
      kind: 'register',
      reason,
      ...(name === undefined ? {} : { name }),
    });
    const ack = new CommandMessage({
      transactionId: msg.transactionId,
      topic: msg.topic,
      messageType: MessageType.Control,
      success: false,
      errorMessage,
    });
    ack.controlType = ControlType.RegisterAck;
    this.sendMessage(ack);
    this.closeWith(1008, 'registration refused');
  }

  private forbid(kind: string, msg: CommandMessage, reply: string | undefined): void {
    this.ctx.metrics.count('forbidden', kind);
    this.logMessage('warn', 'forbidden', { kind, topic: clip(msg.topic) });
    if (reply !== undefined) this.answer(msg, reply);
  }

  /** Answers a message with a failed Response when it asked for one and can be answered. */
  private answer(info: InvalidMessageInfo, errorMessage: string): void {
    if (info.messageType === undefined || !expectsReply(info.messageType) || !info.transactionId)
      return;
    this.sendMessage(
      new CommandMessage({
        transactionId: info.transactionId,
        topic: info.topic ?? '',
        messageType: MessageType.Response,
        success: false,
        errorMessage,
      }),
    );
  }

  private relay(msg: CommandMessage): void {
    let frame: Uint8Array;
    try {
      // Re-encoded from the validated message, never passed through: the server parses exactly
      // what the bridge checked. The browser's own bytes could read differently to another
      // parser (a second `topic` or `name` key: JSON.parse keeps the last, other parsers the
      // first or refuse; `__proto__`, escapes, number forms), and proving them canonical costs
      // about as much as encoding them. Shared-block frame: it goes to the TCP transport at once
      // (no per-frame buffer to allocate).
      frame = sharedFrameFromJson(
        encodePayload(msg),
        msg.messageType,
        this.limits.upstreamMaxPayload,
        msg.topic,
      );
    } catch (e) {
      this.answer(msg, `Invalid message: ${(e as Error).message}`);
      return;
    }
    this.sendUpstream(frame);
  }

  private sendUpstream(frame: Uint8Array): void {
    this.ctx.metrics.m.framesUpstream++;
    if (this.upstream === undefined) {
      this.preconnect.push(frame);
      this.preconnectBytes += frame.length;
    } else {
      this.upstream.send(frame);
    }
    this.checkUpstreamPressure();
  }

  private upstreamBacklog(): number {
    return this.upstream === undefined ? this.preconnectBytes : this.upstream.bufferedAmount;
  }

  private checkUpstreamPressure(): void {
    if (this.resumeTimer !== undefined || this.upstreamBacklog() <= this.limits.upstreamPauseBytes)
      return;
    this.ws.pause();
    this.log('info', 'limit', { reason: 'upstream_backpressure', bytes: this.upstreamBacklog() });
    this.resumeTimer = setInterval(() => {
      if (this.closing) return this.stopResumeTimer();
      if (
        this.upstream !== undefined &&
        this.upstreamBacklog() <= this.limits.upstreamPauseBytes / 2
      ) {
        this.stopResumeTimer();
        this.ws.resume();
      }
    }, POLL_MS);
  }

  private stopResumeTimer(): void {
    clearInterval(this.resumeTimer);
    this.resumeTimer = undefined;
  }

  // ---------------------------------------------------------------- server -> browser

  private async connectUpstream(): Promise<void> {
    const { upstream, limits } = this.ctx.options;
    let t: TcpTransport;
    try {
      t = await connectTcp(upstream, {
        timeoutMs: limits.upstreamConnectTimeoutMs,
        signal: this.connectAbort.signal,
      });
    } catch (e) {
      if (this.closing) return;
      this.ctx.metrics.m.upstreamErrors++;
      this.log('error', 'upstream', {
        reason: 'connect_failed',
        detail: redact((e as Error).message),
      });
      this.closeWith(1011, 'upstream unavailable');
      return;
    }
    if (this.closing) {
      t.close();
      await t.closed;
      return;
    }
    this.upstream = t;
    for (const frame of this.preconnect) t.send(frame);
    this.preconnect = [];
    this.preconnectBytes = 0;
    await this.readUpstream(t);
  }

  private async readUpstream(t: TcpTransport): Promise<void> {
    const decoder = new FrameDecoder({
      maxPayload: this.limits.upstreamMaxPayload,
      maxDepth: this.limits.maxDepth,
    });
    let fault: IpcError | undefined;
    try {
      for await (const chunk of t) {
        decoder.pushFrames(chunk as Uint8Array, (type, payload, frame) =>
          this.onUpstreamFrame(type, payload, frame),
        );
      }
    } catch (e) {
      fault = toIpcError(e, 'ERR_FRAMING');
    }
    if (fault !== undefined) {
      t.close(fault);
      await t.closed;
      if (this.closing) return;
      this.ctx.metrics.m.upstreamErrors++;
      this.log('error', 'upstream', { reason: 'protocol_error', detail: redact(fault.message) });
      this.closeWith(1011, 'upstream protocol error');
      return;
    }
    const error = await t.closed;
    if (this.closing) return;
    if (error !== undefined) {
      this.ctx.metrics.m.upstreamErrors++;
      this.log('warn', 'upstream', { reason: 'closed_with_error', detail: redact(error.message) });
      this.closeWith(1011, 'upstream error');
    } else {
      this.log('info', 'upstream', { reason: 'closed' });
      this.closeWith(1000, 'upstream closed');
    }
  }

  /** One frame from the server: validated, then sent on in the browser's form. Throws framing faults. */
  private onUpstreamFrame(type: number, payload: Uint8Array, frame: Uint8Array): void {
    if (this.closing) return;
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch (e) {
      throw new IpcError('ERR_FRAMING', 'payload from the server is not valid UTF-8', { cause: e });
    }
    let msg: CommandMessage;
    try {
      msg = decodeJson(text, this.limits.maxDepth, type);
    } catch (e) {
      const err = e as IpcError;
      if (err.code !== 'ERR_INVALID_MESSAGE') throw err;
      this.logMessage('warn', 'upstream', {
        reason: 'invalid_message',
        detail: redact(err.message),
      });
      return;
    }
    if (
      msg.messageType === MessageType.Control &&
      msg.controlType === ControlType.RegisterAck &&
      this.pendingRegister !== undefined &&
      msg.transactionId === this.pendingRegister.txid
    ) {
      const { name } = this.pendingRegister;
      this.pendingRegister = undefined;
      if (msg.success) {
        this.registeredName = name;
        this.log('info', 'register', { name });
        // The browser must learn the limit of this hop, not the server's: a message over the
        // bridge's own limit would close the whole WebSocket, while a client that knows the
        // limit refuses the one message (ERR_PAYLOAD_TOO_LARGE) and keeps the connection.
        const hopLimit = this.limits.maxMessageBytes - (this.form === 'binary' ? HEADER_SIZE : 0);
        const data = msg.data as { max_payload?: unknown } | null;
        if (typeof data === 'object' && data !== null && !(Number(data.max_payload) <= hopLimit)) {
          msg.data = { ...data, max_payload: hopLimit };
          this.sendMessage(msg);
          return;
        }
      } else {
        this.log('warn', 'register', { name, reason: 'refused_by_server' });
      }
    }
    // Validated above, so the bytes go on as they came: the frame in binary form, the payload
    // (without the header) in text form. Only the RegisterAck above is ever rewritten.
    const unit = this.form === 'binary' ? frame : payload;
    this.sendToBrowser(unit, msg.messageType === MessageType.Broadcast ? msg.topic : undefined);
  }

  /** Sends a message the bridge made itself, in the browser's form. */
  private sendMessage(msg: CommandMessage): void {
    this.sendToBrowser(
      this.form === 'binary' ? encodeFrame(msg, Number.MAX_SAFE_INTEGER) : encodePayload(msg),
      undefined,
    );
  }

  /**
   * Queues one unit for the browser. `broadcastTopic` is set for Broadcasts, which may be
   * coalesced while the browser is slow; everything else is sent in order.
   */
  private sendToBrowser(unit: string | Uint8Array, broadcastTopic: string | undefined): void {
    if (this.closing) return;
    const backlog = this.backlog();
    if (backlog + this.waitingBytes > this.limits.closeBufferedBytes) {
      this.slowConsumer(`${backlog + this.waitingBytes} bytes queued`);
      return;
    }
    if (
      broadcastTopic !== undefined &&
      (this.waiting.size > 0 || backlog > this.limits.maxBufferedBytes)
    ) {
      const prev = this.waiting.get(broadcastTopic);
      if (prev !== undefined) {
        this.waitingBytes -= sizeOf(prev);
        this.waiting.delete(broadcastTopic);
        this.ctx.metrics.m.coalesced++;
      }
      this.waiting.set(broadcastTopic, owned(unit));
      this.waitingBytes += sizeOf(unit);
      this.startFlushing();
      return;
    }
    this.write(unit);
    if (this.backlog() > this.limits.maxBufferedBytes) this.startFlushing();
  }

  /**
   * Bytes queued towards the browser beyond the message being written. The socket has taken
   * `written - bufferedAmount` bytes so far (ws frame headers make this a slight underestimate,
   * which only errs towards patience); messages that end before that are gone.
   */
  private backlog(): number {
    const taken = this.written - this.queuedBytes();
    const ends = this.ends;
    while (this.endsHead < ends.length && (ends[this.endsHead] as number) <= taken) this.endsHead++;
    if (this.endsHead === ends.length) {
      this.ends = [];
      this.endsHead = 0;
      return 0;
    }
    const headEnd = ends[this.endsHead] as number;
    if (this.endsHead >= 1024) {
      this.ends = ends.slice(this.endsHead);
      this.endsHead = 0;
    }
    return this.written - headEnd;
  }

  /** Bytes the browser has not taken yet: what `ws` holds, and what this tick has not written. */
  private queuedBytes(): number {
    return this.ws.bufferedAmount + this.outBytes;
  }

  /** `ws`'s socket, which the bridge writes its data frames to itself (see write). */
  private socket(): WsSocket | undefined {
    const socket = (this.ws as unknown as { _socket?: Partial<WsSocket> | null })._socket;
    return typeof socket?.write === 'function' ? (socket as WsSocket) : undefined;
  }

  /**
   * Sends one message to the browser. The messages of one tick are framed by the bridge itself
   * and leave in one socket write at its end (see flushOut): `ws.send` costs a system call and
   * half a dozen objects per message, the bridge's largest cost with many requests in flight.
   * As the TCP transport does, the first few KiB of a tick leave at once, so the browser (and
   * everything behind it) starts on them while the bridge goes on with the rest.
   */
  private write(unit: string | Uint8Array): void {
    const bytes = typeof unit === 'string' ? Buffer.from(unit) : unit;
    const size = bytes.length;
    if (this.socket() === undefined) {
      // Not `ws`'s usual Node socket: let `ws` frame and write the message itself.
      this.ws.send(bytes, this.form === 'binary' ? BINARY_FRAME : TEXT_FRAME);
    } else {
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(this.endTick);
      }
      this.out.push(bytes);
      this.outBytes += size;
      this.outFrameBytes += headerSize(size) + size;
      if (this.outFrameBytes >= TICK_FLUSH_BYTES) this.flushOut();
      else if (!this.tickSplit && this.outFrameBytes >= EARLY_FLUSH_BYTES) {
        this.tickSplit = true;
        this.flushOut();
      }
    }
    this.written += size;
    this.ends.push(this.written);
    this.messagesOut++;
    const m = this.ctx.metrics.m;
    m.messagesOut++;
    m.bytesOut += size;
  }

  /** End of a tick: what it sent goes out. Made once (a closure per tick would be an allocation). */
  private readonly endTick = (): void => {
    this.flushScheduled = false;
    this.tickSplit = false;
    this.flushOut();
  };

  /**
   * Writes the messages of this tick as unmasked final frames (RFC 6455: a server never masks),
   * copied together into one chunk; a large message is written behind its own header instead of
   * being copied. `ws` negotiates no extension here (permessage-deflate is off), so these are
   * exactly the frames it would write, and its own frames (ping, pong, close) only ever fall
   * between whole messages. Nothing is written once the WebSocket is no longer open: after a
   * close frame, in either direction, no data frame may follow.
   */
  private flushOut(): void {
    const units = this.out;
    if (units.length === 0) return;
    const total = this.outFrameBytes;
    this.out = [];
    this.outBytes = 0;
    this.outFrameBytes = 0;
    const socket = this.socket();
    if (socket === undefined || socket.destroyed || this.ws.readyState !== WS_OPEN) return;
    const opcode = this.form === 'binary' ? BINARY_OPCODE : TEXT_OPCODE;
    let chunk = Buffer.allocUnsafe(total);
    let at = 0;
    for (const unit of units) {
      if (unit.length > COPY_MAX_BYTES) {
        if (at > 0) socket.write(chunk.subarray(0, at));
        const header = Buffer.allocUnsafe(headerSize(unit.length));
        writeFrameHeader(header, 0, opcode, unit.length);
        socket.write(header);
        socket.write(unit);
        chunk = chunk.subarray(at);
        at = 0;
        continue;
      }
      at = writeFrameHeader(chunk, at, opcode, unit.length);
      chunk.set(unit, at);
      at += unit.length;
    }
    if (at > 0) socket.write(chunk.subarray(0, at));
  }

  private startFlushing(): void {
    if (this.flushTimer !== undefined) return;
    this.lastDrained = this.written - this.queuedBytes();
    this.lastProgressAt = Date.now();
    this.flushTimer = setInterval(() => this.flush(), POLL_MS);
  }

  private flush(): void {
    if (this.closing) return this.stopFlushing();
    const max = this.limits.maxBufferedBytes;
    while (this.waiting.size > 0 && this.backlog() <= max) {
      const [topic, unit] = this.waiting.entries().next().value as [string, string | Uint8Array];
      this.waiting.delete(topic);
      this.waitingBytes -= sizeOf(unit);
      this.write(unit);
    }
    if (this.waiting.size === 0 && this.backlog() <= max) return this.stopFlushing();
    // Bytes the socket has taken so far; it only grows when the browser reads.
    const drained = this.written - this.queuedBytes();
    const now = Date.now();
    if (drained > this.lastDrained) {
      this.lastDrained = drained;
      this.lastProgressAt = now;
    } else if (now - this.lastProgressAt >= this.limits.slowConsumerMs) {
      this.slowConsumer(`nothing taken for ${now - this.lastProgressAt} ms`);
    }
  }

  private stopFlushing(): void {
    clearInterval(this.flushTimer);
    this.flushTimer = undefined;
  }

  private slowConsumer(why: string): void {
    this.log('warn', 'limit', {
      reason: 'slow_consumer',
      detail: why,
      buffered: this.ws.bufferedAmount,
      backlog: this.backlog(),
      waiting: this.waitingBytes,
    });
    this.closeWith(1013, 'slow consumer');
  }

  // ---------------------------------------------------------------- closing

  /** Closes the browser with `code` and the server connection (flushed, then FIN). */
  private closeWith(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.closeCode = code;
    this.closeReason = reason;
    // What this tick sent goes before the close frame, as it would have with `ws.send`.
    this.flushOut();
    this.stopTimers();
    try {
      this.ws.close(code, reason);
    } catch {
      // Already closed underneath: the close event follows anyway.
    }
    // The close frame may sit behind a backlog the browser never reads, or the browser may
    // never answer it: the socket is dropped after the grace period either way.
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.limits.closeGraceMs);
    this.releaseUpstream();
  }

  private stopTimers(): void {
    this.stopFlushing();
    this.stopResumeTimer();
    this.waiting.clear();
    this.waitingBytes = 0;
    this.out = [];
    this.outBytes = 0;
    this.outFrameBytes = 0;
    this.ends = [];
    this.endsHead = 0;
  }

  /** Ends the TCP connection (the module leaves the server), or stops connecting. */
  private releaseUpstream(): void {
    if (this.upstreamReleased) return;
    this.upstreamReleased = true;
    this.preconnect = [];
    this.preconnectBytes = 0;
    this.connectAbort.abort();
    const t = this.upstream;
    if (t === undefined) return;
    const timer = setTimeout(() => t.close(), this.limits.closeGraceMs);
    void t.end();
    void t.closed.then(() => clearTimeout(timer));
  }

  private onWsError(err: Error & { code?: string }): void {
    const code =
      err.code === undefined
        ? undefined
        : (WS_ERROR_CLOSE[err.code] ?? (err.code.startsWith('WS_ERR_') ? 1002 : undefined));
    if (code !== undefined && !this.closing) {
      if (code === 1009)
        this.log('warn', 'limit', {
          reason: 'message_too_large',
          max: this.limits.maxMessageBytes,
        });
      else this.log('warn', 'invalid', { reason: err.code });
      this.closeCode = code;
      this.closeReason = err.code ?? '';
    }
    // ws closes the socket itself after an error; release the server side now.
    this.closing = true;
    this.stopTimers();
    this.releaseUpstream();
  }

  private onWsClose(peerCode: number): void {
    this.closing = true;
    this.stopTimers();
    clearTimeout(this.closeTimer);
    this.releaseUpstream();
    const code = this.closeCode ?? peerCode;
    this.ctx.metrics.count('closes', code);
    this.log('info', 'close', {
      code,
      peerCode,
      ...(this.closeReason ? { reason: this.closeReason } : {}),
      durationMs: Date.now() - this.openedAt,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
    });
    this.ctx.onClosed(this);
    this.resolveWsClosed();
  }

  private log(
    level: BridgeLogEntry['level'],
    event: string,
    fields: Record<string, unknown>,
  ): void {
    const name = this.registeredName;
    this.ctx.log(
      level,
      event,
      name === undefined || 'name' in fields ? fields : { name, ...fields },
    );
  }

  private logMessage(
    level: BridgeLogEntry['level'],
    event: string,
    fields: Record<string, unknown>,
  ): void {
    this.messageLogs++;
    if (this.messageLogs <= MAX_MESSAGE_LOGS) this.log(level, event, fields);
    else if (this.messageLogs === MAX_MESSAGE_LOGS + 1) {
      this.log('warn', event, {
        reason: 'suppressed',
        detail: `more than ${MAX_MESSAGE_LOGS} per-message entries; further ones are only counted`,
      });
    }
  }
}
