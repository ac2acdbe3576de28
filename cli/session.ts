/**
 * The CLI's own short-lived module: `call`, `listen`, `modules` and `catalog` register as
 * `cli_<pid>` with the server, do their one thing and leave. Also maps SDK errors to exit codes.
 */
import {
  BaseModuleHandler,
  IpcClient,
  IpcError,
  SDK_VERSION,
  type CommandMessage,
} from 'autocore-ipc';
import { tcpConnector } from 'autocore-ipc/node';
import { CliError, EXIT } from './exit-codes.ts';
import { interruptSignal } from './signals.ts';

/** Options shared by every command that talks to a server. */
export interface SessionOptions {
  /** The server, `host:port`. */
  address: string;
  /** Bounds connecting and every request, ms. */
  timeout: number;
  /** Sent with Register when the server authenticates. */
  token?: string | undefined;
  /** Aborts connecting (Ctrl-C). */
  signal?: AbortSignal | undefined;
}

/** The module name the CLI registers as. */
export function cliModuleName(): string {
  return `cli_${process.pid}`;
}

/**
 * Turns an SDK error into a {@link CliError} with the right exit code. `doing` says what was
 * under way, for the message.
 *
 * @example
 * ```ts
 * try { await client.request(topic); } catch (e) { throw toCliError(e, options, `call ${topic}`); }
 * ```
 */
export function toCliError(e: unknown, options: SessionOptions, doing: string): CliError {
  if (e instanceof CliError) return e;
  if (!(e instanceof IpcError)) {
    return new CliError(EXIT.FAILED, `${doing}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  switch (e.code) {
    case 'ERR_CONNECTION':
    case 'ERR_IO':
    case 'ERR_FRAMING':
      return new CliError(
        EXIT.CONNECTION,
        e.message.startsWith('cannot connect to')
          ? e.message
          : `cannot connect to ${options.address}: ${e.message}`,
        { cause: e },
      );
    case 'ERR_REGISTRATION':
      return new CliError(
        EXIT.CONNECTION,
        `cannot connect to ${options.address}: ${/refused/.test(e.message) ? e.message : `registration refused: ${e.message}`}`,
        { cause: e },
      );
    case 'ERR_TIMEOUT':
      return new CliError(EXIT.TIMEOUT, `timeout: ${doing}: ${e.message}`, { cause: e });
    case 'ERR_ABORTED':
    case 'ERR_SHUTDOWN':
      return new CliError(EXIT.INTERRUPTED, `interrupted: ${doing}`, { cause: e });
    case 'ERR_INVALID_ARGUMENT':
    case 'ERR_INVALID_PATTERN':
      return new CliError(EXIT.USAGE, e.message, { cause: e });
    default:
      return new CliError(EXIT.FAILED, e.message, { cause: e });
  }
}

/**
 * Connects and registers as `cli_<pid>`, once (no retry, no reconnect). Rejects with a
 * {@link CliError}: exit 3 when the server is down or refuses, 4 on timeout, 130 when aborted.
 *
 * @example
 * ```ts
 * const client = await openSession({ address: '127.0.0.1:9100', timeout: 5000 });
 * try { ... } finally { await client.close(); }
 * ```
 */
export async function openSession(options: SessionOptions): Promise<IpcClient> {
  let connector;
  try {
    connector = tcpConnector(options.address, { timeoutMs: options.timeout });
  } catch (e) {
    throw new CliError(
      EXIT.USAGE,
      `invalid --address ${options.address}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  try {
    return await IpcClient.connect(connector, new BaseModuleHandler(cliModuleName()), {
      version: SDK_VERSION,
      token: options.token,
      retryFirstConnect: false,
      reconnect: false,
      onServerFinalize: 'close',
      connectTimeoutMs: options.timeout,
      handshakeTimeoutMs: options.timeout,
      requestTimeoutMs: options.timeout,
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof IpcError && e.code === 'ERR_TIMEOUT') {
      throw new CliError(
        EXIT.TIMEOUT,
        `timeout: cannot connect to ${options.address}: not registered within ${options.timeout} ms`,
        { cause: e },
      );
    }
    throw toCliError(e, options, `connect to ${options.address}`);
  }
}

/**
 * Sends one Request and resolves with the Response's `data`. A failed Response becomes a
 * {@link CliError} carrying the server's error text: exit 4 for the server's
 * `Timeout: ...`, else exit 1.
 *
 * @example
 * ```ts
 * const domains = await requestData(client, 'system.get_domains', null, options);
 * ```
 */
export async function requestData(
  client: IpcClient,
  topic: string,
  data: unknown,
  options: SessionOptions,
): Promise<unknown> {
  let reply: CommandMessage;
  try {
    reply = await client.request(topic, data, {
      throwOnFailure: false,
      timeoutMs: options.timeout,
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof IpcError && e.code === 'ERR_TIMEOUT') {
      throw new CliError(
        EXIT.TIMEOUT,
        `timeout: no answer to ${topic} within ${options.timeout} ms`,
        {
          cause: e,
        },
      );
    }
    throw toCliError(e, options, topic);
  }
  if (!reply.success) {
    const text = reply.errorMessage || `${topic} failed (no error message)`;
    throw new CliError(text.startsWith('Timeout:') ? EXIT.TIMEOUT : EXIT.FAILED, text);
  }
  return reply.data;
}

/**
 * Runs a one-shot command: connects, calls `fn` with the client, then leaves. Ctrl-C aborts it
 * (exit 130).
 *
 * @example
 * ```ts
 * const data = await withSession(options, (client, o) => requestData(client, 'system.ping', null, o));
 * ```
 */
export async function withSession<T>(
  options: SessionOptions,
  fn: (client: IpcClient, options: SessionOptions) => Promise<T>,
): Promise<T> {
  const interrupt = interruptSignal();
  const o = { ...options, signal: interrupt.signal };
  let client: IpcClient | undefined;
  try {
    client = await openSession(o);
    return await fn(client, o);
  } finally {
    await client?.close({ timeoutMs: 1000 });
    interrupt.dispose();
  }
}
