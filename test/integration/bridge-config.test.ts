import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTopicPattern } from 'autocore-ipc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_BRIDGE_LIMITS,
  createBridge,
  loadBridgeConfig,
  parseBridgeConfig,
} from '../../bridge/index.ts';
import { compilePermissions, patternCovers, patternsOverlap } from '../../bridge/permissions.ts';

const TOKEN = 'config-token-0123456789';

function lists(
  p: Partial<Parameters<typeof compilePermissions>[0]>,
): Parameters<typeof compilePermissions>[0] {
  return {
    names: [],
    request: [],
    subscribe: [],
    broadcast: [],
    denyRequest: [],
    denySubscribe: [],
    denyBroadcast: [],
    ...p,
  };
}

describe('bridge config', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a snake_case config file into options', async () => {
    const path = join(dir, 'ok.json');
    await writeFile(
      path,
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        upstream: '127.0.0.1:9100',
        origins: ['http://localhost:5173'],
        tokens: [
          {
            id: 'hmi',
            token: TOKEN,
            names: ['hmi_*'],
            request: ['press1.>'],
            deny_request: ['press1.config.>'],
            max_connections: 3,
          },
        ],
        limits: { max_connections: 10, ping_interval_ms: 0, rate_refill_per_second: 50 },
      }),
    );
    const options = await loadBridgeConfig(path);
    expect(options.tokens?.[0]).toMatchObject({
      id: 'hmi',
      denyRequest: ['press1.config.>'],
      maxConnections: 3,
    });
    expect(options.limits).toEqual({
      maxConnections: 10,
      pingIntervalMs: 0,
      rateRefillPerSecond: 50,
    });
    const bridge = await createBridge({ ...options, log: () => {} });
    await bridge.close();
  });

  it.each([
    [
      { tokens: [{ token: TOKEN, deny_requests: [] }] },
      /tokens\[0\]\.deny_requests: unknown field/,
    ],
    [
      { tokens: [{ token: TOKEN, subscribe: ['press1.>', 'a.>.b'] }] },
      /tokens\[0\]\.subscribe\[1\]: Invalid topic pattern/,
    ],
    [{ tokens: [{ token: TOKEN, deny_subscribe: ['a*'] }] }, /tokens\[0\]\.deny_subscribe\[0\]/],
    [
      { tokens: [{ token: TOKEN, names: ['hmi.*'] }] },
      /tokens\[0\]\.names\[0\]: "hmi\.\*" is not a name glob/,
    ],
    [{ tokens: [{ token: 'short' }] }, /tokens\[0\]\.token: must be at least 16 characters/],
    [{ tokens: [{ token: 'has space in it 0123456789' }] }, /tokens\[0\]\.token: may only hold/],
    [
      { tokens: [{ token: TOKEN }, { token: TOKEN }] },
      /tokens\[1\]\.token: is the same as an earlier token/,
    ],
    [
      { tokens: [{ token: TOKEN, max_connections: 0 }] },
      /tokens\[0\]\.max_connections: must be a positive integer/,
    ],
    [
      { origins: ['http://localhost:5173/app'] },
      /origins\[0\]: "http:\/\/localhost:5173\/app" is not an origin/,
    ],
    [{ origins: ['*'] }, /origins\[0\]/],
    [{ limits: { max_conections: 5 } }, /limits\.max_conections: unknown field/],
    [{ limits: { max_connections: -1 } }, /limits\.max_connections: must be a positive integer/],
    [
      { limits: { max_buffered_bytes: 10, close_buffered_bytes: 5 } },
      /limits\.close_buffered_bytes/,
    ],
    [{ port: 70000 }, /port: must be an integer 0-65535/],
    [{ upstream: 'nowhere' }, /upstream: Invalid address/],
    [{ verbose: true }, /verbose: unknown field/],
    [{ host: '0.0.0.0' }, /non-loopback host 0\.0\.0\.0 without tokens/],
  ])('names the bad field: %j', (json, message) => {
    expect(() => parseBridgeConfig(json)).toThrow(message);
    try {
      parseBridgeConfig(json);
    } catch (e) {
      expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      // The token itself never appears in an error.
      expect((e as Error).message).not.toContain(TOKEN);
    }
  });

  it('reports an unreadable or invalid file with its path', async () => {
    await expect(loadBridgeConfig(join(dir, 'missing.json'))).rejects.toThrow(
      /Cannot read bridge config .*missing\.json/,
    );
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ "tokens": [');
    await expect(loadBridgeConfig(bad)).rejects.toThrow(/bad\.json is not valid JSON/);
    const wrong = join(dir, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ tokens: [{ token: TOKEN, request: ['a..b'] }] }));
    await expect(loadBridgeConfig(wrong)).rejects.toThrow(
      /wrong\.json: Invalid bridge config tokens\[0\]\.request\[0\]/,
    );
  });

  it('rejects unknown createBridge options by their camelCase name', async () => {
    await expect(
      createBridge({ port: 0, limits: { maxConection: 1 } as never, log: () => {} }),
    ).rejects.toThrow(/limits\.maxConection: unknown option/);
  });

  it('documents every limit default', () => {
    expect(DEFAULT_BRIDGE_LIMITS).toMatchObject({
      maxMessageBytes: 256 * 1024,
      rateCapacity: 1000,
      rateRefillPerSecond: 200,
      rateExcessCloseMs: 2000,
      maxBufferedBytes: 1024 * 1024,
      pingIntervalMs: 30_000,
    });
  });
});

