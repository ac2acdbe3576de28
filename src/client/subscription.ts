/**
 * Subscription: the local end of a Subscribe. It is an AsyncIterable of the Broadcasts whose
 * topic matches its pattern (with a bounded buffer), or it calls a handler for each of them.
 */
import { IpcError } from '../core/errors.ts';
import type { CommandMessage } from '../core/message.ts';

/**
 * Called for every Broadcast that matches a handler subscription. A throw or rejection is
 * reported as an `'error'` event of the client (code ERR_HANDLER) and delivery goes on.
 */
export type SubscriptionHandler = (
  message: CommandMessage,
  subscription: Subscription,
) => void | Promise<void>;

/** Default of {@link SubscribeOptions.bufferSize}. */
export const DEFAULT_SUBSCRIPTION_BUFFER = 1024;

/**
 * Options of `IpcClient.subscribe`.
 *
 * @example
 * ```ts
 * const sub = await client.subscribe('press1.>', { bufferSize: 100, timeoutMs: 2000 });
 * ```
 */
export interface SubscribeOptions {
  /** Called for each matching Broadcast instead of buffering it for the iterator. Default: none. */
  handler?: SubscriptionHandler;
  /**
   * Most Broadcasts kept for an iterator that has not taken them yet. When a new one arrives
   * and the buffer is full, the OLDEST is dropped and counted in `dropped`. Default 1024.
   */
  bufferSize?: number;
  /** Give up waiting for the server's answer to the Subscribe after this long. Default: the client's `requestTimeoutMs`. */
  timeoutMs?: number;
  /** Abort waiting for the server's answer (the subscription is then not made). */
  signal?: AbortSignal;
}

/** @internal What a Subscription needs from its client. */
export interface SubscriptionOwner {
  release(subscription: Subscription): Promise<void>;
  reportError(error: IpcError): void;
}

/** @internal Delivers one Broadcast to a subscription. */
export const DELIVER: unique symbol = Symbol('deliver');
/** @internal Ends a subscription because its client closed. */
export const END: unique symbol = Symbol('end');

/**
 * A subscription to a topic pattern. Iterate it with `for await` (one consumer at a time), or
 * give a handler when subscribing. Breaking out of the loop, `unsubscribe()`, `close()` and
 * `await using` all end it; when the last local subscription to a pattern ends, the client
 * sends Unsubscribe to the server. When the client closes, the iterator yields what is still
 * buffered and then ends.
 *
 * A consumer that falls behind loses the OLDEST buffered Broadcasts (the newest value of a
 * topic is usually what matters); `dropped` counts them.
 *
 * @example
 * ```ts
 * {
 *   await using sub = await client.subscribe('press1.axis.*.pos');
 *   for await (const msg of sub) {
 *     console.log(msg.topic, msg.data);
 *     if (done) break; // unsubscribes
 *   }
 * }
 * const logged = await client.subscribe('alarms.>', { handler: (msg) => log(msg.data) });
 * await logged.unsubscribe();
 * ```
 */
export class Subscription implements AsyncIterable<CommandMessage>, AsyncDisposable {
  /** The topic pattern, exactly as given to `subscribe`. */
  readonly pattern: string;
  readonly #owner: SubscriptionOwner;
  readonly #handler: SubscriptionHandler | undefined;
  readonly #bufferSize: number;
  #queue: CommandMessage[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<CommandMessage>) => void) | undefined;
  #iterating = false;
  #received = 0;
  #dropped = 0;
  /** Unsubscribed by the user: buffered messages are discarded. */
  #released: Promise<void> | undefined;
  /** Ended by the client's close: buffered messages are still yielded. */
  #ended = false;

  /** @internal Made by `IpcClient.subscribe`. */
  constructor(
    owner: SubscriptionOwner,
    pattern: string,
    handler: SubscriptionHandler | undefined,
    bufferSize: number = DEFAULT_SUBSCRIPTION_BUFFER,
  ) {
    this.#owner = owner;
    this.pattern = pattern;
    this.#handler = handler;
    this.#bufferSize = Math.max(1, Math.floor(bufferSize));
  }

  /** Broadcasts delivered to this subscription so far (dropped ones included). */
  get received(): number {
    return this.#received;
  }

  /** Broadcasts dropped because the iterator fell `bufferSize` messages behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Broadcasts buffered and not yet taken by the iterator. */
  get buffered(): number {
    return this.#queue.length - this.#head;
  }

  /** True once unsubscribed or once the client closed. */
  get isClosed(): boolean {
    return this.#released !== undefined || this.#ended;
  }

  /**
   * Ends this subscription; when it was the last local one on its pattern, sends Unsubscribe and
   * resolves when the server has answered (or at once when not connected). Never rejects (a
   * refusal by the server is reported as an `'error'` event); idempotent.
   */
  unsubscribe(): Promise<void> {
    if (this.#released) return this.#released;
    this.#queue = [];
    this.#head = 0;
    this.#wake({ value: undefined, done: true });
    this.#released = this.#ended ? Promise.resolve() : this.#owner.release(this);
    return this.#released;
  }

  /** Same as {@link Subscription.unsubscribe}. */
  close(): Promise<void> {
    return this.unsubscribe();
  }

  /** `await using sub = await client.subscribe(...)` unsubscribes at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }

  /** @internal */
  [DELIVER](msg: CommandMessage): void {
    if (this.isClosed) return;
    this.#received++;
    const handler = this.#handler;
    if (handler) {
      try {
        const result = handler(msg, this);
        if (result && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).then(undefined, (e: unknown) => this.#handlerFailed(e));
        }
      } catch (e) {
        this.#handlerFailed(e);
      }
      return;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter({ value: msg, done: false });
      return;
    }
    if (this.#queue.length - this.#head >= this.#bufferSize) {
      this.#head++;
      this.#dropped++;
    }
    this.#queue.push(msg);
    // Compact now and then instead of shifting on every message.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** @internal The client closed: the iterator ends after what is buffered. */
  [END](): void {
    if (this.isClosed) return;
    this.#ended = true;
    if (this.#head >= this.#queue.length) this.#wake({ value: undefined, done: true });
  }

  #wake(result: IteratorResult<CommandMessage>): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(result);
  }

  #handlerFailed(e: unknown): void {
    const text = e instanceof Error ? e.message : String(e);
    this.#owner.reportError(
      new IpcError('ERR_HANDLER', `subscription handler for ${this.pattern} failed: ${text}`, {
        cause: e,
      }),
    );
  }

  #next(): Promise<IteratorResult<CommandMessage>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++] as CommandMessage;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.isClosed) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) {
      return Promise.reject(
        new IpcError(
          'ERR_INVALID_ARGUMENT',
          `subscription ${this.pattern}: next() called while a next() is pending`,
        ),
      );
    }
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /**
   * The Broadcasts as they arrive. One consumer at a time; breaking out of the loop
   * unsubscribes. Throws ERR_INVALID_ARGUMENT on a handler subscription or when another
   * iterator is active.
   */
  [Symbol.asyncIterator](): AsyncIterator<CommandMessage> {
    if (this.#handler) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `subscription ${this.pattern} has a handler; it cannot also be iterated`,
      );
    }
    if (this.#iterating) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `subscription ${this.pattern} is already being iterated`,
      );
    }
    this.#iterating = true;
    return {
      next: () => this.#next(),
      return: async () => {
        this.#iterating = false;
        await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }
}
