/**
 * Command line entry of the bridge.
 *
 * ```sh
 * node --conditions=source --import tsx bridge/cli.ts --config bridge.json [--host 0.0.0.0] [--port 9101] [--upstream 127.0.0.1:9100] [--insecure]
 * ```
 *
 * `--conditions=source` resolves the package's own entry points (`autocore-ipc`,
 * `autocore-ipc/node`) to its TypeScript sources, so no build is needed; after `npm run build`
 * it may be left out.
 *
 * Flags override the config file. Prints the listening URL on stdout; logs are JSON lines on
 * stderr. SIGINT/SIGTERM close every connection and exit 0 (a second signal exits 1 at once).
 * Exit codes: 0 stopped cleanly, 1 runtime failure (cannot listen), 2 bad arguments or config.
 */
import { parseArgs } from 'node:util';
import { IpcError } from 'autocore-ipc';
import { createBridge } from './bridge.ts';
import { loadBridgeConfig, type BridgeOptions } from './config.ts';

const USAGE = `Usage: node --conditions=source --import tsx bridge/cli.ts [--config bridge.json] [--host HOST] [--port PORT] [--upstream HOST:PORT] [--insecure]

  --config FILE        JSON config (tokens, permissions, origins, limits, host, port, upstream)
  --host HOST          interface to listen on (default 127.0.0.1)
  --port PORT          port to listen on, 0 = any free one (default 9101)
  --upstream HOST:PORT IPC server to relay to (default 127.0.0.1:9100)
  --insecure           allow a non-loopback host without tokens
  --help               show this text`;

function usageError(message: string): never {
  process.stderr.write(`bridge: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values: {
    config?: string;
    host?: string;
    port?: string;
    upstream?: string;
    insecure?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        upstream: { type: 'string', short: 'u' },
        insecure: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  let options: BridgeOptions = {};
  if (values.config !== undefined) {
    try {
      options = await loadBridgeConfig(values.config);
    } catch (e) {
      usageError((e as Error).message);
    }
  }
  if (values.host !== undefined) options.host = values.host;
  if (values.upstream !== undefined) options.upstream = values.upstream;
  if (values.insecure) options.insecure = true;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
      usageError(`--port must be a number 0-65535 (got "${values.port}")`);
    }
    options.port = Number(values.port);
  }

  let bridge;
  try {
    bridge = await createBridge(options);
  } catch (e) {
    if (e instanceof IpcError && e.code === 'ERR_INVALID_ARGUMENT') usageError(e.message);
    process.stderr.write(`bridge: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if ((options.tokens ?? []).length === 0) {
    process.stderr.write(
      'bridge: no tokens configured: authentication is OFF (every connection may do anything)\n',
    );
  }
  process.stdout.write(
    `autocore-ipc bridge listening on ${bridge.url} (upstream ${options.upstream ?? '127.0.0.1:9100'})\n`,
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`bridge: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    void bridge.close().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`bridge: error while closing: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
