/**
 * The connection worker: owns the WebSocket (tapped), the IpcClient and this tab's module
 * (`<name>.echo`, `<name>.time`). Running them here keeps thousands of messages a second off the
 * page's main thread, which only gets a batch every ~33 ms and renders when it can.
 */
import { BaseModuleHandler, IpcClient, type CommandMessage, type Subscription } from 'autocore-ipc';
import type { ConnectSettings } from './config.ts';
import { errorText } from './dom.ts';
import type {
  CallKind,
  CallReply,
  ChartPoint,
  ConnectionStatus,
  TapRecord,
  ValueUpdate,
  WorkerCommand,
  WorkerEvent,
} from './protocol.ts';
import { initialStatus } from './protocol.ts';
import { parseUnit, tappedWebSocketConnector, utf8Length, type TapSink } from './tap.ts';

interface WorkerScope {
  postMessage(message: WorkerEvent): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent<WorkerCommand>) => void): void;
}
const scope = self as unknown as WorkerScope;

/** Longest time between a message and the batch that carries it to the page, ms. */
const FLUSH_MS = 33;
/** Most tap records held for the page; older ones are dropped (and counted) beyond it. */
const MAX_PENDING_TAP = 10_000;

/**
 * The tab's own module: `<name>.echo` answers its data, `<name>.time` the browser's clock.
 *
 * @example
 * ```ts
 * const handler = consoleModule('console_ab12', () => served++);
 * ```
 */
export function consoleModule(name: string, onServe: (topic: string) => void): BaseModuleHandler {
  return new BaseModuleHandler(name)
    .route(`${name}.echo`, ({ message }) => {
      onServe(message.topic);
      return message.data;
    })
    .route(`${name}.time`, ({ message }) => {
      onServe(message.topic);
      const now = new Date();
      return {
        iso: now.toISOString(),
        epochMs: now.getTime(),
        timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        userAgent: navigator.userAgent,
      };
    });
}