describe('bridge permissions', () => {
  it('matches name globs over name characters only', () => {
    const p = compilePermissions(lists({ names: ['hmi_*', 'exact', '*_panel'] }));
    expect(p.mayRegister('hmi_1')).toBe(true);
    expect(p.mayRegister('hmi_')).toBe(true);
    expect(p.mayRegister('hmi_a-b_C')).toBe(true);
    expect(p.mayRegister('exact')).toBe(true);
    expect(p.mayRegister('exactly')).toBe(false);
    expect(p.mayRegister('left_panel')).toBe(true);
    expect(p.mayRegister('xhmi_1')).toBe(false);
    expect(p.mayRegister('hmi.1')).toBe(false);
    expect(compilePermissions(lists({})).mayRegister('anything')).toBe(false);
  });

  it('lets deny lists win for concrete topics', () => {
    const p = compilePermissions(
      lists({
        request: ['press1.>'],
        denyRequest: ['press1.config.*'],
        broadcast: ['hmi.*'],
        denyBroadcast: ['hmi.private'],
      }),
    );
    expect(p.mayRequest('press1.speed')).toBe(true);
    expect(p.mayRequest('press1.config.speed')).toBe(false);
    expect(p.mayRequest('press1.config.speed.x')).toBe(true);
    expect(p.mayRequest('press1')).toBe(false);
    expect(p.mayRequest('press1..x')).toBe(false);
    expect(p.mayRequest('')).toBe(false);
    expect(p.mayBroadcast('hmi.public')).toBe(true);
    expect(p.mayBroadcast('hmi.private')).toBe(false);
  });

  it('allows a Subscribe pattern only when an allowed pattern covers it and no denied one overlaps it', () => {
    const p = compilePermissions(
      lists({ subscribe: ['press1.>', 'plc.*.status'], denySubscribe: ['press1.secret.>'] }),
    );
    expect(p.maySubscribe('press1.axis.*')).toBe(true);
    expect(p.maySubscribe('press1.axis.>')).toBe(true);
    expect(p.maySubscribe('press1.axis.{n}')).toBe(true);
    // press1.{n}.pos would also deliver press1.secret.pos.
    expect(p.maySubscribe('press1.{n}.pos')).toBe(false);
    expect(p.maySubscribe('press1.>')).toBe(false);
    expect(p.maySubscribe('press1.*.x')).toBe(false);
    expect(p.maySubscribe('press1.secret')).toBe(true);
    expect(p.maySubscribe('plc.a.status')).toBe(true);
    expect(p.maySubscribe('plc.*.status')).toBe(true);
    expect(p.maySubscribe('plc.>')).toBe(false);
    expect(p.maySubscribe('>')).toBe(false);
    expect(p.maySubscribe('press1.a*')).toBe(false);
  });

  it('compares patterns by the topics they match', () => {
    const P = parseTopicPattern;
    expect(patternCovers(P('a.>'), P('a.b.>'))).toBe(true);
    expect(patternCovers(P('a.>'), P('a.>'))).toBe(true);
    expect(patternCovers(P('a.b.>'), P('a.>'))).toBe(false);
    expect(patternCovers(P('a.*'), P('a.{x}'))).toBe(true);
    expect(patternCovers(P('a.b'), P('a.*'))).toBe(false);
    expect(patternCovers(P('a.*'), P('a.>'))).toBe(false);
    expect(patternCovers(P('>'), P('a'))).toBe(true);
    expect(patternsOverlap(P('a.*.c'), P('a.b.*'))).toBe(true);
    expect(patternsOverlap(P('a.b'), P('a.c'))).toBe(false);
    expect(patternsOverlap(P('a.>'), P('a'))).toBe(false);
    expect(patternsOverlap(P('a.b.>'), P('a.*'))).toBe(false);
    expect(patternsOverlap(P('a.b.>'), P('a.>'))).toBe(true);
    expect(patternsOverlap(P('a.*.c.d'), P('>'))).toBe(true);
  });
});
