/**
 * TopicRouter: dispatches a CommandMessage to the single best-matching route (PROTOCOL.md
 * section 6), mirroring mechutil's TopicRouter / TopicRouterBuilder / RouteContext / RouteMatch /
 * RouteHandler.
 */
import { IpcError } from './errors.ts';
import { CommandMessage } from './message.ts';
import { parseTopicPattern, type TopicParams } from './topic-pattern.ts';
import { TopicTrie } from './topic-trie.ts';

/**
 * What a route handler receives: the message, the captured params and the pattern it matched.
 *
 * @example
 * ```ts
 * router.route('press1.axis.{n}.pos', ({ message, params, pattern }) => {
 *   return readAxis(Number(params.n)); // pattern === 'press1.axis.{n}.pos'
 * });
 * ```
 */
export interface RouteContext {
  readonly message: CommandMessage;
  /** `{name}` captures by name and, for a `>` pattern, `rest`; a null-prototype object. */
  readonly params: TopicParams;
  /** The registered pattern that matched, as written. */
  readonly pattern: string;
}

/**
 * What a handler may give back: a CommandMessage (sent as is), other data of type `R` (sent as
 * `message.intoResponse(data)`), or undefined (no reply).
 *
 * @example
 * ```ts
 * const result: RouteResult<{ rpm: number }> = { rpm: 1200 };
 * ```
 */
export type RouteResult<R> = R | CommandMessage | undefined | void;

/**
 * A route handler: sync or async. Throwing or rejecting never escapes `dispatch`; it becomes a
 * failed Response carrying the error's message.
 *
 * @example
 * ```ts
 * const handler: RouteHandler<unknown> = async ({ params }) => ({ axis: params.n, pos: 12.5 });
 * ```
 */
export type RouteHandler<R = CommandMessage> = (
  ctx: RouteContext,
) => RouteResult<R> | PromiseLike<RouteResult<R>>;

/**
 * The result of {@link TopicRouter.match}: the winning handler with its params and pattern.
 *
 * @example
 * ```ts
 * const m = router.match('press1.axis.3.pos');
 * if (m) console.log(m.pattern, m.params.n);
 * ```
 */
export interface RouteMatch<R = CommandMessage> {
  readonly handler: RouteHandler<R>;
  readonly params: TopicParams;
  readonly pattern: string;
}

/** One registered route; the trie holds this object, so replacing a handler keeps its place. */
interface Route<R> {
  readonly pattern: string;
  handler: RouteHandler<R>;
}

