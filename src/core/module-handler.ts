/**
 * ModuleHandler: what an external module implements to serve its domain (mechutil's
 * `ModuleHandler` trait), and BaseModuleHandler, a ready base to extend.
 */
import { toIpcError } from './errors.ts';
import { CommandMessage, ControlType, MessageType } from './message.ts';
import { TopicRouter, dispatchNow, isPromiseLike, type RouteHandler } from './topic-router.ts';

/**
 * The interface an external module implements. The client calls `handleMessage` for every
 * Request/Read/Write addressed to the module's domain and the lifecycle hooks for Control
 * messages from the server.
 *
 * @example
 * ```ts
 * const press: ModuleHandler = {
 *   domain: 'press1',
 *   handleMessage: (msg) => msg.intoResponse({ status: 'ok' }),
 *   onInitialize: async () => { await plc.connect(); },
 * };
 * ```
 */
export interface ModuleHandler {
  /** The module's name and domain (the first topic segment it serves). */
  readonly domain: string;
  /** Answers one Request/Read/Write. A throw or rejection becomes a failed Response. */
  handleMessage(msg: CommandMessage): CommandMessage | Promise<CommandMessage>;
  /** Runs when the server sends Control/Initialize, before any request is routed here. */
  onInitialize?(): void | Promise<void>;
  /** Runs when the server sends Control/Finalize (shutdown), or when the client closes. */
  onFinalize?(): void | Promise<void>;
  /** Applies new configuration sent with Control/Configure. */
  onConfigure?(config: unknown): void | Promise<void>;
  /** The module's status object, answered to Control/Status. */
  status?(): unknown;
}

/**
 * Runs a handler for one message and always produces a Response: a throw or rejection becomes
 * a failed Response carrying the error's message (mechutil's `ModuleHandlerExt`).
 *
 * @example
 * ```ts
 * const reply = await handleModuleMessage(handler, CommandMessage.request('press1.start'));
 * ```
 */
export async function handleModuleMessage(
  handler: ModuleHandler,
  msg: CommandMessage,
): Promise<CommandMessage> {
  return answerMessage(handler, msg);
}

/**
 * @internal {@link handleModuleMessage} without the promise when the handler answers at once:
 * the reply then leaves in the tick its request arrived in. A BaseModuleHandler whose
 * `handleMessage` is not overridden answers through its synchronous twin (`answerNow`), so a
 * route handler that returns a value costs no promise at all.
 */
export function answerMessage(
  handler: ModuleHandler,
  msg: CommandMessage,
): CommandMessage | Promise<CommandMessage> {
  let reply: unknown;
  try {
    reply =
      msg.messageType === MessageType.Control
        ? handleControl(handler, msg)
        : ((handler as AnswersNow).answerNow ?? handler.handleMessage).call(handler, msg);
  } catch (e) {
    return failedReply(msg, e);
  }
  // Anything but a CommandMessage (a promise, a thenable, a wrong value) is settled first.
  if (reply instanceof CommandMessage) return replyTo(msg, reply);
  return Promise.resolve(reply).then(
    (r) => replyTo(msg, r),
    (e: unknown) => failedReply(msg, e),
  );
}

/** The reply always answers `msg`, whatever the handler put in it. */
function replyTo(msg: CommandMessage, reply: unknown): CommandMessage {
  if (!(reply instanceof CommandMessage)) {
    return msg.intoErrorResponse(`Handler for ${msg.topic} returned no CommandMessage`);
  }
  reply.transactionId = msg.transactionId;
  reply.messageType = MessageType.Response;
  return reply;
}

function failedReply(msg: CommandMessage, e: unknown): CommandMessage {
  return msg.intoErrorResponse(toIpcError(e, 'ERR_HANDLER').message);
}

/** A handler with BaseModuleHandler's synchronous twin of `handleMessage`. */
interface AnswersNow {
  answerNow?: (msg: CommandMessage) => CommandMessage | Promise<CommandMessage>;
}

