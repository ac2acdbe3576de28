/**
 * `autocore-ipc listen <pattern>`: prints every matching Broadcast as one JSON line
 * `{"topic", "data", "time"}` until `--count` lines, Ctrl-C, or the server goes away.
 */
import { IpcError, type IpcClient, type Subscription } from 'autocore-ipc';
import { CliError, EXIT } from '../exit-codes.ts';
import { openSession, toCliError, type SessionOptions } from '../session.ts';
import { onShutdownSignal } from '../signals.ts';

/** Options of `listen`. */
export interface ListenOptions extends SessionOptions {
  /** Stop after this many Broadcasts. Default: run until stopped. */
  count?: number | undefined;
}

/**
 * Subscribes to `pattern` and writes one JSON line per Broadcast on stdout. Resolves (exit 0)
 * after `count` lines, on Ctrl-C/SIGTERM, or when stdout is closed (`| head`); throws a
 * CliError (exit 3) when the connection to the server is lost.
 *
 * @example
 * ```ts
 * await listen('press1.>', { address: '127.0.0.1:9100', timeout: 5000, count: 3 });
 * // {"topic":"press1.rpm","data":0,"time":"2025-01-01T12:00:00.000Z"}
 * ```
 */
export async function listen(pattern: string, options: ListenOptions): Promise<void> {
  let stopping = false;
  let client: IpcClient | undefined;
  let sub: Subscription | undefined;
  const controller = new AbortController();
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    controller.abort(new Error('stopped'));
    void sub?.close();
    void client?.close({ timeoutMs: 1000 });
  };
  const removeSignals = onShutdownSignal(stop);
  // The reader went away (EPIPE from `listen ... | head -3`): a normal way to stop.
  const onStdoutError = (): void => stop();
  process.stdout.on('error', onStdoutError);
  let lost: IpcError | undefined;
  try {
    try {
      client = await openSession({ ...options, signal: controller.signal });
    } catch (e) {
      if (stopping) return;
      throw e;
    }
    client.on('closed', ({ error }) => {
      lost = error;
    });
    try {
      sub = await client.subscribe(pattern, {
        timeoutMs: options.timeout,
        signal: controller.signal,
      });
    } catch (e) {
      if (stopping) return;
      if (e instanceof IpcError && e.code === 'ERR_REMOTE') {
        throw new CliError(EXIT.FAILED, `subscribe ${pattern}: ${e.message}`, { cause: e });
      }
      throw toCliError(e, options, `subscribe ${pattern}`);
    }
    let n = 0;
    for await (const msg of sub) {
      const time = new Date(msg.timecode > 0 ? msg.timecode : Date.now()).toISOString();
      process.stdout.write(`${JSON.stringify({ topic: msg.topic, data: msg.data, time })}\n`);
      if (options.count !== undefined && ++n >= options.count) break;
      if (stopping) break;
    }
    if (!stopping && (options.count === undefined || n < options.count)) {
      throw new CliError(
        EXIT.CONNECTION,
        `connection to ${options.address} lost${lost ? `: ${lost.message}` : ' (the server closed it)'}`,
      );
    }
  } finally {
    await client?.close({ timeoutMs: 1000 });
    removeSignals();
    process.stdout.off('error', onStdoutError);
  }
}