function checkHandler(pattern: string, handler: unknown): void {
  if (typeof handler !== 'function') {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Route handler for ${JSON.stringify(pattern)} must be a function (got ${handler === null ? 'null' : typeof handler})`,
    );
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message === '' ? e.name : e.message;
  if (typeof e === 'string' && e !== '') return e;
  return `Handler failed: ${String(e)}`;
}

/**
 * Routes messages to handlers by topic pattern. Matching uses a segment trie, so its cost
 * depends on the topic's depth, not on the number of routes. When several patterns match, the
 * best one wins (a literal beats `*`/`{name}`, which beat `>`, compared from the left; full ties
 * go to the route registered first).
 *
 * `R` is the type of the data handlers may return besides a CommandMessage; the default,
 * `CommandMessage`, means handlers build their replies themselves. Use `TopicRouter<unknown>`
 * (or a concrete data type) for handlers that return plain data.
 *
 * @example
 * ```ts
 * const router = new TopicRouter<unknown>()
 *   .route('press1.axis.{n}.pos', ({ params }) => ({ axis: Number(params.n), pos: 12.5 }))
 *   .route('press1.start', async ({ message }) => {
 *     await startPress();
 *     return message.intoResponse('started');
 *   })
 *   .route('press1.>', ({ params }) => { throw new Error(`unknown command ${params.rest}`); });
 *
 * const reply = await router.dispatch(CommandMessage.request('press1.axis.3.pos'));
 * reply?.data; // { axis: 3, pos: 12.5 }
 * ```
 */
export class TopicRouter<R = CommandMessage> {
  readonly #trie: TopicTrie<Route<R>>;
  readonly #routes = new Map<string, Route<R>>();

  /**
   * A fluent builder.
   *
   * @example
   * ```ts
   * const router = TopicRouter.builder<unknown>()
   *   .route('press1.status', () => ({ ok: true }))
   *   .route('press1.>', () => undefined)
   *   .build();
   * ```
   */
  /**
   * @param options.cacheSize How many topics' matches to remember; repeated topics (the usual
   * case on a machine) then cost one Map lookup. 0 turns the cache off. Default 8192.
   *
   * @example
   * ```ts
   * const router = new TopicRouter<unknown>({ cacheSize: 0 });
   * ```
   */
  constructor(options: { cacheSize?: number } = {}) {
    this.#trie = new TopicTrie<Route<R>>(options);
  }

  static builder<R = CommandMessage>(): TopicRouterBuilder<R> {
    return new TopicRouterBuilder<R>();
  }

  /**
   * Registers `handler` for `pattern` and returns this router. An invalid pattern throws an
   * IpcError ERR_INVALID_PATTERN (and a non-function handler ERR_INVALID_ARGUMENT) right here.
   * Registering a pattern again (same exact string) replaces its handler and keeps the route's
   * original place in the tie order.
   *
   * @example
   * ```ts
   * router.route('press1.axis.{n}.pos', ({ params }) => readAxis(params.n));
   * ```
   */
  route(pattern: string, handler: RouteHandler<R>): this {
    const existing = this.#routes.get(pattern);
    checkHandler(pattern, handler);
    if (existing !== undefined) {
      existing.handler = handler;
      return this;
    }
    const compiled = parseTopicPattern(pattern);
    const route: Route<R> = { pattern, handler };
    this.#trie.add(compiled, route);
    this.#routes.set(pattern, route);
    return this;
  }

  /**
   * Removes the route registered under `pattern` (exact string); true when there was one.
   *
   * @example
   * ```ts
   * router.remove('press1.>'); // true
   * ```
   */
  remove(pattern: string): boolean {
    const route = this.#routes.get(pattern);
    if (route === undefined) return false;
    this.#routes.delete(pattern);
    this.#trie.remove(pattern, route);
    return true;
  }

  /**
   * True when a route is registered under `pattern` (exact string).
   *
   * @example
   * ```ts
   * router.has('press1.>'); // true
   * ```
   */
  has(pattern: string): boolean {
    return this.#routes.has(pattern);
  }

  /**
   * The registered patterns, in registration order.
   *
   * @example
   * ```ts
   * router.patterns(); // ['press1.axis.{n}.pos', 'press1.>']
   * ```
   */
  patterns(): string[] {
    return [...this.#routes.keys()];
  }

  /**
   * Number of routes.
   *
   * @example
   * ```ts
   * new TopicRouter().route('a', h).size; // 1
   * ```
   */
  get size(): number {
    return this.#routes.size;
  }

  /**
   * The best route for `topic`, or undefined when none matches (always for an empty topic or
   * one with an empty segment).
   *
   * @example
   * ```ts
   * const m = router.match('press1.axis.3.pos');
   * m?.pattern;   // 'press1.axis.{n}.pos'
   * m?.params.n;  // '3'
   * ```
   */
  match(topic: string): RouteMatch<R> | undefined {
    const found = this.#trie.best(topic);
    if (found === undefined) return undefined;
    return { handler: found.value.handler, params: found.params, pattern: found.value.pattern };
  }

  /**
   * Runs the best route's handler for `message` and resolves with the reply: the handler's
   * CommandMessage as is, other data wrapped with `message.intoResponse(data)` (`null` too),
   * undefined when the handler returns undefined or when no route matches. A handler that
   * throws or rejects yields `message.intoErrorResponse(<error message>)`; this promise never
   * rejects.
   *
   * @example
   * ```ts
   * const reply = await router.dispatch(msg);
   * if (reply !== undefined) await client.send(reply);
   * ```
   */
  async dispatch(message: CommandMessage): Promise<CommandMessage | undefined> {
    return dispatchNow(this, message);
  }
}

/**
 * @internal {@link TopicRouter.dispatch} without the promise when the handler returns a value
 * rather than a promise: a module's hottest path then needs no microtask hop per request.
 */
export function dispatchNow<R>(
  router: TopicRouter<R>,
  message: CommandMessage,
): CommandMessage | undefined | Promise<CommandMessage | undefined> {
  const m = router.match(message.topic);
  if (m === undefined) return undefined;
  let result: RouteResult<R> | PromiseLike<RouteResult<R>>;
  try {
    result = m.handler({ message, params: m.params, pattern: m.pattern });
  } catch (e) {
    return message.intoErrorResponse(errorText(e));
  }
  if (!isPromiseLike(result)) return routeReply(message, result);
  return Promise.resolve(result).then(
    (r) => routeReply(message, r),
    (e: unknown) => message.intoErrorResponse(errorText(e)),
  );
}

/** @internal True for a promise or any other thenable (what `await` would wait for). */
export function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

function routeReply<R>(
  message: CommandMessage,
  result: RouteResult<R>,
): CommandMessage | undefined {
  if (result === undefined) return undefined;
  if (result instanceof CommandMessage) return result;
  return message.intoResponse(result);
}

/**
 * Fluent builder of a {@link TopicRouter}; each `route` is validated when it is called.
 *
 * @example
 * ```ts
 * const router = new TopicRouterBuilder<unknown>()
 *   .route('press1.status', () => ({ ok: true }))
 *   .build();
 * ```
 */
export class TopicRouterBuilder<R = CommandMessage> {
  readonly #routes: [string, RouteHandler<R>][] = [];

  /**
   * Adds a route; throws ERR_INVALID_PATTERN for an invalid pattern right away.
   *
   * @example
   * ```ts
   * builder.route('press1.axis.{n}.pos', ({ params }) => readAxis(params.n));
   * ```
   */
  route(pattern: string, handler: RouteHandler<R>): this {
    parseTopicPattern(pattern);
    checkHandler(pattern, handler);
    this.#routes.push([pattern, handler]);
    return this;
  }

  /**
   * A new router holding the routes added so far, in the order they were added.
   *
   * @example
   * ```ts
   * const router = builder.build();
   * ```
   */
  build(): TopicRouter<R> {
    const router = new TopicRouter<R>();
    for (const [pattern, handler] of this.#routes) router.route(pattern, handler);
    return router;
  }
}
