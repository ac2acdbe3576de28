/**
 * MQTT's side of the comparison benchmark (bench/peers.bench.ts): each role is one process, an
 * `mqtt` (MQTT.js) client of a mosquitto started by the benchmark, MQTT 5, QoS 0 throughout.
 *
 *   node --conditions=source --import tsx bench/roles/mqtt.ts <role> <port> [args]
 *
 *   responder <port>                 subscribes `b/echo`; answers each request on its response
 *                                    topic with its correlation data (MQTT 5 request/response)
 *   asker <port> [name]              runs `seq` and `pipe` commands: publishes on `b/echo` with a
 *                                    response topic `<name>/reply` and a correlation id
 *   publisher <port> <subscribers>   runs `fan` commands (publish on `bench/axis3/status`)
 *   subscriber <port> <name>         counts messages on `bench/#`; answers `<name>/sync`
 *
 * Payloads are the JSON of bench/lib/drivers.ts, decoded and encoded at both ends like the
 * SDK's messages. MQTT topics use `/` where ours use `.`.
 */
import { connect, type IClientPublishOptions, type MqttClient } from 'mqtt';
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
import { emit, onCommands } from '../lib/role-io.ts';

const [role = '', port = '', ...args] = process.argv.slice(2);

const ECHO = 'b/echo';
const BROADCAST = 'bench/axis3/status';

function open(clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect({
      host: '127.0.0.1',
      port: Number(port),
      protocolVersion: 5,
      clientId,
      clean: true,
      reconnectPeriod: 0,
      keepalive: 60,
    });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

function subscribe(client: MqttClient, topic: string): Promise<void> {
  return new Promise((resolve, reject) =>
    client.subscribe(topic, { qos: 0 }, (err) => (err ? reject(err) : resolve())),
  );
}

/**
 * MQTT 5 request/response from the requester's side: one response topic for this client, a
 * 4-byte correlation id per request, the pending answers in a map.
 */
async function requester(
  client: MqttClient,
  replyTopic: string,
): Promise<(topic: string, payload: string) => Promise<string>> {
  const pending = new Map<number, (payload: string) => void>();
  client.on('message', (_topic, payload, packet) => {
    const corr = packet.properties?.correlationData;
    if (corr === undefined || corr.length !== 4) return;
    const id = corr.readUInt32LE(0);
    const resolve = pending.get(id);
    if (resolve === undefined) return;
    pending.delete(id);
    resolve(payload.toString());
  });
  await subscribe(client, replyTopic);
  let next = 0;
  return (topic, payload) =>
    new Promise<string>((resolve) => {
      const id = (next = (next + 1) >>> 0);
      const correlationData = Buffer.alloc(4);
      correlationData.writeUInt32LE(id, 0);
      pending.set(id, resolve);
      const opts: IClientPublishOptions = {
        qos: 0,
        properties: { responseTopic: replyTopic, correlationData },
      };
      client.publish(topic, payload, opts);
    });
}

/** Subscribes `topic` and answers every request on it with `answer(payload)`. */
async function responder(
  client: MqttClient,
  topic: string,
  answer: (payload: string) => string,
): Promise<void> {
  client.on('message', (t, payload, packet) => {
    if (t !== topic) return;
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic === undefined) return;
    client.publish(responseTopic, answer(payload.toString()), {
      qos: 0,
      properties: { correlationData: packet.properties?.correlationData },
    });
  });
  await subscribe(client, topic);
}

async function main(): Promise<void> {
  switch (role) {
    case 'responder': {
      const client = await open('bench-responder');
      process.on('SIGTERM', () => client.end(true, () => process.exit(0)));
      await responder(client, ECHO, answerJson);
      emit({ ready: true });
      onCommands(() => {});
      return;
    }
    case 'asker': {
      const name = args[0] ?? 'a';
      const client = await open(`bench-${name}`);
      process.on('SIGTERM', () => client.end(true, () => process.exit(0)));
      const request = await requester(client, `${name}/reply`);
      const roundTrip = async (): Promise<unknown> =>
        JSON.parse(await request(ECHO, requestJson()));
      emit({ ready: true });
      onCommands(askerCommands(roundTrip));
      return;
    }
    case 'publisher': {
      const subs = Array.from({ length: Number(args[0] ?? 10) }, (_, i) => `sub${i}`);
      const client = await open('bench-pub');
      process.on('SIGTERM', () => client.end(true, () => process.exit(0)));
      const request = await requester(client, 'pub/reply');
      const sync = async (mark: 'start' | 'end' | null): Promise<number> => {
        const replies = await Promise.all(subs.map((s) => request(`${s}/sync`, syncJson(mark))));
        let counted = 0;
        for (const r of replies) counted += syncCount(r);
        return counted;
      };
      const fan = fanOutDriver(
        () => client.publish(BROADCAST, broadcastJson(), { qos: 0 }),
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
      const client = await open(`bench-${name}`);
      process.on('SIGTERM', () => client.end(true, () => process.exit(0)));
      const counter = subscriberCounter();
      client.on('message', (topic, payload) => {
        if (topic === BROADCAST) {
          JSON.parse(payload.toString());
          counter.onBroadcast();
        }
      });
      await subscribe(client, 'bench/#');
      await responder(client, `${name}/sync`, (payload) => answerSyncJson(payload, counter.onSync));
      emit({ ready: true });
      onCommands(() => {});
      return;
    }
    default:
      console.error('usage: mqtt.ts responder|asker|publisher|subscriber <port> [args]');
      process.exit(2);
  }
}

await main();
