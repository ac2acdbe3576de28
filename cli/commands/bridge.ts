/**
 * `autocore-ipc bridge`: the WebSocket <-> TCP bridge in the foreground (the same behaviour as
 * bridge/cli.ts, behind the CLI's flags and exit codes).
 */
import { IpcError } from 'autocore-ipc';
import { createBridge, loadBridgeConfig, type BridgeOptions } from '../../bridge/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { onShutdownSignal } from '../signals.ts';

/** Flags of `bridge`; each one overrides the config file. */
export interface BridgeCommandOptions {
  config?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  upstream?: string | undefined;
  insecure?: boolean | undefined;
}

/**
 * Starts the bridge, prints its URL, and runs until Ctrl-C/SIGTERM (then closes every
 * connection: exit 0). A bad config or flag throws exit 2, a port that cannot be bound exit 1.
 *
 * @example
 * ```ts
 * await bridge({ config: 'bridge.json', port: 9101 });
 * ```
 */
export async function bridge(flags: BridgeCommandOptions): Promise<void> {
  let options: BridgeOptions = {};
  if (flags.config !== undefined) {
    try {
      options = await loadBridgeConfig(flags.config);
    } catch (e) {
      throw new CliError(EXIT.USAGE, (e as Error).message, { cause: e });
    }
  }
  if (flags.host !== undefined) options.host = flags.host;
  if (flags.port !== undefined) options.port = flags.port;
  if (flags.upstream !== undefined) options.upstream = flags.upstream;
  if (flags.insecure) options.insecure = true;

  let running;
  try {
    running = await createBridge(options);
  } catch (e) {
    if (e instanceof IpcError && e.code === 'ERR_INVALID_ARGUMENT') {
      throw new CliError(EXIT.USAGE, e.message, { cause: e });
    }
    throw new CliError(EXIT.FAILED, `bridge: ${(e as Error).message}`, { cause: e });
  }
  if ((options.tokens ?? []).length === 0) {
    process.stderr.write(
      'bridge: no tokens configured: authentication is OFF (every connection may do anything)\n',
    );
  }
  process.stdout.write(
    `autocore-ipc bridge listening on ${running.url} (upstream ${options.upstream ?? '127.0.0.1:9100'})\n`,
  );
  const b = running;
  await new Promise<void>((resolve, reject) => {
    const remove = onShutdownSignal(() => {
      b.close().then(
        () => {
          remove();
          resolve();
        },
        (e: unknown) =>
          reject(new CliError(EXIT.FAILED, `bridge: error while closing: ${String(e)}`)),
      );
    }, 'bridge');
  });
}
