/**
 * Test clients for the bridge: a raw `ws` client that speaks the wire form directly (so tests
 * can send exactly the bytes they want, with any headers), handshake probes that report the
 * HTTP status of a refused upgrade, and a raw HTTP helper for handshake abuse.
 */
import net from 'node:net';
import {
  HEADER_SIZE,
  nextTransactionId,
  readLength,
  writeHeader,
  type CommandMessageWire,
} from 'autocore-ipc';
import WebSocket from 'ws';

export const SUBPROTOCOL = 'autocore-ipc.v1';

/** A received message as parsed JSON (wire form). */
export type Wire = CommandMessageWire & Record<string, unknown>;

/** Options of {@link openClient} / {@link handshakeStatus}. */
export interface ClientOptions {
  headers?: Record<string, string>;
  protocols?: string[];
  /** Sent as the `Origin` header. */
  origin?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  perMessageDeflate?: boolean;
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** Path and query appended to the URL. */
  path?: string;
}

/** A connected raw test client. */
export interface TestClient {
  readonly ws: WebSocket;
  /** Headers of the 101 response. */
  readonly responseHeaders: Record<string, string | string[] | undefined>;
  /** Every message received, decoded (text: JSON; binary: the frame's JSON). */
  readonly messages: Wire[];
  /** Every message received, as it came. */
  readonly raw: Array<{ data: Buffer; isBinary: boolean }>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first received message (past or future) that matches. */
  next(pred: (m: Wire) => boolean, timeoutMs?: number): Promise<Wire>;
  sendText(obj: unknown): void;
  sendFrame(obj: unknown, type?: number): void;
  /** Registers `name` and waits for the RegisterAck. */
  register(name: string, mode?: 'text' | 'binary'): Promise<Wire>;
  /** Sends a message of `type` on `topic` and waits for the Response with the same id. */
  call(type: number, topic: string, data?: unknown, mode?: 'text' | 'binary'): Promise<Wire>;
  close(): Promise<void>;
}

function buildHeaders(o: ClientOptions): Record<string, string> {
  const h: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token !== undefined) h.Authorization = `Bearer ${o.token}`;
  return h;
}

/** A frame (header + JSON) of `obj`, with `type` (default: its numeric message_type) in the header. */
export function frameOf(obj: unknown, type?: number): Buffer {
  const json = Buffer.from(JSON.stringify(obj));
  const frame = Buffer.alloc(HEADER_SIZE + json.length);
  const t = type ?? (obj as { message_type?: unknown }).message_type;
  writeHeader(frame, json.length, typeof t === 'number' ? t : 0);
  json.copy(frame, HEADER_SIZE);
  return frame;
}

/** A wire message as a test sends it: `message_type` may be a name, anything may be added. */
export type OutMsg = Omit<CommandMessageWire, 'message_type'> & {
  message_type: number | string;
} & Record<string, unknown>;

/** A wire message with defaults. */
export function msg(
  fields: Omit<Partial<CommandMessageWire>, 'message_type'> & {
    message_type: number | string;
    topic: string;
  },
): OutMsg {
  return {
    transaction_id: nextTransactionId(),
    timecode: Date.now(),
    data: null,
    crc: 0,
    success: false,
    error_message: '',
    ...fields,
  };
}

/** A Control/Register wire message for `name`. */
export function registerMsg(name: string, messageType: number | string = 4): OutMsg {
  return msg({
    message_type: messageType,
    topic: name,
    control_type: 3,
    data: { name, version: '1.0.0', capabilities: [] },
  });
}

function decode(data: Buffer, isBinary: boolean): Wire {
  if (!isBinary) return JSON.parse(data.toString('utf8')) as Wire;
  const length = readLength(data, 0);
  if (length !== data.length - HEADER_SIZE)
    throw new Error(`binary message is not exactly one frame`);
  return JSON.parse(data.subarray(HEADER_SIZE).toString('utf8')) as Wire;
}

/** Opens a raw `ws` client; rejects with the HTTP status when the handshake is refused. */
export function openClient(url: string, options: ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(`${url}${options.path ?? '/'}`, options.protocols ?? [SUBPROTOCOL], {
    headers: buildHeaders(options),
    perMessageDeflate: options.perMessageDeflate ?? false,
    autoPong: options.autoPong ?? true,
    ...(options.origin === undefined ? {} : { origin: options.origin }),
  });
  const messages: Wire[] = [];
  let responseHeaders: Record<string, string | string[] | undefined> = {};
  ws.once('upgrade', (res) => {
    responseHeaders = res.headers;
  });
  const raw: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of [...waiters]) w();
    });
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    raw.push({ data, isBinary });
    messages.push(decode(data, isBinary));
    for (const w of [...waiters]) w();
  });
  ws.on('error', () => {});

  const next = (pred: (m: Wire) => boolean, timeoutMs = 5000): Promise<Wire> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = messages.find(pred);
        if (m !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        } else if (ws.readyState === WebSocket.CLOSED) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error('test client: closed before the expected message arrived'));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`test client: no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const send = (obj: unknown, mode: 'text' | 'binary'): void => {
    if (mode === 'binary') ws.send(frameOf(obj));
    else ws.send(JSON.stringify(obj));
  };

  const client: TestClient = {
    ws,
    get responseHeaders() {
      return responseHeaders;
    },
    messages,
    raw,
    closed,
    next,
    sendText: (obj) => ws.send(JSON.stringify(obj)),
    sendFrame: (obj, type) => ws.send(frameOf(obj, type)),
    register: async (name, mode = 'text') => {
      const reg = registerMsg(name);
      send(reg, mode);
      return next((m) => m.transaction_id === reg.transaction_id && m.control_type === 4);
    },
    call: async (type, topic, data = null, mode = 'text') => {
      const m = msg({ message_type: type, topic, data });
      send(m, mode);
      return next((r) => r.transaction_id === m.transaction_id && r.message_type === 2);
    },
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      if (ws.readyState === WebSocket.CONNECTING) {
        ws.terminate();
      } else {
        ws.close(1000);
        const t = setTimeout(() => ws.terminate(), 1000);
        await closed;
        clearTimeout(t);
        return;
      }
      await closed;
    },
  };

  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      const err = new Error(`handshake refused with HTTP ${res.statusCode}`) as Error & {
        status?: number;
      };
      err.status = res.statusCode;
      res.resume();
      ws.terminate();
      reject(err);
    });
    ws.once('error', (e) => reject(e));
  });
}

/** The HTTP status of a handshake: 101 when it was upgraded (the socket is closed again). */
export async function handshakeStatus(url: string, options: ClientOptions = {}): Promise<number> {
  try {
    const c = await openClient(url, options);
    await c.close();
    return 101;
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === undefined) throw e;
    return status;
  }
}

/** Sends `request` on a raw TCP socket and resolves with everything the server answered. */
export function rawHttp(port: number, request: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `raw HTTP: no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('connect', () => socket.write(request));
  });
}

/** Fetches a path over HTTP. */
export async function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
}
