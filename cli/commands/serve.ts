/**
 * `autocore-ipc serve`: the embedded IpcServer in the foreground.
 */
import { IpcError } from 'autocore-ipc';
import { IpcServer, tokenAuthenticator } from 'autocore-ipc/node';
import { CliError, EXIT } from '../exit-codes.ts';
import { onShutdownSignal } from '../signals.ts';

/** Options of `serve`. */
export interface ServeOptions {
  host: string;
  port: number;
  /** Modules must send this token with Register. */
  token?: string | undefined;
  /** Allow a non-loopback host. */
  allowNonLoopback?: boolean | undefined;
}

/**
 * Listens until Ctrl-C/SIGTERM, logging registrations on stdout, then finalizes every module
 * and closes (resolves: exit 0). Bad options throw exit 2, a port that cannot be bound exit 1.
 *
 * @example
 * ```ts
 * await serve({ host: '127.0.0.1', port: 9100 });
 * ```
 */
export async function serve(options: ServeOptions): Promise<void> {
  let server: IpcServer;
  try {
    server = await IpcServer.listen({
      host: options.host,
      port: options.port,
      allowNonLoopback: options.allowNonLoopback === true,
      ...(options.token !== undefined ? { authenticate: tokenAuthenticator(options.token) } : {}),
    });
  } catch (e) {
    if (e instanceof IpcError && e.code === 'ERR_INVALID_ARGUMENT') {
      const hint = /non-loopback/.test(e.message)
        ? `refusing to listen on non-loopback host ${options.host}: other machines could connect. Pass --allow-non-loopback (and --token) to accept this.`
        : e.message;
      throw new CliError(EXIT.USAGE, hint, { cause: e });
    }
    const message = (e as Error).message;
    throw new CliError(
      EXIT.FAILED,
      message.startsWith('cannot listen')
        ? message
        : `cannot listen on ${options.host}:${options.port}: ${message}`,
      { cause: e },
    );
  }
  server.on('registered', (m) =>
    process.stdout.write(
      `[server] module ${m.name} ${m.version} registered from ${m.remoteAddress}\n`,
    ),
  );
  server.on('disconnected', (m) =>
    process.stdout.write(
      `[server] ${m.name ?? m.remoteAddress} left${m.error ? ` (${m.error.message})` : ''}\n`,
    ),
  );
  process.stdout.write(
    `autocore-ipc server listening on tcp://${server.address} (authentication ${options.token === undefined ? 'off' : 'on'})\n`,
  );
  await new Promise<void>((resolve) => {
    const remove = onShutdownSignal(() => {
      process.stdout.write('stopping...\n');
      void server.close().finally(() => {
        remove();
        resolve();
      });
    }, 'serve');
  });
  process.stdout.write('stopped\n');
}
