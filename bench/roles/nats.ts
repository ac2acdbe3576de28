/**
 * NATS's side of the comparison benchmark (bench/peers.bench.ts): each role is one process,
 * a client of a nats-server started by the benchmark.
 *
 *   node --conditions=source --import tsx bench/roles/nats.ts <role> <server> [args]
 *
 *   responder <server>                 subscribes `b.echo`; answers each request with its data
 *   asker <server>                     runs `seq` and `pipe` commands with request() on `b.echo`
 *   publisher <server> <subscribers>   runs `fan` commands (publish on `bench.axis3.status`)
 *   subscriber <server> <name>         counts messages on `bench.>`; answers `<name>.sync`
 *
 * <server> is `tcp:127.0.0.1:<port>` (the `nats` package) or `ws:ws://127.0.0.1:<port>` (the
 * `nats.ws` package over the server's WebSocket listener, with `ws` as the socket: Node 20 has
 * no global WebSocket). Payloads are the JSON of bench/lib/drivers.ts, decoded and encoded at
 * both ends like the SDK's messages; subscriptions use callbacks (the client's fastest path).
 */
import { connect as connectTcp, type Msg, type NatsConnection } from 'nats';
import { connect as connectWs } from 'nats.ws';
import { WebSocket } from 'ws';
import {
  answerJson,
  answerSyncJson,
  broadcastJson,
  fanOutDriver,
  askerCommands,
  requestJson,
  subscriberCounter,
  syncCount,
  syncJson,
} from '../lib/drivers.ts';
import { BROADCAST_TOPIC, ECHO_TOPIC, emit, onCommands } from '../lib/role-io.ts';

const [role = '', server = '', ...args] = process.argv.slice(2);

/** Connects over TCP or WebSocket, as `server` says. */
async function connect(): Promise<NatsConnection> {
  const colon = server.indexOf(':');
  const kind = server.slice(0, colon);
  const where = server.slice(colon + 1);
  const common = { name: `bench-${role}`, noEcho: true, reconnect: false, timeout: 30_000 };
  if (kind === 'tcp') return connectTcp({ ...common, servers: where });
  if (kind === 'ws') {
    const nc = await connectWs({
      ...common,
      servers: where,
      // nats.ws builds `new WebSocket(url)` from the global by default; Node 20 has none.
      wsFactory: (url: string) =>
        Promise.resolve({
          socket: new WebSocket(url) as unknown as globalThis.WebSocket,
          encrypted: false,
        }),
    } as Parameters<typeof connectWs>[0]);
    // The two packages share one client core; only the transport differs.
    return nc as unknown as NatsConnection;
  }
  throw new Error(`unknown server ${server} (tcp:host:port or ws:ws://host:port)`);
}

const decoder = new TextDecoder();
const text = (m: Msg): string => decoder.decode(m.data);

async function main(): Promise<void> {
  const nc = await connect();
  process.on('SIGTERM', () => void nc.close().finally(() => process.exit(0)));
  switch (role) {
    case 'responder': {
      nc.subscribe(ECHO_TOPIC, {
        callback: (err, m) => {
          if (err === null) m.respond(answerJson(text(m)));
        },
      });
      await nc.flush();
      emit({ ready: true });
      onCommands(() => {});
      return;
    }
    case 'asker': {
      // A request timeout far above any latency here: a timeout would be a broken run.
      const roundTrip = async (): Promise<unknown> =>
        JSON.parse(text(await nc.request(ECHO_TOPIC, requestJson(), { timeout: 30_000 })));
      emit({ ready: true });
      onCommands(askerCommands(roundTrip));
      return;
    }
    case 'publisher': {
      const subs = Array.from({ length: Number(args[0] ?? 10) }, (_, i) => `sub${i}`);
      const sync = async (mark: 'start' | 'end' | null): Promise<number> => {
        const replies = await Promise.all(
          subs.map((s) => nc.request(`${s}.sync`, syncJson(mark), { timeout: 30_000 })),
        );
        let counted = 0;
        for (const r of replies) counted += syncCount(text(r));
        return counted;
      };
      const fan = fanOutDriver(
        () => nc.publish(BROADCAST_TOPIC, broadcastJson()),
        sync,
        subs.length,
      );
      emit({ ready: true });
      onCommands(async (cmd) => {
        if (cmd.cmd === 'fan') emit({ fan: await fan(cmd) });
      });
      return;
    }
    case 'subscriber': {
      const name = args[0] ?? 'sub0';
      const counter = subscriberCounter();
      nc.subscribe('bench.>', {
        callback: (err, m) => {
          if (err !== null) return;
          JSON.parse(text(m));
          counter.onBroadcast();
        },
      });
      nc.subscribe(`${name}.sync`, {
        callback: (err, m) => {
          if (err === null) m.respond(answerSyncJson(text(m), counter.onSync));
        },
      });
      await nc.flush();
      emit({ ready: true });
      onCommands(() => {});
      return;
    }
    default:
      console.error('usage: nats.ts responder|asker|publisher|subscriber <server> [args]');
      process.exit(2);
  }
}

await main();
