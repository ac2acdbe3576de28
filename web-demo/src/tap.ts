/**
 * The message tap (worker side): a Transport wrapper that reports every unit going out (`send`)
 * and coming in (the async iterator), without any change to the SDK. The worker's connector
 * opens the WebSocket with `connectWebSocket` and hands IpcClient the wrapped transport, so the
 * tap sees exactly what is on the wire, Heartbeats and Control messages included.
 */
import {
  connectWebSocket,
  type Connector,
  type IpcError,
  type Transport,
  type TransportFraming,
  type WebSocketTransportOptions,
} from 'autocore-ipc';
import type { TapRecord } from './protocol.ts';

/** Longest JSON text kept per record (the size column still shows the real size). */
export const MAX_RAW_CHARS = 4096;
/** Frame header size of the binary WebSocket form (PROTOCOL.md section 1). */
const HEADER_SIZE = 5;

const utf8 = new TextDecoder();

/** Where a tapped transport reports what passes. */
export interface TapSink {
  record(dir: 'in' | 'out', unit: Uint8Array | string): void;
}

/** UTF-8 byte length of a string without encoding it. */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Describes one unit (bare JSON text, or one binary frame) for the tap.
 *
 * @example
 * ```ts
 * parseUnit('in', '{"transaction_id":0,"topic":"press1.rpm","message_type":3,"data":1200}', Date.now()).topic;
 * // 'press1.rpm'
 * ```
 */
export function parseUnit(dir: 'in' | 'out', unit: Uint8Array | string, time: number): TapRecord {
  const size = typeof unit === 'string' ? utf8Length(unit) : unit.length;
  const text = typeof unit === 'string' ? unit : utf8.decode(unit.subarray(HEADER_SIZE));
  const rec: TapRecord = {
    time,
    dir,
    type: -1,
    control: -1,
    topic: '',
    txid: 0,
    size,
    success: false,
    error: '',
    raw: text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS) : text,
  };
  try {
    const m = JSON.parse(text) as Record<string, unknown>;
    if (typeof m.message_type === 'number') rec.type = m.message_type;
    if (typeof m.control_type === 'number') rec.control = m.control_type;
    if (typeof m.topic === 'string') rec.topic = m.topic;
    if (typeof m.transaction_id === 'number') rec.txid = m.transaction_id;
    rec.success = m.success === true;
    if (typeof m.error_message === 'string') rec.error = m.error_message;
  } catch {
    rec.topic = '(not JSON)';
  }
  return rec;
}

/**
 * A Transport that forwards everything to `inner` and reports each unit to `sink`.
 *
 * @example
 * ```ts
 * const transport = new TappedTransport(await connectWebSocket(url, { token }), sink);
 * ```
 */
export class TappedTransport implements Transport {
  readonly #inner: Transport;
  readonly #sink: TapSink;

  constructor(inner: Transport, sink: TapSink) {
    this.#inner = inner;
    this.#sink = sink;
  }

  get framing(): TransportFraming {
    return this.#inner.framing;
  }
  get remoteAddress(): string {
    return this.#inner.remoteAddress;
  }
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }
  get isClosed(): boolean {
    return this.#inner.isClosed;
  }
  get closed(): Promise<IpcError | undefined> {
    return this.#inner.closed;
  }

  send(data: Uint8Array | string): void {
    // Only what is really sent: a closed transport drops it silently.
    if (!this.#inner.isClosed) this.#sink.record('out', data);
    this.#inner.send(data);
  }

  end(): Promise<void> {
    return this.#inner.end();
  }

  close(error?: IpcError): void {
    this.#inner.close(error);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array | string> {
    const it = this.#inner[Symbol.asyncIterator]();
    const sink = this.#sink;
    const seen = (r: IteratorResult<Uint8Array | string>): IteratorResult<Uint8Array | string> => {
      if (!r.done) sink.record('in', r.value);
      return r;
    };
    return {
      next: () => it.next().then(seen),
      return: (value?: unknown) =>
        it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined }),
    };
  }
}

/**
 * A Connector that opens a WebSocket each time (IpcClient calls it again to reconnect) and taps
 * the resulting transport.
 *
 * @example
 * ```ts
 * const client = await IpcClient.connect(tappedWebSocketConnector(url, { token }, sink), handler);
 * ```
 */
export function tappedWebSocketConnector(
  url: string,
  options: WebSocketTransportOptions,
  sink: TapSink,
): Connector {
  return async ({ signal }) => {
    const inner = await connectWebSocket(url, signal ? { ...options, signal } : options);
    return new TappedTransport(inner, sink);
  };
}
