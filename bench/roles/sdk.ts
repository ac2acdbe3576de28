/**
 * The SDK's side of the process benchmarks: each role is one process, built only from the
 * public entries `autocore-ipc` and `autocore-ipc/node`.
 *
 *   node --conditions=source --import tsx bench/roles/sdk.ts <role> [args]
 *
 *   hub [maxConnections]               IpcServer on 127.0.0.1:0; prints {ready, address}
 *   responder <peer>                   module `b`: `b.echo` answers with the request's data
 *   asker <peer> [name]                module that runs `seq` and `pipe` commands against `b.echo`
 *   publisher <peer> <subscribers>     module `pub` that runs `fan` commands
 *   subscriber <peer> <name>           module that counts Broadcasts on `bench.>`; `<name>.sync`
 *                                      answers once everything before it has been counted
 *   idlers <peer> <count> <prefix>     `count` IpcClient modules `<prefix><i>`, registered and
 *                                      then idle (heartbeats only)
 *
 * <peer> is `tcp:host:port`, `ws-text:ws://...` or `ws-binary:ws://...` (a WebSocket through
 * the bridge, with `ws` injected). Every role prints JSON lines (bench/lib/role-io.ts).
 */
import {
  BaseModuleHandler,
  IpcClient,
  IpcServer,
  tcpConnector,
  webSocketConnector,
  type Connector,
  type ModuleHandler,
  type WebSocketConstructor,
} from 'autocore-ipc/node';
import { WebSocket } from 'ws';
import {
  BROADCAST_DATA,
  BROADCAST_TOPIC,
  ECHO_TOPIC,
  REQUEST_DATA,
  emit,
  memory,
  onCommands,
} from '../lib/role-io.ts';

const [role = '', ...args] = process.argv.slice(2);

function connectorOf(peer: string): Connector {
  const colon = peer.indexOf(':');
  const kind = peer.slice(0, colon);
  const where = peer.slice(colon + 1);
  if (kind === 'tcp') return tcpConnector(where);
  if (kind === 'ws-text' || kind === 'ws-binary') {
    return webSocketConnector(where, {
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      mode: kind === 'ws-text' ? 'text' : 'binary',
    });
  }
  throw new Error(`unknown peer ${peer}`);
}

function connect(peer: string, handler: ModuleHandler): Promise<IpcClient> {
  return IpcClient.connect(connectorOf(peer), handler, { reconnect: false, retryFirstConnect: false });
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** Sequential round trips: `warmup` unmeasured, then `n` measured one by one (microseconds). */
async function sequential(client: IpcClient, warmup: number, n: number): Promise<Record<string, number>> {
  for (let i = 0; i < warmup; i++) await client.request(ECHO_TOPIC, REQUEST_DATA);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.request(ECHO_TOPIC, REQUEST_DATA);
    lat[i] = (performance.now() - t0) * 1000;
  }
  lat.sort();
  const at = (q: number): number => lat[Math.min(n - 1, Math.ceil(q * n) - 1)] as number;
  let sum = 0;
  for (const x of lat) sum += x;
  return { n, p50: at(0.5), p99: at(0.99), mean: sum / n };
}

/** `inflight` request loops for `ms` after `warmupMs`; round trips completed in the window. */
async function pipelined(
  client: IpcClient,
  inflight: number,
  warmupMs: number,
  ms: number,
): Promise<Record<string, number>> {
  let count = 0;
  let all = 0;
  let measuring = false;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      await client.request(ECHO_TOPIC, REQUEST_DATA);
      all++;
      if (measuring) count++;
    }
  };
  const loops = Array.from({ length: inflight }, loop);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = performance.now() - t0;
  stop = true;
  await Promise.all(loops);
  // `all` counts the warm-up and the drain too: what the processes' CPU time was spent on.
  return { count, all, ms: elapsed, rate: (count / elapsed) * 1000 };
}

