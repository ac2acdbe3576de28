/**
 * The load of the soak (soak.test.ts), run in a process of its own by {@link startSoakLoad}
 * (soak-load.ts): Node modules over TCP and WebSocket clients through the bridge (`ws` injected,
 * text and binary form mixed), all of them IpcClients, exchanging mixed traffic at a steady rate
 * for a given time, then reporting what happened to every request and broadcast.
 *
 *   node --conditions=source --import tsx soak-load-main.ts '<json SoakLoadConfig>'   (forked)
 *
 * Messages to the parent (IPC): `{ type: 'ready' }` once every client is connected and the
 * counted subscriptions are active, `{ type: 'report', report }` when the traffic has stopped
 * and settled, `{ type: 'closed' }` after every client closed.
 *
 * What is checked here is exact, not statistical: every request must settle, with the answer it
 * asked for; it may fail only when the load caused that on purpose (a topic that throws, a
 * domain nobody serves, an unknown `system.*` call) or when it involves a client that the load
 * itself disconnected. Broadcasts from clients that stay connected must reach every client that
 * stays connected and subscribed to a matching pattern, once, in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import {
  BaseModuleHandler,
  IpcClient,
  IpcError,
  MessageType,
  tcpConnector,
  topicMatches,
  webSocketConnector,
  type CommandMessage,
  type Connector,
  type IpcErrorCode,
  type Subscription,
  type WebSocketConstructor,
} from '../../../src/node.ts';

/** What {@link startSoakLoad} asks of the load process. */
export interface SoakLoadConfig {
  /** The server, `host:port`, for the Node modules. */
  server: string;
  /** The bridge, `ws://host:port`, for the WebSocket clients. */
  bridgeUrl: string;
  /** Traffic time, after every client connected. */
  durationMs: number;
  /** Node modules over TCP (`node0`, ...). */
  nodes: number;
  /** WebSocket clients through the bridge (`hmi00`, ...); even ones text, odd ones binary. */
  browsers: number;
  /** How many of the Node modules (the last ones) disconnect and come back now and then. */
  flappingNodes: number;
  /** How many of the WebSocket clients (the last ones) disconnect and come back now and then. */
  flappingBrowsers: number;
  /** Requests (request/read/write/subscribe, system calls included) started per second. */
  requestsPerSecond: number;
  /** Counted broadcasts per second. */
  broadcastsPerSecond: number;
  /** Seed of the traffic's random choices (printed by the test, to replay a run's mix). */
  seed: number;
}

/** Outcomes of one kind of request. */
export interface RequestTally {
  sent: number;
  /** Resolved with the expected answer. */
  ok: number;
  /** Resolved, but with another answer than asked for. */
  wrong: number;
  /** Rejected as the load intended (deliberate failures). */
  deliberate: number;
  /** Rejected because the load disconnected one of the two ends on purpose. */
  disconnected: number;
  /** Rejected for any other reason, or resolved where a rejection was intended. */
  unexpected: number;
}

/** Everything the load process saw; sent to the parent once the traffic has settled. */
export interface SoakLoadReport {
  seed: number;
  /** Traffic time in ms (from the first tick to the stop). */
  trafficMs: number;
  requests: Record<string, RequestTally>;
  /** Requests that had not settled 15 s after the traffic stopped (timeouts are 10 s). */
  unanswered: number;
  /** Up to 20 unexpected outcomes, `kind topic: code message`. */
  unexpectedSamples: string[];
  broadcasts: {
    sent: number;
    /** Deliveries the counted subscriptions must get. */
    expected: number;
    /** Deliveries they got. */
    received: number;
    /** Deliveries out of order or repeated (per sender and subscriber). */
    outOfOrder: number;
    /** Deliveries to subscriptions opened and closed during the run (not counted exactly). */
    churnDeliveries: number;
    /** Deliveries to clients that disconnect on purpose (not counted exactly). */
    flappingDeliveries: number;
  };
  churn: { subscribed: number; unsubscribed: number };
  flapping: {
    /** Clean leaves (close, then a new client with the same name). */
    leaves: number;
    /** Abrupt drops of the link (the client reconnects by itself). */
    drops: number;
    /** Times a client came back (registered again) after a leave or a drop. */
    returns: number;
    /** Longest time from a drop to the client's own reconnection, ms. */
    maxReturnMs: number;
  };
  /** Clients that were not connected at the end (every one should be). */
  notConnectedAtEnd: string[];
  /** Requests still counted in flight by a client after the traffic settled. */
  clientInflightAtEnd: number;
  /** `error` events of the clients, `name code: message` (up to 20) and how many in all. */
  clientErrors: { count: number; samples: string[] };
  /** Uncaught exceptions and unhandled rejections of this process. */
  uncaught: string[];
}

