/**
 * The page's handle on the connection worker: commands as promises, the connection status, and
 * the batches the worker sends (tap records into the MessageLog, newest values, chart points).
 */
import type { ConnectSettings } from './config.ts';
import { MessageLog } from './message-log.ts';
import type {
  CallKind,
  CallReply,
  ChartPoint,
  ConnectionStatus,
  ValueUpdate,
  WorkerCommand,
  WorkerEvent,
} from './protocol.ts';
import { initialStatus } from './protocol.ts';

type Listener<T> = (value: T) => void;

/** Distributes the worker's parts without knowing the key type of each. */
type CommandWithoutId = WorkerCommand extends infer C
  ? C extends { id: number }
    ? Omit<C, 'id'>
    : never
  : never;

/**
 * @example
 * ```ts
 * const connection = new Connection();
 * connection.onStatus((s) => badge.textContent = s.phase);
 * await connection.connect({ url: 'ws://127.0.0.1:9101', token, name: 'console_ab12' });
 * const reply = await connection.call('request', 'press1.status', null);
 * ```
 */
export class Connection {
  readonly log = new MessageLog();
  status: ConnectionStatus = initialStatus();
  /** The settings of the last connect (the worker never sends the token back). */
  settings: ConnectSettings | undefined;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;
  readonly #statusListeners = new Set<Listener<ConnectionStatus>>();
  readonly #valueListeners = new Set<Listener<ValueUpdate[]>>();
  readonly #chartListeners = new Set<(points: ChartPoint[], topic: string | undefined) => void>();

  constructor() {
    this.#worker = new Worker(new URL('./connection.worker.ts', import.meta.url), {
      type: 'module',
      name: 'autocore-ipc connection',
    });
    this.#worker.addEventListener('message', (ev: MessageEvent<WorkerEvent>) =>
      this.#onEvent(ev.data),
    );
    this.#worker.addEventListener('error', (ev) => {
      this.#setStatus({
        ...this.status,
        lastError: `connection worker: ${ev.message || 'failed to start'}`,
        lastErrorAt: Date.now(),
      });
    });
  }

  /** True while requests can be sent. */
  get ready(): boolean {
    return this.status.phase === 'connected';
  }

  /** Calls `fn` on every status change (and once now); returns a function that removes it. */
  onStatus(fn: Listener<ConnectionStatus>): () => void {
    this.#statusListeners.add(fn);
    fn(this.status);
    return () => this.#statusListeners.delete(fn);
  }

  /** Calls `fn` with the topics that changed in each batch. */
  onValues(fn: Listener<ValueUpdate[]>): () => void {
    this.#valueListeners.add(fn);
    return () => this.#valueListeners.delete(fn);
  }

  /** Calls `fn` with the new points of the charted topic. */
  onChart(fn: (points: ChartPoint[], topic: string | undefined) => void): () => void {
    this.#chartListeners.add(fn);
    return () => this.#chartListeners.delete(fn);
  }

  /** Connects (closing any previous connection); resolves once connected or given up. */
  connect(settings: ConnectSettings): Promise<void> {
    this.settings = settings;
    return this.#send({ op: 'connect', settings }) as Promise<void>;
  }

  /** Leaves gracefully, or stops connecting. */
  disconnect(): Promise<void> {
    return this.#send({ op: 'disconnect' }) as Promise<void>;
  }

  /** A Request/Read/Write; resolves with the Response (failed ones too), rejects on local faults. */
  call(kind: CallKind, topic: string, data: unknown, timeoutMs = 10_000): Promise<CallReply> {
    return this.#send({ op: 'call', kind, topic, data, timeoutMs }) as Promise<CallReply>;
  }

  /** A Broadcast (no reply). */
  broadcast(topic: string, data: unknown): Promise<void> {
    return this.#send({ op: 'broadcast', topic, data }) as Promise<void>;
  }

  /** Subscribes (kept across reconnects and new connections); rejects with the server's reason. */
  subscribe(pattern: string): Promise<void> {
    return this.#send({ op: 'subscribe', pattern }) as Promise<void>;
  }

  unsubscribe(pattern: string): Promise<void> {
    return this.#send({ op: 'unsubscribe', pattern }) as Promise<void>;
  }

  /** Which topic the worker collects chart points for. */
  setChartTopic(topic: string | undefined): void {
    this.#worker.postMessage({ op: 'chart', topic } satisfies WorkerCommand);
  }

  /** Stops (or resumes) recording the tap. */
  setTapPaused(paused: boolean): void {
    this.log.paused = paused;
    this.#worker.postMessage({ op: 'tap', paused } satisfies WorkerCommand);
  }

  #send(cmd: CommandWithoutId): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...cmd, id } as WorkerCommand);
    });
  }

  #setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const fn of this.#statusListeners) fn(status);
  }

  #onEvent(ev: WorkerEvent): void {
    switch (ev.ev) {
      case 'result': {
        const p = this.#pending.get(ev.id);
        if (!p) return;
        this.#pending.delete(ev.id);
        if (ev.ok) p.resolve(ev.value);
        else p.reject(new Error(ev.error));
        return;
      }
      case 'status':
        this.#setStatus(ev.status);
        return;
      case 'batch':
        this.log.totals = ev.totals;
        this.log.dropped += ev.tapDropped;
        this.log.append(ev.tap);
        if (ev.values.length > 0) for (const fn of this.#valueListeners) fn(ev.values);
        if (ev.chart.length > 0) for (const fn of this.#chartListeners) fn(ev.chart, ev.chartTopic);
        return;
    }
  }
}