async function main(): Promise<void> {
  switch (role) {
    case 'hub': {
      const server = await IpcServer.listen({
        port: 0,
        maxConnections: Number(args[0] ?? 1024),
      });
      let registered = 0;
      server.on('registered', () => registered++);
      emit({ ready: true, address: server.address, port: server.port });
      onCommands(async (cmd) => {
        if (cmd.cmd === 'memory') emit({ memory: { ...memory(), registered, connections: server.connectionCount } });
        else if (cmd.cmd === 'close') {
          await server.close({ timeoutMs: 500 });
          emit({ closed: true });
        }
      });
      process.on('SIGTERM', () => process.exit(0));
      return;
    }
    case 'responder': {
      const handler = new BaseModuleHandler('b').route(ECHO_TOPIC, ({ message }) =>
        message.intoResponse(message.data),
      );
      const client = await connect(args[0] ?? '', handler);
      emit({ ready: true });
      process.on('SIGTERM', () => void client.close({ timeoutMs: 200 }).finally(() => process.exit(0)));
      onCommands(() => {});
      return;
    }
    case 'asker': {
      const client = await connect(args[0] ?? '', new BaseModuleHandler(args[1] ?? 'a'));
      emit({ ready: true });
      process.on('SIGTERM', () => process.exit(0));
      onCommands(async (cmd) => {
        if (cmd.cmd === 'seq') {
          emit({ seq: await sequential(client, num(cmd.warmup, 500), num(cmd.n, 5000)) });
        } else if (cmd.cmd === 'pipe') {
          emit({
            pipe: await pipelined(client, num(cmd.inflight, 64), num(cmd.warmupMs, 300), num(cmd.ms, 2000)),
          });
        }
      });
      return;
    }
    case 'publisher': {
      const subs = Array.from({ length: Number(args[1] ?? 10) }, (_, i) => `sub${i}`);
      const client = await connect(args[0] ?? '', new BaseModuleHandler('pub'));
      emit({ ready: true });
      process.on('SIGTERM', () => process.exit(0));
      // Back-pressure: after each burst, a `sync` request to every subscriber; it is routed behind
      // the burst, so its answer means the subscriber has counted the burst. At most two bursts
      // are outstanding, so no queue anywhere grows with the run's length.
      const sync = async (mark: string | null): Promise<number> => {
        const replies = await Promise.all(subs.map((s) => client.request(`${s}.sync`, mark)));
        let counted = 0;
        for (const r of replies) counted += typeof r.data === 'number' ? r.data : 0;
        return counted;
      };
      let seq = 0;
      let allSent = 0;
      const runFor = async (ms: number, burst: number): Promise<number> => {
        const end = performance.now() + ms;
        let sent = 0;
        let prev: Promise<number> | undefined;
        while (performance.now() < end) {
          for (let i = 0; i < burst; i++) {
            client.broadcast(BROADCAST_TOPIC, { ...BROADCAST_DATA, seq: seq++ });
          }
          sent += burst;
          allSent += burst;
          const s = sync(null);
          if (prev !== undefined) await prev;
          prev = s;
        }
        if (prev !== undefined) await prev;
        return sent;
      };
      onCommands(async (cmd) => {
        if (cmd.cmd !== 'fan') return;
        const burst = num(cmd.burst, 200);
        await runFor(num(cmd.warmupMs, 300), burst);
        await sync('start');
        const t0 = performance.now();
        const sent = await runFor(num(cmd.ms, 2000), burst);
        const delivered = await sync('end');
        const ms = performance.now() - t0;
        // `all`: deliveries including the warm-up (what the processes' CPU time was spent on).
        emit({ fan: { sent, delivered, all: allSent * subs.length, ms, rate: (delivered / ms) * 1000 } });
        allSent = 0;
      });
      return;
    }
    case 'subscriber': {
      const name = args[1] ?? 'sub0';
      let count = 0;
      let base = 0;
      const handler = new BaseModuleHandler(name).route(`${name}.sync`, ({ message }) => {
        if (message.data === 'start') base = count;
        return message.intoResponse(message.data === 'end' ? count - base : null);
      });
      const client = await connect(args[0] ?? '', handler);
      await client.subscribe('bench.>', () => {
        count++;
      });
      emit({ ready: true });
      process.on('SIGTERM', () => process.exit(0));
      onCommands(() => {});
      return;
    }
    case 'idlers': {
      const count = Number(args[1] ?? 500);
      const prefix = args[2] ?? 'idle';
      const clients: IpcClient[] = [];
      // In waves, so the listen backlog and the server's accept loop are never flooded.
      for (let i = 0; i < count; i += 50) {
        const wave: Promise<IpcClient>[] = [];
        for (let j = i; j < Math.min(count, i + 50); j++) {
          wave.push(connect(args[0] ?? '', new BaseModuleHandler(`${prefix}${j}`)));
        }
        clients.push(...(await Promise.all(wave)));
      }
      emit({ ready: true, connected: clients.length });
      process.on('SIGTERM', () => process.exit(0));
      onCommands(() => {});
      return;
    }
    default:
      console.error('usage: sdk.ts hub|responder|asker|publisher|subscriber|idlers ...');
      process.exit(2);
  }
}

await main();
