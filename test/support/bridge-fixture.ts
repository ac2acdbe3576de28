/**
 * Self-disposing bridge fixtures: a fake upstream, a bridge in front of it (port 0), the
 * bridge's log entries, and test clients that are all closed after each test.
 */
import { afterEach } from 'vitest';
import {
  createBridge,
  type Bridge,
  type BridgeLogEntry,
  type BridgeOptions,
} from '../../bridge/index.ts';
import { openClient, type ClientOptions, type TestClient } from './bridge-client.ts';
import {
  startFakeUpstream,
  type FakeUpstream,
  type FakeUpstreamOptions,
} from './bridge-upstream.ts';

/** Token of the main test identity (names `hmi_*`). */
export const TOKEN = 'hmi-token-0123456789abcdef';
/** A second token with narrow permissions. */
export const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
/** The origin the test bridge allows. */
export const ORIGIN = 'http://localhost:5173';

/** Default test bridge options: two tokens, one allowed origin, fast pings off. */
export function testBridgeOptions(
  upstream: string,
  extra: Partial<BridgeOptions> = {},
): BridgeOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    upstream,
    origins: [ORIGIN],
    tokens: [
      {
        id: 'hmi',
        token: TOKEN,
        names: ['hmi_*'],
        request: ['press1.>', 'system.ping'],
        subscribe: ['press1.>'],
        broadcast: ['hmi_a.>', 'hmi_b.>'],
        denyRequest: ['press1.config.>'],
        denySubscribe: ['press1.secret.>'],
        denyBroadcast: ['hmi_a.private'],
      },
      { id: 'viewer', token: VIEWER_TOKEN, names: ['viewer_*'], subscribe: ['press1.status'] },
    ],
    ...extra,
  };
}

/** A running bridge + fake upstream. */
export interface BridgeFixture {
  readonly bridge: Bridge;
  readonly upstream: FakeUpstream;
  readonly logs: BridgeLogEntry[];
  readonly url: string;
  /** Opens a test client (with the main token unless `token`/`headers` say otherwise); closed after the test. */
  client(options?: ClientOptions): Promise<TestClient>;
  /** Opens a client and registers `name`. */
  module(name: string, mode?: 'text' | 'binary', options?: ClientOptions): Promise<TestClient>;
}

/** Registers an afterEach that disposes everything started through the returned `start`. */
export function useBridgeFixtures(): {
  start(options?: {
    bridge?: Partial<BridgeOptions>;
    upstream?: FakeUpstreamOptions;
  }): Promise<BridgeFixture>;
  /** Registers extra clean-up for the current test. */
  defer(fn: () => Promise<void> | void): void;
} {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  const defer = (fn: () => Promise<void> | void): void => {
    cleanups.push(fn);
  };
  const start = async (
    options: { bridge?: Partial<BridgeOptions>; upstream?: FakeUpstreamOptions } = {},
  ): Promise<BridgeFixture> => {
    const upstream = await startFakeUpstream(options.upstream);
    defer(() => upstream.close());
    const logs: BridgeLogEntry[] = [];
    const bridge = await createBridge({
      ...testBridgeOptions(upstream.address, options.bridge),
      log: (e) => logs.push(e),
    });
    defer(() => bridge.close());
    const client = async (o: ClientOptions = {}): Promise<TestClient> => {
      const c = await openClient(
        bridge.url,
        o.token === undefined && o.headers === undefined && o.protocols === undefined
          ? { ...o, token: TOKEN }
          : o,
      );
      defer(() => c.close());
      return c;
    };
    return {
      bridge,
      upstream,
      logs,
      url: bridge.url,
      client,
      module: async (name, mode = 'text', o = {}) => {
        const c = await client(o);
        const ack = await c.register(name, mode);
        if (ack.success !== true)
          throw new Error(`registration of ${name} failed: ${ack.error_message}`);
        return c;
      },
    };
  };
  return { start, defer };
}
