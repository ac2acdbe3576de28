/**
 * The child processes of the silent-partition test (partition.test.ts), each run inside a
 * network namespace of its own with `ip netns exec`:
 *
 *   role "server": an IpcServer on the namespace's veth address, plus a module `hold` in the same
 *                  process whose requests are never answered in time, so requests wait in flight;
 *   role "module": an IpcClient `edge` connected to that server across the veth link.
 *
 *   node --conditions=source --import tsx netns-peer-main.ts '<json config>'
 *
 * Both print JSON lines on stdout, timestamped with `at` (ms since the epoch, sub-ms, from the
 * shared system clock, so the parent can compare the two sides): `{"ready":...}`, server events,
 * the module's `connected`/`disconnected`, and one line per request the module saw rejected.
 * Commands on stdin (module): `{"cmd":"hold","n":5}` sends n requests to `hold.wait`;
 * `{"cmd":"ping"}` does one round trip. Either exits when stdin closes.
 */
import { IpcClient, IpcServer, tcpConnector, type CommandMessage } from '../../../src/node.ts';
import { IpcError } from '../../../src/core/errors.ts';
import { readLines, writeLine } from './json-lines.ts';

interface PeerConfig {
  role: 'server' | 'module';
  /** server: interface to bind; module: `host:port` of the server. */
  address: string;
  heartbeatMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as PeerConfig;
const now = (): number => performance.timeOrigin + performance.now();
const out = (line: Record<string, unknown>): void => writeLine({ ...line, at: now() });

/** Answers nothing for a minute: what a busy module looks like to the requests waiting on it. */
const holdHandler = {
  domain: 'hold',
  handleMessage(msg: CommandMessage): Promise<CommandMessage> {
    return new Promise((resolve) => {
      setTimeout(() => resolve(msg.intoResponse('late')), 60_000).unref();
    });
  },
};

const closers: (() => Promise<unknown>)[] = [];

if (config.role === 'server') {
  const server = await IpcServer.listen({
    host: config.address,
    port: 0,
    allowNonLoopback: true,
    heartbeatMs: config.heartbeatMs,
  });
  server.events.on('registered', (e) => out({ event: 'registered', name: e.name }));
  server.events.on('disconnected', (e) =>
    out({ event: 'disconnected', name: e.name ?? null, error: e.error?.message ?? null }),
  );
  // The holding module connects over this namespace's own address (routed through `lo`, so the
  // partition of the veth link leaves it alone).
  const hold = await IpcClient.connect(tcpConnector(server.address), holdHandler, {
    heartbeatMs: config.heartbeatMs,
  });
  closers.push(() => hold.close({ timeoutMs: 200 }), () => server.close({ timeoutMs: 200 }));
  out({ ready: true, port: server.port });
} else {
  const client = await IpcClient.connect(
    tcpConnector(config.address, { timeoutMs: 2000 }),
    { domain: 'edge', handleMessage: (m: CommandMessage) => m.intoResponse(null) },
    { heartbeatMs: config.heartbeatMs, reconnect: false, connectTimeoutMs: 10_000 },
  );
  client.on('disconnected', (e) => out({ event: 'disconnected', error: e.error?.message ?? null }));
  client.on('error', () => {});
  closers.push(() => client.close({ timeoutMs: 200 }));
  out({ ready: true, heartbeatMs: client.registration?.heartbeat_ms ?? null });

  readLines<{ cmd: string; n?: number }>(process.stdin, (cmd) => {
    if (cmd.cmd === 'hold') {
      for (let i = 0; i < (cmd.n ?? 1); i++) {
        client.request('hold.wait', { i }, { timeoutMs: 30_000 }).then(
          () => out({ settled: 'resolved', i }),
          (e: unknown) => out({ settled: 'rejected', i, code: e instanceof IpcError ? e.code : String(e) }),
        );
      }
      out({ sent: cmd.n ?? 1, inflight: client.inflight });
    } else if (cmd.cmd === 'ping') {
      client.request('system.ping').then(
        () => out({ pong: true }),
        (e: unknown) => out({ pong: false, error: String(e) }),
      );
    }
  });
}

process.stdin.resume();
process.stdin.on('end', () => {
  void Promise.all(closers.map((c) => c().catch(() => {}))).then(() => process.exit(0));
});
