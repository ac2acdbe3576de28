/**
 * The child side of {@link startStack} (stack-process.ts): an IpcServer, and optionally a bridge
 * in front of it, in a process of their own, so a test can measure their RSS and file
 * descriptors without counting its own, and kill them with SIGKILL.
 *
 *   node --conditions=source --import tsx test/reliability/support/stack-main.ts '<json config>'
 *
 * Prints JSON lines on stdout: `{"ready":true,"port":..,"bridgePort":..}` once listening, then
 * one answer per command read from stdin (`{"cmd":"stats"}`, `{"cmd":"gc"}`). Server events go
 * out as `{"event":...}` lines. Exits when stdin closes.
 */
import { readdirSync } from 'node:fs';
import { IpcServer, type IpcServerOptions } from '../../../src/node.ts';
import { createBridge, type Bridge, type BridgeOptions } from '../../../bridge/index.ts';

interface StackConfig {
  server?: IpcServerOptions;
  /** Start a bridge in front of the server with these options (its upstream is the server). */
  bridge?: BridgeOptions;
  /** Server events to report as `{"event"}` lines (names of ServerEvents keys). */
  events?: string[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as StackConfig;
const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

function fdCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

const server = await IpcServer.listen({ port: 0, ...config.server });
for (const name of config.events ?? []) {
  (server.events.on as (n: string, f: (e: unknown) => void) => void)(name, (e) => {
    out({ event: name, detail: summarize(e) });
  });
}
let bridge: Bridge | undefined;
if (config.bridge) {
  bridge = await createBridge({
    port: 0,
    log: () => {},
    ...config.bridge,
    upstream: server.address,
  });
}
out({ ready: true, port: server.port, bridgePort: bridge?.port ?? null, pid: process.pid });

function summarize(e: unknown): unknown {
  if (e === null || typeof e !== 'object') return e;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') o[k] = v;
    else if (v instanceof Error) o[k] = v.message;
  }
  return o;
}

let partial = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  partial += text;
  let nl: number;
  while ((nl = partial.indexOf('\n')) >= 0) {
    const line = partial.slice(0, nl);
    partial = partial.slice(nl + 1);
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line) as { cmd: string; id?: number };
    if (cmd.cmd === 'gc') (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    out({
      id: cmd.id ?? null,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      fds: fdCount(),
      connections: server.connectionCount,
      modules: server.modules().length,
      bridge: bridge ? bridge.metrics() : null,
    });
  }
});
process.stdin.on('end', () => {
  void (async () => {
    await bridge?.close();
    await server.close({ timeoutMs: 500 });
    process.exit(0);
  })();
});
