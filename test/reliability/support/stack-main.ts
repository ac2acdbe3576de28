/**
 * The child side of {@link startStack} (stack-process.ts): an IpcServer, and optionally a bridge
 * in front of it, in a process of their own, so a test can measure their RSS and file
 * descriptors without counting its own, and kill them with SIGKILL.
 *
 *   node --conditions=source --import tsx test/reliability/support/stack-main.ts '<json config>'
 *
 * Prints JSON lines on stdout: `{"ready":true,"port":..,"bridgePort":..}` once listening, then
 * one answer per command read from stdin (`{"cmd":"stats"}`, `{"cmd":"gc"}`; `"reset":true` starts
 * a new event-loop delay window after answering). Server events go out as `{"event":...}` lines.
 * An uncaught exception or unhandled rejection is reported as an `{"uncaught":...}` line before
 * Node's default handling (which ends the process) runs. Exits when stdin closes.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { IpcServer, type IpcServerOptions } from '../../../src/node.ts';
import { createBridge, type Bridge, type BridgeOptions } from '../../../bridge/index.ts';
import { readLines, writeLine as out } from './json-lines.ts';

interface StackConfig {
  server?: IpcServerOptions;
  /** Start a bridge in front of the server with these options (its upstream is the server). */
  bridge?: BridgeOptions;
  /** Server events to report as `{"event"}` lines (names of ServerEvents keys). */
  events?: string[];
  /**
   * Relay the bridge to this `host:port` instead of this process's own server, so a bridge can
   * run in a process of its own (as `npm run bridge` does) and be measured apart from the server.
   */
  bridgeUpstream?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as StackConfig;

// Observed, not handled: the monitor runs before Node's default handling, which still ends the
// process, so a crash stays a crash for every test and the parent also learns why.
process.on('uncaughtExceptionMonitor', (error, origin) => {
  out({
    uncaught: error instanceof Error ? (error.stack ?? error.message) : String(error),
    origin,
  });
});

// The event loop's delay, sampled every ELD_RESOLUTION_MS; the histogram holds whole intervals
// between samples, so the delay is the value minus the resolution.
const ELD_RESOLUTION_MS = 10;
const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eld.enable();
function eventLoopDelay(): Record<string, number> {
  const lag = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  return {
    p50: lag(eld.percentile(50)),
    p99: lag(eld.percentile(99)),
    max: lag(eld.max),
    mean: lag(eld.mean),
    count: eld.count,
  };
}

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
    upstream: config.bridgeUpstream ?? server.address,
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

readLines<{ cmd: string; id?: number; reset?: boolean }>(process.stdin, (cmd) => {
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
    eventLoopDelay: eventLoopDelay(),
  });
  if (cmd.reset === true) eld.reset();
});
process.stdin.on('end', () => {
  void (async () => {
    await bridge?.close();
    await server.close({ timeoutMs: 500 });
    process.exit(0);
  })();
});