/** Collects tap records, newest values and chart points, and posts them as one batch. */
class Batcher implements TapSink {
  paused = false;
  chartTopic: string | undefined;
  #tap: TapRecord[] = [];
  #dropped = 0;
  readonly #totals = { in: 0, out: 0, bytes: 0 };
  readonly #counts = new Map<string, number>();
  readonly #values = new Map<string, ValueUpdate>();
  #chart: ChartPoint[] = [];
  #window: ChartPoint | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  record(dir: 'in' | 'out', unit: Uint8Array | string): void {
    if (dir === 'in') this.#totals.in++;
    else this.#totals.out++;
    if (this.paused) {
      this.#totals.bytes += typeof unit === 'string' ? utf8Length(unit) : unit.length;
    } else {
      const rec = parseUnit(dir, unit, Date.now());
      this.#totals.bytes += rec.size;
      this.#tap.push(rec);
      // Bounded even if the page stops taking batches: keep the newest MAX_PENDING_TAP.
      if (this.#tap.length > MAX_PENDING_TAP * 1.5) {
        const excess = this.#tap.length - MAX_PENDING_TAP;
        this.#tap = this.#tap.slice(excess);
        this.#dropped += excess;
      }
    }
    this.#schedule();
  }

  value(msg: CommandMessage): void {
    const count = (this.#counts.get(msg.topic) ?? 0) + 1;
    this.#counts.set(msg.topic, count);
    this.#values.set(msg.topic, { topic: msg.topic, value: msg.data, count });
    const v = msg.data;
    if (msg.topic === this.chartTopic && typeof v === 'number' && Number.isFinite(v)) {
      const w = this.#window;
      if (!w) this.#window = { time: Date.now(), min: v, max: v, last: v };
      else {
        w.time = Date.now();
        if (v < w.min) w.min = v;
        if (v > w.max) w.max = v;
        w.last = v;
      }
    }
    this.#schedule();
  }

  /** Forgets per-topic counts (a new connection starts a new table). */
  resetValues(): void {
    this.#counts.clear();
    this.#values.clear();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#window) this.#chart.push(this.#window);
    scope.postMessage({
      ev: 'batch',
      tap: this.#tap,
      tapDropped: this.#dropped,
      totals: { ...this.#totals },
      values: [...this.#values.values()],
      chart: this.#chart,
      chartTopic: this.chartTopic,
    });
    this.#tap = [];
    this.#dropped = 0;
    this.#values.clear();
    this.#chart = [];
    this.#window = undefined;
  }
}

class WorkerSession {
  readonly batch = new Batcher();
  client: IpcClient | undefined;
  readonly status: ConnectionStatus = initialStatus();
  /** Patterns wanted (kept across connections) and their live subscription, if any. */
  readonly #patterns = new Map<string, Subscription | undefined>();
  #abort: AbortController | undefined;
  /** Bumped by every connect/disconnect, so late events of an old client are ignored. */
  #generation = 0;
  #lastMessage: CommandMessage | undefined;
  readonly #onBroadcast = (msg: CommandMessage): void => {
    // One message matching two of our patterns is delivered to both subscriptions.
    if (msg === this.#lastMessage) return;
    this.#lastMessage = msg;
    this.batch.value(msg);
  };

  update(patch: Partial<ConnectionStatus> = {}): void {
    Object.assign(this.status, patch);
    const connected = this.status.phase === 'connected';
    this.status.subscriptions = [...this.#patterns].map(([pattern, sub]) => ({
      pattern,
      active: connected && sub !== undefined,
    }));
    scope.postMessage({ ev: 'status', status: this.status });
  }

  #fail(e: unknown): void {
    this.update({ lastError: errorText(e), lastErrorAt: Date.now() });
  }

  async connect(settings: ConnectSettings): Promise<void> {
    await this.disconnect();
    const generation = ++this.#generation;
    const live = (): boolean => generation === this.#generation;
    const abort = new AbortController();
    this.#abort = abort;
    this.batch.resetValues();
    this.update({
      phase: 'connecting',
      attempt: 1,
      delayMs: undefined,
      url: settings.url,
      name: settings.name,
      lastError: undefined,
      lastErrorAt: undefined,
    });
    const handler = consoleModule(settings.name, () =>
      this.update({ served: this.status.served + 1 }),
    );
    const connector = tappedWebSocketConnector(
      settings.url,
      settings.token === '' ? {} : { token: settings.token },
      this.batch,
    );
    try {
      const client = await IpcClient.connect(connector, handler, {
        version: 'console',
        reconnect: true,
        retryFirstConnect: true,
        requestTimeoutMs: 10_000,
        signal: abort.signal,
        listeners: {
          reconnecting: ({ attempt, delayMs }) => {
            if (!live()) return;
            const phase = this.status.phase === 'connecting' ? 'connecting' : 'reconnecting';
            this.update({ phase, attempt, delayMs });
          },
          connected: ({ attempt }) => {
            if (live()) this.update({ phase: 'connected', attempt, delayMs: undefined });
          },
          disconnected: ({ error }) => {
            if (!live()) return;
            this.update({ phase: 'reconnecting', attempt: 0, delayMs: undefined });
            if (error) this.#fail(error);
          },
          error: ({ error }) => {
            if (live()) this.#fail(error);
          },
          closed: ({ error }) => {
            if (!live()) return;
            if (error) this.#fail(error);
            this.update({ phase: 'closed' });
          },
        },
      });
      if (!live()) {
        await client.close({ timeoutMs: 500 });
        return;
      }
      this.client = client;
      for (const pattern of this.#patterns.keys()) void this.#open(client, pattern).catch(() => {});
      this.update({ phase: client.state });
    } catch (e) {
      if (!live()) return;
      this.#fail(e);
      this.update({ phase: 'closed' });
    } finally {
      if (this.#abort === abort) this.#abort = undefined;
    }
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    const abort = this.#abort;
    if (!client && !abort) return;
    this.#generation++;
    this.client = undefined;
    this.#abort = undefined;
    abort?.abort();
    for (const pattern of this.#patterns.keys()) this.#patterns.set(pattern, undefined);
    this.update({ phase: 'closed', delayMs: undefined });
    await client?.close({ timeoutMs: 1000 });
  }

  #connected(): IpcClient {
    const client = this.client;
    if (!client || !client.isConnected) throw new Error(`not connected (${this.status.phase})`);
    return client;
  }

  async call(kind: CallKind, topic: string, data: unknown, timeoutMs: number): Promise<CallReply> {
    const client = this.#connected();
    const options = { throwOnFailure: false, timeoutMs };
    const started = performance.now();
    const reply =
      kind === 'read'
        ? await client.read(topic, options)
        : kind === 'write'
          ? await client.write(topic, data, options)
          : await client.request(topic, data, options);
    return {
      success: reply.success,
      data: reply.data,
      errorMessage: reply.errorMessage,
      transactionId: reply.transactionId,
      rttMs: performance.now() - started,
    };
  }

  broadcast(topic: string, data: unknown): void {
    this.#connected().broadcast(topic, data);
  }

  async subscribe(pattern: string): Promise<void> {
    if (this.#patterns.get(pattern)) return;
    this.#patterns.set(pattern, undefined);
    this.update();
    const client = this.client;
    if (client && client.isConnected) await this.#open(client, pattern);
  }

  async unsubscribe(pattern: string): Promise<void> {
    const sub = this.#patterns.get(pattern);
    this.#patterns.delete(pattern);
    this.update();
    await sub?.unsubscribe();
  }

  async #open(client: IpcClient, pattern: string): Promise<void> {
    try {
      const sub = await client.subscribe(pattern, this.#onBroadcast);
      if (this.client !== client || !this.#patterns.has(pattern)) {
        await sub.unsubscribe();
        return;
      }
      this.#patterns.set(pattern, sub);
      this.update();
    } catch (e) {
      this.#patterns.delete(pattern);
      this.update();
      throw e;
    }
  }
}

const session = new WorkerSession();

async function run(cmd: WorkerCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'connect':
      await session.connect(cmd.settings);
      return undefined;
    case 'disconnect':
      await session.disconnect();
      return undefined;
    case 'call':
      return session.call(cmd.kind, cmd.topic, cmd.data, cmd.timeoutMs);
    case 'broadcast':
      session.broadcast(cmd.topic, cmd.data);
      return undefined;
    case 'subscribe':
      await session.subscribe(cmd.pattern);
      return undefined;
    case 'unsubscribe':
      await session.unsubscribe(cmd.pattern);
      return undefined;
    case 'chart':
      session.batch.chartTopic = cmd.topic;
      return undefined;
    case 'tap':
      session.batch.paused = cmd.paused;
      return undefined;
  }
}

scope.addEventListener('message', (ev) => {
  const cmd = ev.data;
  const id = 'id' in cmd ? cmd.id : undefined;
  run(cmd).then(
    (value) => {
      if (id !== undefined) scope.postMessage({ ev: 'result', id, ok: true, value });
    },
    (e: unknown) => {
      if (id !== undefined) scope.postMessage({ ev: 'result', id, ok: false, error: errorText(e) });
    },
  );
});
session.update();
