import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { connectTcp, listenTcp, type TcpTransport } from '../../src/transports/tcp.node.ts';
import type { Transport } from '../../src/transports/transport.ts';
import {
  WebSocketTransport,
  connectWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../../src/transports/websocket.ts';

/** A connected pair: `client` dialled `server`'s listener; `dispose` frees everything. */
interface Pair {
  client: Transport;
  server: Transport;
  dispose(): Promise<void>;
}

type PairFactory = () => Promise<Pair>;

async function tcpPair(): Promise<Pair> {
  let accepted!: (t: TcpTransport) => void;
  const serverSide = new Promise<TcpTransport>((r) => (accepted = r));
  const listener = await listenTcp({ port: 0 }, (t) => accepted(t));
  const client = await connectTcp(`127.0.0.1:${listener.port}`);
  const server = await serverSide;
  return {
    client,
    server,
    async dispose() {
      client.close();
      server.close();
      await Promise.all([client.closed, server.closed]);
      await listener.close();
    },
  };
}

function wsPair(mode: 'text' | 'binary'): PairFactory {
  return async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const serverSide = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = await connectWebSocket(`ws://127.0.0.1:${port}`, {
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      mode,
    });
    const [socket] = await serverSide;
    const server = new WebSocketTransport(socket as unknown as WebSocketLike, mode);
    return {
      client,
      server,
      async dispose() {
        client.close();
        server.close();
        await Promise.all([client.closed, server.closed]);
        await new Promise<void>((r) => wss.close(() => r()));
      },
    };
  };
}

const transports: Array<[string, PairFactory]> = [
  ['tcp', tcpPair],
  ['websocket (binary)', wsPair('binary')],
  ['websocket (text)', wsPair('text')],
];

const toText = (unit: Uint8Array | string): string =>
  typeof unit === 'string' ? unit : new TextDecoder().decode(unit);

async function readText(t: Transport, expectedLength: number): Promise<string> {
  let text = '';
  for await (const unit of t) {
    text += toText(unit);
    if (text.length >= expectedLength) break;
  }
  return text;
}

describe.each(transports)('Transport over %s', (_name, makePair) => {
  let pair: Pair | undefined;
  afterEach(async () => {
    await pair?.dispose();
    pair = undefined;
  });

  it('carries units both ways in order', async () => {
    pair = await makePair();
    const units = Array.from({ length: 50 }, (_, i) => `{"n":${i}}`);
    for (const u of units) pair.client.send(pair.client.framing === 'json' ? u : new TextEncoder().encode(u));
    const joined = units.join('');
    expect(await readText(pair.server, joined.length)).toBe(joined);
    pair.server.send(pair.server.framing === 'json' ? 'back' : new TextEncoder().encode('back'));
    expect(await readText(pair.client, 4)).toBe('back');
  });

  it('carries a 1 MiB unit whole', async () => {
    pair = await makePair();
    const big = 'x'.repeat(1024 * 1024);
    pair.client.send(pair.client.framing === 'json' ? big : new TextEncoder().encode(big));
    expect((await readText(pair.server, big.length)).length).toBe(big.length);
  });

  it('resolves closed with undefined on both sides after a clean end', async () => {
    pair = await makePair();
    await pair.client.end();
    expect(await pair.client.closed).toBeUndefined();
    expect(await pair.server.closed).toBeUndefined();
    expect(pair.client.isClosed).toBe(true);
  });

  it('ends the inbound iterator when the peer closes', async () => {
    pair = await makePair();
    const drained = (async () => {
      let n = 0;
      for await (const _unit of pair!.server) n++;
      return n;
    })();
    pair.client.close();
    expect(await drained).toBe(0);
  });

  it('reports the error given to close() as the closed value', async () => {
    pair = await makePair();
    const { IpcError } = await import('../../src/core/errors.ts');
    pair.client.close(new IpcError('ERR_FRAMING', 'bad stream'));
    const why = await pair.client.closed;
    expect(why?.code).toBe('ERR_FRAMING');
  });

  it('ignores sends after close instead of throwing', async () => {
    pair = await makePair();
    pair.client.close();
    await pair.client.closed;
    expect(() => pair!.client.send('late')).not.toThrow();
  });
});

describe('connectTcp', () => {
  it('rejects with ERR_CONNECTION when nothing listens', async () => {
    const listener = await listenTcp({ port: 0 }, (t) => t.close());
    const port = listener.port;
    await listener.close();
    await expect(connectTcp(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
  });

  it('rejects a malformed address with ERR_INVALID_ARGUMENT', async () => {
    await expect(connectTcp('localhost')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('rejects with ERR_ABORTED when the signal is already aborted', async () => {
    await expect(connectTcp('127.0.0.1:1', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ERR_ABORTED',
    });
  });
});

describe('TcpTransport back-pressure', () => {
  it('closes a peer that stops reading as a slow consumer', async () => {
    let accepted!: (t: TcpTransport) => void;
    const serverSide = new Promise<TcpTransport>((r) => (accepted = r));
    const listener = await listenTcp({ port: 0, maxQueuedBytes: 256 * 1024 }, (t) => accepted(t));
    const client = await connectTcp(`127.0.0.1:${listener.port}`);
    const server = await serverSide;
    // The client never reads: after the kernel buffers fill, the server's own queue grows.
    const chunk = new Uint8Array(64 * 1024);
    const deadline = Date.now() + 10_000;
    while (!server.isClosed && Date.now() < deadline) {
      server.send(chunk);
      await new Promise((r) => setImmediate(r));
    }
    const why = await server.closed;
    expect(why?.code).toBe('ERR_SLOW_CONSUMER');
    client.close();
    await listener.close();
  });
});

describe('connectWebSocket', () => {
  it('rejects with ERR_INVALID_ARGUMENT when no WebSocket constructor exists', async () => {
    await expect(connectWebSocket('ws://127.0.0.1:1')).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
  });

  it('rejects with ERR_CONNECTION when nothing listens', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    await new Promise<void>((r) => wss.close(() => r()));
    await expect(
      connectWebSocket(`ws://127.0.0.1:${port}`, { WebSocket: WebSocket as unknown as WebSocketConstructor }),
    ).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
  });
});

describe('TcpTransport batching', () => {
  it('writes a tick of units as one chunk, joining views that lie back to back in one buffer', async () => {
    const pair = await tcpPair();
    try {
      const socket = (pair.client as unknown as { socket: { write: (b: Uint8Array) => boolean } }).socket;
      const written: Uint8Array[] = [];
      const write = socket.write.bind(socket);
      socket.write = (b: Uint8Array) => {
        written.push(new Uint8Array(b));
        return write(b);
      };
      const block = new TextEncoder().encode('abcdefghij');
      const other = new TextEncoder().encode('XY');
      // Back to back in `block`, then a unit elsewhere, then `block` again but not contiguous.
      pair.client.send(block.subarray(0, 3));
      pair.client.send(block.subarray(3, 7));
      pair.client.send(other);
      pair.client.send(block.subarray(8, 10));
      const text = await readText(pair.server, 11);
      expect(text).toBe('abcdefgXYij');
      expect(written.map((b) => new TextDecoder().decode(b))).toEqual(['abcdefgXYij']);
      // The joined view did not change the caller's buffer.
      expect(new TextDecoder().decode(block)).toBe('abcdefghij');
    } finally {
      await pair.dispose();
    }
  });
});
