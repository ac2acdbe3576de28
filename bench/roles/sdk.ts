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
import { askerCommands, fanOutDriver, subscriberCounter } from '../lib/drivers.ts';

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
  return IpcClient.connect(connectorOf(peer), handler, {
    reconnect: false,
    retryFirstConnect: false,
  });
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
        if (cmd.cmd === 'memory')
          emit({ memory: { ...memory(), registered, connections: server.connectionCount } });
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
      process.on(
        'SIGTERM',
        () => void client.close({ timeoutMs: 200 }).finally(() => process.exit(0)),
      );
      onCommands(() => {});
      return;
    }
    case 'asker': {
      const client = await connect(args[0] ?? '', new BaseModuleHandler(args[1] ?? 'a'));
      const echo = () => client.request(ECHO_TOPIC, REQUEST_DATA);
      emit({ ready: true });
      process.on('SIGTERM', () => process.exit(0));
      onCommands(askerCommands(echo));
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
      const fan = fanOutDriver(
        () => client.broadcast(BROADCAST_TOPIC, { ...BROADCAST_DATA, seq: seq++ }),
        sync,
        subs.length,
      );
      onCommands(async (cmd) => {
        if (cmd.cmd === 'fan') emit({ fan: await fan(cmd) });
      });
      return;
    }
    case 'subscriber': {
      const name = args[1] ?? 'sub0';
      const counter = subscriberCounter();
      const handler = new BaseModuleHandler(name).route(`${name}.sync`, ({ message }) =>
        message.intoResponse(counter.onSync(message.data)),
      );
      const client = await connect(args[0] ?? '', handler);
      await client.subscribe('bench.>', counter.onBroadcast);
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
