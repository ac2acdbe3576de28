/**
 * The lifecycle events of the server (hub): connections, registrations, faults. They never carry
 * the message stream itself.
 */
import type { IpcError } from '../core/errors.ts';

/**
 * Event map of {@link IpcHub} / `IpcServer` (a mitt event map). Listen with `server.on(type, fn)`
 * or all at once with `server.on('*', (type, event) => ...)`.
 *
 * @example
 * ```ts
 * server.on('registered', (e) => console.log(`${e.name} ${e.version} from ${e.remoteAddress}`));
 * server.on('disconnected', (e) => console.log(`${e.name ?? e.remoteAddress} left`, e.error?.code));
 * ```
 */
export type IpcServerEvents = {
  /** A transport was accepted (before it registers). */
  connected: { remoteAddress: string };
  /** A module's registration was acknowledged (RegisterAck sent); Initialize follows. */
  registered: { name: string; version: string; capabilities: string[]; remoteAddress: string };
  /** A connection closed; `name` is set when it had registered, `error` when the close was not clean. */
  disconnected: { name?: string; remoteAddress: string; error?: IpcError };
  /** A fault worth logging: invalid or dropped messages, framing errors, refused connections. */
  error: { error: IpcError; remoteAddress?: string };
  /** A connection was closed because it did not take what was sent to it fast enough. */
  slowConsumer: { name?: string; remoteAddress: string };
};

/**
 * One server event as a tagged object (mechutil's `ServerEvent`), e.g. for logging every event
 * from one `'*'` listener.
 *
 * @example
 * ```ts
 * const log: ServerEvent[] = [];
 * server.on('*', (type, event) => log.push({ type, ...event } as ServerEvent));
 * ```
 */
export type ServerEvent = {
  [K in keyof IpcServerEvents]: { type: K } & IpcServerEvents[K];
}[keyof IpcServerEvents];