async function handleControl(handler: ModuleHandler, msg: CommandMessage): Promise<CommandMessage> {
  switch (msg.controlType) {
    case ControlType.Initialize:
      await handler.onInitialize?.();
      break;
    case ControlType.Finalize:
      await handler.onFinalize?.();
      break;
    case ControlType.Configure:
      if (!handler.onConfigure) return msg.intoErrorResponse('Configure not supported');
      await handler.onConfigure(msg.data);
      break;
    case ControlType.Status:
      return msg.intoResponse(handler.status ? ((await handler.status()) ?? null) : null);
    default:
      return msg.intoErrorResponse(`Unsupported control type ${msg.controlType}`);
  }
  return msg.intoResponse(null);
}

/**
 * A base ModuleHandler to extend: keeps the module's catalog of fully-qualified topics,
 * answers `get_catalog` (whatever the domain in front of it) with that catalog, dispatches
 * everything else through its {@link TopicRouter}, and answers anything unrouted with a failed
 * Response "Function not implemented: <topic>".
 *
 * @example
 * ```ts
 * class Press extends BaseModuleHandler {
 *   speed = 0;
 *   constructor() {
 *     super('press1');
 *     this.route('press1.set_speed', ({ message }) => {
 *       const rpm = (message.data as { rpm?: unknown })?.rpm;
 *       if (typeof rpm !== 'number') throw new Error('rpm must be a number');
 *       this.speed = rpm;
 *       return { rpm };
 *     });
 *   }
 * }
 * ```
 */
export class BaseModuleHandler implements ModuleHandler {
  readonly domain: string;
  /** The router that serves this module's topics. */
  readonly router: TopicRouter<unknown>;
  private readonly fqdns = new Set<string>();

  constructor(domain: string, router: TopicRouter<unknown> = new TopicRouter<unknown>()) {
    this.domain = domain;
    this.router = router;
  }

  /** Adds a fully-qualified topic to the catalog. Returns this for chaining. */
  registerFqdn(fqdn: string): this {
    this.fqdns.add(fqdn);
    return this;
  }

  /**
   * Serves `pattern` with `handler` and lists the pattern in the catalog.
   * Throws ERR_INVALID_PATTERN for a bad pattern.
   */
  route(pattern: string, handler: RouteHandler<unknown>): this {
    this.router.route(pattern, handler);
    this.fqdns.add(pattern);
    return this;
  }

  /** The registered fully-qualified topics, in registration order. */
  get catalog(): string[] {
    return [...this.fqdns];
  }

  /** Topics to announce as `capabilities` when registering. */
  capabilities(): string[] {
    return this.catalog;
  }

  async handleMessage(msg: CommandMessage): Promise<CommandMessage> {
    return this.#answer(msg);
  }

  #answer(msg: CommandMessage): CommandMessage | Promise<CommandMessage> {
    const topic = msg.topic;
    if (topic === 'get_catalog' || topic.endsWith('.get_catalog')) {
      return msg.intoResponse(this.catalog);
    }
    const reply = dispatchNow(this.router, msg);
    if (!isPromiseLike(reply)) return reply ?? notImplemented(msg);
    return reply.then((r) => r ?? notImplemented(msg));
  }

  /**
   * @internal The synchronous twin of `handleMessage` the client calls (see answerMessage):
   * a route handler that returns a value is answered without a promise. A subclass that
   * overrides `handleMessage` is asked through its override.
   */
  protected answerNow(msg: CommandMessage): CommandMessage | Promise<CommandMessage> {
    return this.handleMessage === BaseModuleHandler.prototype.handleMessage
      ? this.#answer(msg)
      : this.handleMessage(msg);
  }
}

function notImplemented(msg: CommandMessage): CommandMessage {
  return msg.intoErrorResponse(`Function not implemented: ${msg.topic}`);
}