type Kind = 'node' | 'browser';

interface Actor {
  readonly name: string;
  readonly kind: Kind;
  readonly flapping: boolean;
  readonly handler: BaseModuleHandler;
  client: IpcClient | undefined;
  /** Set while a clean leave waits for the actor's own requests to settle. */
  leaving: boolean;
  /** Ends the current link abruptly (set by the connector for each new link). */
  drop: (() => void) | undefined;
  /** The counted subscription's pattern (stable actors only). */
  pattern: string | undefined;
}

const config = JSON.parse(process.argv[2] ?? '{}') as SoakLoadConfig;

const uncaught: string[] = [];
// Counted and reported to the parent (which fails the soak on any), and written to stderr.
for (const origin of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(origin, (error: unknown) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    uncaught.push(`${origin}: ${text}`);
    process.stderr.write(`[soak load] ${origin}: ${text}\n`);
  });
}

// A small seeded generator (mulberry32), so a run's choice of operations can be replayed.
let rngState = config.seed >>> 0;
function random(): number {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T | undefined =>
  items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
const between = (lo: number, hi: number): number => lo + random() * (hi - lo);

const REQUEST_TIMEOUT_MS = 10_000;
const METRICS = ['temp', 'speed', 'state'] as const;

// ---------------------------------------------------------------------------------------------
// Tallies
// ---------------------------------------------------------------------------------------------

const tallies: Record<string, RequestTally> = {};
const unexpectedSamples: string[] = [];
let outstanding = 0;
const clientErrors = { count: 0, samples: [] as string[] };

function tally(kind: string): RequestTally {
  return (tallies[kind] ??= {
    sent: 0,
    ok: 0,
    wrong: 0,
    deliberate: 0,
    disconnected: 0,
    unexpected: 0,
  });
}

function noteUnexpected(kind: string, topic: string, what: string): void {
  tally(kind).unexpected++;
  if (unexpectedSamples.length < 20) unexpectedSamples.push(`${kind} ${topic}: ${what}`);
}

/** A failure the load causes on purpose: the code, and a pattern its message must match. */
interface Deliberate {
  code: IpcErrorCode;
  message: RegExp;
}

/**
 * Starts one call and files its outcome. `check` judges a resolved answer; `deliberate` says the
 * call must fail that way instead. Failures caused by a client the load disconnects on purpose
 * (at either end) are filed apart; anything else is unexpected.
 */
function track(
  kind: string,
  topic: string,
  origin: Actor,
  target: Actor | undefined,
  call: () => Promise<CommandMessage | Subscription>,
  check: (answer: CommandMessage | Subscription) => boolean,
  deliberate?: Deliberate,
): Promise<CommandMessage | Subscription | undefined> {
  const t = tally(kind);
  t.sent++;
  outstanding++;
  let started: Promise<CommandMessage | Subscription>;
  try {
    started = call();
  } catch (e) {
    started = Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  return started.then(
    (answer) => {
      outstanding--;
      if (deliberate) {
        noteUnexpected(kind, topic, `resolved, expected ${deliberate.code}`);
      } else if (check(answer)) {
        t.ok++;
        return answer;
      } else {
        t.wrong++;
        if (unexpectedSamples.length < 20) unexpectedSamples.push(`${kind} ${topic}: wrong answer`);
      }
      return undefined;
    },
    (e: unknown) => {
      outstanding--;
      const code = e instanceof IpcError ? e.code : 'not an IpcError';
      const message = e instanceof Error ? e.message : String(e);
      if (deliberate && code === deliberate.code && deliberate.message.test(message))
        t.deliberate++;
      else if (origin.flapping && (code === 'ERR_CONNECTION' || code === 'ERR_SHUTDOWN'))
        t.disconnected++;
      else if (
        target?.flapping === true &&
        (code === 'ERR_MODULE_NOT_FOUND' ||
          (code === 'ERR_REMOTE' && /Module disconnected/.test(message)))
      )
        t.disconnected++;
      else noteUnexpected(kind, topic, `${code} ${message}`);
      return undefined;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------

function makeHandler(name: string): BaseModuleHandler {
  let value: unknown = null;
  return new BaseModuleHandler(name)
    .route(`${name}.echo`, ({ message }) => message.data)
    .route(`${name}.value`, ({ message }) => {
      if (message.messageType === MessageType.Write) value = message.data;
      return value;
    })
    .route(`${name}.fail`, () => {
      throw new Error('deliberate failure');
    });
}

const actors: Actor[] = [];
for (let i = 0; i < config.nodes; i++) {
  const name = `node${i}`;
  const flapping = i >= config.nodes - config.flappingNodes;
  actors.push({
    name,
    kind: 'node',
    flapping,
    handler: makeHandler(name),
    client: undefined,
    leaving: false,
    drop: undefined,
    pattern: undefined,
  });
}
for (let i = 0; i < config.browsers; i++) {
  const name = `hmi${String(i).padStart(2, '0')}`;
  const flapping = i >= config.browsers - config.flappingBrowsers;
  actors.push({
    name,
    kind: 'browser',
    flapping,
    handler: makeHandler(name),
    client: undefined,
    leaving: false,
    drop: undefined,
    pattern: undefined,
  });
}
const stable = actors.filter((a) => !a.flapping);
const stableNodes = stable.filter((a) => a.kind === 'node');

/** A `ws` WebSocket that hands each new socket to `onSocket` (so the load can kill it). */
function trackedWebSocket(onSocket: (ws: WebSocket) => void): WebSocketConstructor {
  class Tracked extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      onSocket(this);
    }
  }
  return Tracked as unknown as WebSocketConstructor;
}

function connectorOf(actor: Actor, index: number): Connector {
  if (actor.kind === 'node') {
    const tcp = tcpConnector(config.server);
    return async (options) => {
      const transport = await tcp(options);
      actor.drop = () => transport.close(new IpcError('ERR_IO', 'link dropped on purpose'));
      return transport;
    };
  }
  return webSocketConnector(config.bridgeUrl, {
    // A killed browser tab: the TCP connection goes without a WebSocket close handshake.
    WebSocket: trackedWebSocket((ws) => (actor.drop = () => ws.terminate())),
    mode: index % 2 === 0 ? 'text' : 'binary',
  });
}

const broadcastState = {
  sent: 0,
  expected: 0,
  received: 0,
  outOfOrder: 0,
  churnDeliveries: 0,
  flappingDeliveries: 0,
};
/** Last sequence number seen per `subscriber|sender`. */
const lastSeq = new Map<string, number>();
/** Sequence number of each sender's last broadcast. */
const sentSeq = new Map<string, number>();

function onCountedDelivery(subscriber: Actor, msg: CommandMessage): void {
  broadcastState.received++;
  const data = msg.data as { from?: unknown; seq?: unknown } | null;
  const key = `${subscriber.name}|${String(data?.from)}`;
  const seq = typeof data?.seq === 'number' ? data.seq : -1;
  if (seq <= (lastSeq.get(key) ?? 0)) broadcastState.outOfOrder++;
  lastSeq.set(key, seq);
}

/** The counted pattern of the i-th stable actor: a mix of `>` and `*` wildcards. */
function countedPattern(i: number): string {
  switch (i % 4) {
    case 0:
      return 'telemetry.>';
    case 1:
      return 'telemetry.*.temp';
    case 2:
      return `telemetry.${stableNodes[i % stableNodes.length]?.name ?? 'node0'}.*`;
    default:
      return 'telemetry.*.state';
  }
}

const flapping = { leaves: 0, drops: 0, returns: 0, maxReturnMs: 0 };
const dropTimes = new Map<string, number>();

async function connect(actor: Actor, index: number): Promise<void> {
  const client = await IpcClient.connect(connectorOf(actor, index), actor.handler, {
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    connectTimeoutMs: 30_000,
    listeners: {
      error: ({ error }) => {
        clientErrors.count++;
        if (clientErrors.samples.length < 20)
          clientErrors.samples.push(`${actor.name} ${error.code}: ${error.message}`);
      },
      connected: () => {
        const droppedAt = dropTimes.get(actor.name);
        if (droppedAt === undefined) return;
        dropTimes.delete(actor.name);
        flapping.returns++;
        flapping.maxReturnMs = Math.max(flapping.maxReturnMs, Date.now() - droppedAt);
      },
    },
  });
  actor.client = client;
  if (actor.flapping) {
    await client.subscribe('telemetry.>', () => void broadcastState.flappingDeliveries++);
  } else if (actor.pattern !== undefined) {
    await client.subscribe(actor.pattern, (msg) => onCountedDelivery(actor, msg));
  }
}

const ready = (a: Actor): a is Actor & { client: IpcClient } =>
  a.client !== undefined && a.client.isConnected && !a.leaving;

// ---------------------------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------------------------

let seq = 0;
const churnSubs = new Set<Subscription>();
const churn = { subscribed: 0, unsubscribed: 0 };

function echo(kind: string, from: Kind, to: Kind): void {
  const origin = pick(actors.filter((a) => a.kind === from && ready(a)));
  const target = pick(actors.filter((a) => a.kind === to && a !== origin));
  if (!origin?.client || !target) return;
  const client = origin.client;
  const data = { seq: ++seq, from: origin.name, text: 'x'.repeat(Math.floor(between(0, 200))) };
  const topic = `${target.name}.echo`;
  void track(
    kind,
    topic,
    origin,
    target,
    () => client.request(topic, data),
    (m) => JSON.stringify((m as CommandMessage).data) === JSON.stringify(data),
  );
}

function writeThenRead(): void {
  const origin = pick(actors.filter(ready));
  const target = pick(actors.filter((a) => a !== origin));
  if (!origin?.client || !target) return;
  const client = origin.client;
  const value = { seq: ++seq, by: origin.name };
  const topic = `${target.name}.value`;
  void track(
    'write',
    topic,
    origin,
    target,
    () => client.write(topic, value),
    (m) => JSON.stringify((m as CommandMessage).data) === JSON.stringify(value),
  ).then((written) => {
    // Another writer may have come in between: a read only has to answer with some value.
    if (written && ready(origin))
      void track(
        'read',
        topic,
        origin,
        target,
        () => client.read(topic),
        (m) => (m as CommandMessage).success,
      );
  });
}

function systemCall(): void {
  const origin = pick(actors.filter(ready));
  if (!origin?.client) return;
  const client = origin.client;
  const which = Math.floor(random() * 3);
  if (which === 0) {
    void track(
      'system.ping',
      'system.ping',
      origin,
      undefined,
      () => client.request('system.ping'),
      (m) => (m as CommandMessage).data === 'pong',
    );
  } else if (which === 1) {
    void track(
      'system.get_domains',
      'system.get_domains',
      origin,
      undefined,
      () => client.request('system.get_domains'),
      (m) => {
        const domains = (m as CommandMessage).data;
        return (
          Array.isArray(domains) && domains.some((d: { name?: unknown }) => d.name === origin.name)
        );
      },
    );
  } else {
    void track(
      'system.get_catalog',
      'system.get_catalog',
      origin,
      undefined,
      () => client.request('system.get_catalog'),
      (m) => {
        const catalog = (m as CommandMessage).data;
        return (
          Array.isArray(catalog) &&
          catalog.includes('system.ping') &&
          catalog.includes(`${origin.name}.echo`)
        );
      },
    );
  }
}

function deliberateFailure(): void {
  const origin = pick(actors.filter(ready));
  if (!origin?.client) return;
  const client = origin.client;
  const which = Math.floor(random() * 3);
  const never = (): boolean => false;
  if (which === 0) {
    // A stable target, so the only possible failure is the handler's own.
    const target = pick(stable.filter((a) => a !== origin));
    if (!target) return;
    const topic = `${target.name}.fail`;
    void track('deliberate', topic, origin, target, () => client.request(topic), never, {
      code: 'ERR_REMOTE',
      message: /deliberate failure/,
    });
  } else if (which === 1) {
    const topic = `ghost${Math.floor(random() * 100)}.echo`;
    void track('deliberate', topic, origin, undefined, () => client.request(topic), never, {
      code: 'ERR_MODULE_NOT_FOUND',
      message: /ghost/,
    });
  } else {
    void track(
      'deliberate',
      'system.no_such_call',
      origin,
      undefined,
      () => client.request('system.no_such_call'),
      never,
      {
        code: 'ERR_REMOTE',
        message: /Not implemented/,
      },
    );
  }
}

function subscriptionChurn(): void {
  const origin = pick(actors.filter(ready));
  if (!origin?.client) return;
  const client = origin.client;
  const sender = pick(actors)?.name ?? 'node0';
  const pattern =
    pick([
      `telemetry.${sender}.*`,
      'telemetry.*.speed',
      `churn.${origin.name}.>`,
      'telemetry.>',
      `telemetry.*.${pick(METRICS) ?? 'temp'}`,
    ]) ?? 'telemetry.>';
  void track(
    'subscribe',
    pattern,
    origin,
    undefined,
    () => client.subscribe(pattern, () => void broadcastState.churnDeliveries++),
    () => true,
  ).then((sub) => {
    if (!sub) return;
    const subscription = sub as Subscription;
    churn.subscribed++;
    churnSubs.add(subscription);
    setTimeout(
      () => {
        // Unsubscribe never rejects; a refusal would show as a client `error` event.
        void subscription.unsubscribe().then(() => {
          churn.unsubscribed++;
          churnSubs.delete(subscription);
        });
      },
      between(300, 3000),
    );
  });
}

function broadcastOne(): void {
  const sender = pick(stable.filter(ready));
  if (!sender?.client) return;
  const metric = pick(METRICS) ?? 'temp';
  const topic = `telemetry.${sender.name}.${metric}`;
  const n = (sentSeq.get(sender.name) ?? 0) + 1;
  try {
    sender.client.broadcast(topic, {
      from: sender.name,
      seq: n,
      value: Math.round(random() * 1000),
    });
  } catch (e) {
    noteUnexpected('broadcast', topic, e instanceof Error ? e.message : String(e));
    return;
  }
  sentSeq.set(sender.name, n);
  broadcastState.sent++;
  for (const sub of stable) {
    if (sub !== sender && sub.pattern !== undefined && topicMatches(sub.pattern, topic))
      broadcastState.expected++;
  }
}

/** Operations and their weights, per request started. */
const OPERATIONS: [number, () => void][] = [
  [15, () => echo('node->node', 'node', 'node')],
  [15, () => echo('browser->node', 'browser', 'node')],
  [15, () => echo('node->browser', 'node', 'browser')],
  [5, () => echo('browser->browser', 'browser', 'browser')],
  [10, writeThenRead],
  [8, systemCall],
  [4, deliberateFailure],
  [8, subscriptionChurn],
];
const TOTAL_WEIGHT = OPERATIONS.reduce((s, [w]) => s + w, 0);

function oneOperation(): void {
  let r = random() * TOTAL_WEIGHT;
  for (const [weight, run] of OPERATIONS) {
    r -= weight;
    if (r < 0) {
      run();
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Clients that leave and come back
// ---------------------------------------------------------------------------------------------

const stop = new AbortController();

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await sleep(50);
  }
  return true;
}

async function flap(actor: Actor, index: number): Promise<void> {
  while (!stop.signal.aborted) {
    try {
      await sleep(between(4000, 12_000), undefined, { signal: stop.signal });
    } catch {
      return;
    }
    const client = actor.client;
    if (!client) continue;
    if (random() < 0.5) {
      // A clean leave (a tab reloaded, a module restarted): Finalize, then a new client.
      actor.leaving = true;
      await waitFor(() => client.inflight === 0, REQUEST_TIMEOUT_MS + 2000);
      await client.close();
      actor.client = undefined;
      flapping.leaves++;
      await sleep(between(300, 2000));
      await connect(actor, index);
      actor.leaving = false;
      flapping.returns++;
    } else {
      // An abrupt drop: the same client notices and reconnects by itself.
      dropTimes.set(actor.name, Date.now());
      flapping.drops++;
      actor.drop?.();
      await waitFor(() => client.isConnected && !dropTimes.has(actor.name), 30_000);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

const send = (message: Record<string, unknown>): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  let stableIndex = 0;
  for (const a of actors) if (!a.flapping) a.pattern = countedPattern(stableIndex++);
  // A few at a time: 60 handshakes at once would be a burst, and the soak is about steady load.
  for (let i = 0; i < actors.length; i += 10) {
    await Promise.all(actors.slice(i, i + 10).map((a) => connect(a, actors.indexOf(a))));
  }
  send({ type: 'ready' });

  const flappers = actors.filter((a) => a.flapping).map((a) => flap(a, actors.indexOf(a)));
  const started = Date.now();
  const TICK_MS = 100;
  let requestCredit = 0;
  let broadcastCredit = 0;
  // Credits keep the average rate exact when a tick comes late (the rate is per second, ticks
  // are not).
  let lastTick = started;
  while (Date.now() - started < config.durationMs) {
    await sleep(TICK_MS);
    const now = Date.now();
    const elapsed = (now - lastTick) / 1000;
    lastTick = now;
    requestCredit += elapsed * config.requestsPerSecond;
    broadcastCredit += elapsed * config.broadcastsPerSecond;
    for (; requestCredit >= 1; requestCredit--) oneOperation();
    for (; broadcastCredit >= 1; broadcastCredit--) broadcastOne();
  }
  const trafficMs = Date.now() - started;
  stop.abort();
  await Promise.all(flappers);

  // Settle: every request answered (timeouts are 10 s), churn subscriptions ended, every counted
  // delivery in (or no progress for 5 s), every client connected.
  await waitFor(() => outstanding === 0, REQUEST_TIMEOUT_MS + 5000);
  const unanswered = outstanding;
  await waitFor(() => churnSubs.size === 0, 5000);
  let lastReceived = -1;
  let lastChange = Date.now();
  await waitFor(() => {
    if (broadcastState.received !== lastReceived) {
      lastReceived = broadcastState.received;
      lastChange = Date.now();
    }
    return broadcastState.received >= broadcastState.expected || Date.now() - lastChange > 5000;
  }, 30_000);
  await waitFor(() => actors.every((a) => a.client?.isConnected === true), 30_000);

  const report: SoakLoadReport = {
    seed: config.seed,
    trafficMs,
    requests: tallies,
    unanswered,
    unexpectedSamples,
    broadcasts: broadcastState,
    churn,
    flapping,
    notConnectedAtEnd: actors.filter((a) => a.client?.isConnected !== true).map((a) => a.name),
    clientInflightAtEnd: actors.reduce((s, a) => s + (a.client?.inflight ?? 0), 0),
    clientErrors,
    uncaught,
  };
  send({ type: 'report', report });

  await Promise.all(actors.map((a) => a.client?.close({ timeoutMs: 2000 })));
  send({ type: 'closed', uncaught });
  process.disconnect?.();
}

main().catch((e: unknown) => {
  const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
  send({ type: 'failed', error: text });
  process.stderr.write(`[soak load] failed: ${text}\n`);
  process.exitCode = 1;
  process.disconnect?.();
});
