import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBridge, type BridgeLogEntry } from '../../bridge/index.ts';
import {
  SUBPROTOCOL,
  handshakeStatus,
  httpGet,
  openClient,
  rawHttp,
  type TestClient,
} from '../support/bridge-client.ts';
import {
  ORIGIN,
  TOKEN,
  VIEWER_TOKEN,
  testBridgeOptions,
  useBridgeFixtures,
} from '../support/bridge-fixture.ts';
import { startFakeUpstream } from '../support/bridge-upstream.ts';

const REQUEST = 1;

/** A well-behaved client still gets answers. */
async function stillWorks(c: TestClient): Promise<void> {
  const res = await c.call(REQUEST, 'press1.speed', { n: 1 });
  expect(res.success).toBe(true);
  expect(res.data).toEqual({ n: 1 });
}

describe('bridge handshake', () => {
  const fx = useBridgeFixtures();

  describe('token', () => {
    it('refuses a handshake without a token with 401', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      expect(await handshakeStatus(f.url, {})).toBe(401);
      expect(f.bridge.metrics().denials.missing_token).toBe(1);
      await stillWorks(good);
    });

    it('refuses a wrong token with 401', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      expect(await handshakeStatus(f.url, { token: 'wrong-token-0123456789abcdef' })).toBe(401);
      expect(await handshakeStatus(f.url, { token: TOKEN.slice(0, -1) })).toBe(401);
      expect(await handshakeStatus(f.url, { headers: { Authorization: `Basic ${TOKEN}` } })).toBe(
        401,
      );
      expect(f.bridge.metrics().denials.bad_token).toBe(2);
      await stillWorks(good);
    });

    it('refuses a token in the query string with 401, alone or next to a valid header', async () => {
      const f = await fx.start();
      expect(await handshakeStatus(f.url, { headers: {}, path: `/?token=${TOKEN}` })).toBe(401);
      expect(await handshakeStatus(f.url, { headers: {}, path: `/?access_token=${TOKEN}` })).toBe(
        401,
      );
      expect(await handshakeStatus(f.url, { token: TOKEN, path: `/?token=${TOKEN}` })).toBe(401);
      expect(f.bridge.metrics().denials.token_in_query).toBe(3);
      // Other query parameters are fine.
      expect(await handshakeStatus(f.url, { token: TOKEN, path: '/?tab=3' })).toBe(101);
    });

    it('accepts the token as the subprotocol entry bearer.<token> and selects only autocore-ipc.v1', async () => {
      const f = await fx.start();
      const c = await f.client({ protocols: [SUBPROTOCOL, `bearer.${TOKEN}`] });
      expect(c.ws.protocol).toBe(SUBPROTOCOL);
      expect(c.responseHeaders['sec-websocket-protocol']).toBe(SUBPROTOCOL);
      const ack = await c.register('hmi_sub');
      expect(ack.success).toBe(true);
      await stillWorks(c);
    });

    it('refuses a subprotocol list without autocore-ipc.v1 with 400, so the token is never echoed', async () => {
      const f = await fx.start();
      expect(await handshakeStatus(f.url, { protocols: [`bearer.${TOKEN}`] })).toBe(400);
      expect(await handshakeStatus(f.url, { protocols: ['chat', `bearer.${TOKEN}`] })).toBe(400);
    });

    it('accepts the token from the autocore_token cookie', async () => {
      const f = await fx.start();
      const c = await f.client({ headers: { Cookie: `theme=dark; autocore_token=${TOKEN}; x=1` } });
      expect((await c.register('hmi_cookie')).success).toBe(true);
      expect(
        await handshakeStatus(f.url, {
          headers: { Cookie: 'autocore_token=nope-nope-nope-nope-nope' },
        }),
      ).toBe(401);
    });

    it('applies the permissions of the token that was presented', async () => {
      const f = await fx.start();
      const viewer = await f.client({ token: VIEWER_TOKEN });
      const refused = await viewer.register('hmi_x');
      expect(refused.success).toBe(false);
      expect(refused.error_message).toBe('Not allowed: hmi_x');
      const viewer2 = await f.client({ token: VIEWER_TOKEN });
      expect((await viewer2.register('viewer_1')).success).toBe(true);
    });
  });

  describe('origin', () => {
    it('allows a listed origin and a handshake without an Origin header', async () => {
      const f = await fx.start();
      expect(await handshakeStatus(f.url, { token: TOKEN, origin: ORIGIN })).toBe(101);
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(101);
      // No Origin header: the token still decides.
      expect(await handshakeStatus(f.url, {})).toBe(401);
    });

    it('refuses an unlisted origin, null and look-alikes with 403', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good', 'text', { token: TOKEN, origin: ORIGIN });
      for (const origin of [
        'http://evil.example',
        'null',
        'http://localhost:5173.evil.com',
        'http://localhost:51730',
        'https://localhost:5173',
        'http://localhost',
        'http://127.0.0.1:5173',
        'http://user@localhost:5173',
        'http://localhost:5173/',
        'HTTP://LOCALHOST:5173',
      ]) {
        expect(await handshakeStatus(f.url, { token: TOKEN, origin }), origin).toBe(403);
      }
      expect(f.bridge.metrics().denials.origin).toBe(10);
      await stillWorks(good);
    });
  });

  it('never negotiates permessage-deflate', async () => {
    const f = await fx.start();
    const c = await f.client({ token: TOKEN, perMessageDeflate: true });
    expect(c.ws.extensions).toBe('');
    expect(c.responseHeaders['sec-websocket-extensions']).toBeUndefined();
    expect((await c.register('hmi_plain')).success).toBe(true);
  });

  describe('handshake abuse', () => {
    const head = (port: number, extra: string): string =>
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${TOKEN}\r\n${extra}\r\n`;

    it('refuses 2,000 headers with 431 while another client keeps working', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      let extra = '';
      for (let i = 0; i < 2000; i++) extra += `x${i}:1\r\n`;
      const answer = await rawHttp(f.bridge.port, head(f.bridge.port, extra));
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      expect(f.bridge.metrics().denials.headers).toBe(1);
      await stillWorks(good);
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(101);
    });

    it('refuses 2,000 long headers (over the size limit) with 431', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      let extra = '';
      for (let i = 0; i < 2000; i++) extra += `X-Filler-${i}: ${'v'.repeat(20)}\r\n`;
      const answer = await rawHttp(f.bridge.port, head(f.bridge.port, extra));
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      await stillWorks(good);
    });

    it('refuses a 64 KiB Sec-WebSocket-Protocol with 431 while another client keeps working', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      const answer = await rawHttp(
        f.bridge.port,
        head(f.bridge.port, `Sec-WebSocket-Protocol: ${SUBPROTOCOL}, ${'a'.repeat(64 * 1024)}\r\n`),
      );
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      await stillWorks(good);
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(101);
    });

    it('answers a malformed upgrade with 400 and plain HTTP on / with 426', async () => {
      const f = await fx.start();
      const bad = await rawHttp(
        f.bridge.port,
        `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
      );
      expect(bad).toMatch(/^HTTP\/1\.1 400 /);
      expect(f.bridge.metrics().denials.bad_request).toBe(1);
      expect(f.bridge.metrics().connectionsCurrent).toBe(0);
      expect((await httpGet(f.bridge.port, '/')).status).toBe(426);
      expect((await httpGet(f.bridge.port, '/nope')).status).toBe(404);
    });
  });

  describe('connection limits', () => {
    it('refuses connections over the per-token limit with 429, other tokens unaffected', async () => {
      const f = await fx.start({ bridge: { limits: { maxConnectionsPerToken: 2 } } });
      await f.client({ token: TOKEN });
      const second = await f.client({ token: TOKEN });
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(429);
      expect(await handshakeStatus(f.url, { token: VIEWER_TOKEN })).toBe(101);
      // A slot frees up when a connection leaves.
      await second.close();
      await vi.waitFor(() => expect(f.bridge.metrics().connectionsCurrent).toBe(1));
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(101);
    });

    it('refuses connections over the total limit with 503', async () => {
      const f = await fx.start({ bridge: { limits: { maxConnections: 2 } } });
      const a = await f.module('hmi_a');
      await f.client({ token: VIEWER_TOKEN });
      expect(await handshakeStatus(f.url, { token: TOKEN })).toBe(503);
      expect(f.bridge.metrics().denials.connection_limit).toBe(1);
      await stillWorks(a);
    });
  });

  describe('http endpoints', () => {
    it('serves /healthz as JSON and /metrics as Prometheus text', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_m');
      await stillWorks(c);
      expect(await handshakeStatus(f.url, {})).toBe(401);
      const health = await httpGet(f.bridge.port, '/healthz');
      expect(health.status).toBe(200);
      expect(health.type).toMatch(/application\/json/);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', connections: 1 });
      const metrics = await httpGet(f.bridge.port, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.type).toMatch(/text\/plain/);
      expect(metrics.body).toMatch(/^autocore_bridge_connections_current 1$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_connections_total 1$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_messages_in_total 2$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_messages_out_total 2$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_bytes_in_total [1-9]\d*$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_bytes_out_total [1-9]\d*$/m);
      expect(metrics.body).toMatch(/^autocore_bridge_denials_total\{reason="missing_token"\} 1$/m);
      await c.close();
      await vi.waitFor(async () =>
        expect((await httpGet(f.bridge.port, '/metrics')).body).toMatch(
          /^autocore_bridge_closes_total\{code="1000"\} 1$/m,
        ),
      );
    });
  });

  it('never logs the token or message content', async () => {
    const canary = 'canary-7f3a9c1e-5b2d-4e8f-token';
    const upstream = await startFakeUpstream();
    fx.defer(() => upstream.close());
    const logs: BridgeLogEntry[] = [];
    const opts = testBridgeOptions(upstream.address);
    const bridge = await createBridge({
      ...opts,
      tokens: [
        ...(opts.tokens ?? []),
        { id: 'canary', token: canary, names: ['*'], request: ['>'], subscribe: ['>'] },
      ],
      log: (e) => logs.push(e),
    });
    fx.defer(() => bridge.close());

    const viaHeader = await openClient(bridge.url, { token: canary, origin: ORIGIN });
    fx.defer(() => viaHeader.close());
    expect((await viaHeader.register('hmi_canary')).success).toBe(true);
    const echoed = await viaHeader.call(REQUEST, 'press1.x', { secret: canary });
    expect(echoed.success).toBe(true);
    await viaHeader.call(REQUEST, 'press1..bad', { secret: canary });
    viaHeader.sendText({ transaction_id: 7, topic: 12, message_type: 1, data: canary });
    await viaHeader.next((m) => m.transaction_id === 7);
    const viaProtocol = await openClient(bridge.url, {
      protocols: [SUBPROTOCOL, `bearer.${canary}`],
    });
    fx.defer(() => viaProtocol.close());
    const viaCookie = await openClient(bridge.url, {
      headers: { Cookie: `autocore_token=${canary}` },
    });
    fx.defer(() => viaCookie.close());
    expect(await handshakeStatus(bridge.url, { token: `${canary}x` })).toBe(401);
    expect(
      await handshakeStatus(bridge.url, { protocols: [SUBPROTOCOL, `bearer.${canary}x`] }),
    ).toBe(401);
    expect(await handshakeStatus(bridge.url, { token: canary, path: `/?token=${canary}` })).toBe(
      401,
    );
    expect(
      await handshakeStatus(bridge.url, { token: canary, origin: `http://${canary}.example` }),
    ).toBe(403);
    viaProtocol.sendText(`{"garbage ${canary}`);
    await viaProtocol.closed;
    await viaHeader.close();
    await viaCookie.close();
    await vi.waitFor(() => expect(logs.filter((l) => l.event === 'close')).toHaveLength(3));

    const text = logs.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain(canary);
    expect(text).not.toContain('canary-7f3a');
    expect(
      logs.some((l) => l.event === 'connect' && l.tokenId === 'canary' && l.auth === 'subprotocol'),
    ).toBe(true);
    expect(logs.some((l) => l.event === 'deny' && l.reason === 'bad_token')).toBe(true);
    expect(logs.some((l) => l.event === 'close' && l.code === 1007)).toBe(true);
    for (const l of logs) {
      expect(typeof l.time).toBe('string');
      expect(['info', 'warn', 'error']).toContain(l.level);
    }
  });

  describe('default logger', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('writes one JSON line per event to stderr, without the token', async () => {
      const lines: string[] = [];
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
      });
      const upstream = await startFakeUpstream();
      fx.defer(() => upstream.close());
      const bridge = await createBridge(testBridgeOptions(upstream.address));
      expect(await handshakeStatus(bridge.url, { token: TOKEN })).toBe(101);
      expect(await handshakeStatus(bridge.url, { token: `${TOKEN}zz` })).toBe(401);
      await vi.waitFor(() => expect(lines.some((l) => l.includes('"close"'))).toBe(true));
      await bridge.close();
      for (const line of lines) {
        expect(line.endsWith('\n')).toBe(true);
        expect(() => JSON.parse(line) as unknown).not.toThrow();
        expect(line).not.toContain(TOKEN);
      }
      expect(lines.map((l) => (JSON.parse(l) as BridgeLogEntry).event)).toEqual(
        expect.arrayContaining(['listen', 'connect', 'deny', 'close', 'stop']),
      );
    });
  });

  describe('binding', () => {
    it('refuses a non-loopback host without tokens unless insecure', async () => {
      await expect(createBridge({ host: '0.0.0.0', port: 0, log: () => {} })).rejects.toMatchObject(
        {
          code: 'ERR_INVALID_ARGUMENT',
          message: expect.stringMatching(/non-loopback host 0\.0\.0\.0 without tokens.*insecure/),
        },
      );
      const insecure = await createBridge({
        host: '0.0.0.0',
        port: 0,
        insecure: true,
        log: () => {},
      });
      await insecure.close();
      const withTokens = await createBridge({
        host: '0.0.0.0',
        port: 0,
        tokens: [{ token: TOKEN }],
        log: () => {},
      });
      await withTokens.close();
    });

    it('runs without authentication on loopback when no tokens are configured', async () => {
      const upstream = await startFakeUpstream();
      fx.defer(() => upstream.close());
      const bridge = await createBridge({ port: 0, upstream: upstream.address, log: () => {} });
      fx.defer(() => bridge.close());
      expect(bridge.host).toBe('127.0.0.1');
      expect(bridge.url).toBe(`ws://127.0.0.1:${bridge.port}`);
      const c = await openClient(bridge.url);
      fx.defer(() => c.close());
      expect((await c.register('anything')).success).toBe(true);
      await stillWorks(c);
      // Browser origins are still checked.
      expect(await handshakeStatus(bridge.url, { origin: 'http://evil.example' })).toBe(403);
    });
  });
});
