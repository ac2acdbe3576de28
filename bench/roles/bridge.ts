/**
 * The bridge's side of the process benchmarks:
 *
 *   node --conditions=source --import tsx bench/roles/bridge.ts bridge <upstream host:port> [max]
 *   node --conditions=source --import tsx bench/roles/bridge.ts ws-idlers <ws url> <count> <prefix>
 *
 * `bridge` runs createBridge on 127.0.0.1:0 without tokens (every name and topic allowed), its
 * log off, the per-connection rate limit raised out of the way (a benchmark client sends far
 * more than the 200 messages/s a browser is allowed) and room for `max` connections; prints
 * {ready, url}. `ws-idlers` opens `count` raw `ws` clients (text form) that register as
 * `<prefix><i>`, answer the server's Initialize and Heartbeats, and then stay idle; prints
 * {ready, connected} once all are registered and initialized.
 */
import { WebSocket } from 'ws';
import { createBridge } from '../../bridge/index.ts';
import { emit, memory, onCommands } from '../lib/role-io.ts';

const [role = '', ...args] = process.argv.slice(2);

/** Opens one raw client; resolves once the server has initialized it. */
function idler(url: string, name: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['autocore-ipc.v1']);
    let txid = 1;
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          transaction_id: txid++,
          timecode: Date.now(),
          topic: name,
          message_type: 4,
          control_type: 3,
          data: { name, version: '1', capabilities: [] },
          crc: 0,
          success: false,
          error_message: '',
        }),
      );
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as {
        transaction_id: number;
        message_type: number;
        control_type?: number;
        success: boolean;
        error_message: string;
        topic: string;
      };
      const answer = (type: number): void =>
        ws.send(
          JSON.stringify({
            transaction_id: msg.transaction_id,
            timecode: Date.now(),
            topic: msg.topic,
            message_type: type,
            data: null,
            crc: 0,
            success: true,
            error_message: '',
          }),
        );
      if (msg.message_type === 4 && msg.control_type === 4 && !msg.success) {
        reject(new Error(`${name} refused: ${msg.error_message}`));
      } else if (msg.message_type === 4 && msg.control_type === 1) {
        answer(2); // Initialize answered: the module is in service
        resolve(ws);
      } else if (msg.message_type === 9 && msg.transaction_id !== 0) {
        answer(9);
      } else if (msg.message_type === 4 && msg.control_type === 2) {
        answer(2);
      }
    });
    ws.on('error', reject);
  });
}

async function main(): Promise<void> {
  if (role === 'bridge') {
    const max = Number(args[1] ?? 1024);
    const bridge = await createBridge({
      port: 0,
      upstream: args[0] ?? '127.0.0.1:9100',
      log: () => {},
      limits: {
        maxConnections: max,
        maxConnectionsPerToken: max,
        rateCapacity: 1_000_000_000,
        rateRefillPerSecond: 1_000_000_000,
      },
    });
    emit({ ready: true, url: bridge.url });
    process.on('SIGTERM', () => void bridge.close().finally(() => process.exit(0)));
    onCommands((cmd) => {
      if (cmd.cmd === 'memory') emit({ memory: memory() });
    });
    return;
  }
  if (role === 'ws-idlers') {
    const url = args[0] ?? '';
    const count = Number(args[1] ?? 500);
    const prefix = args[2] ?? 'idle';
    const sockets: WebSocket[] = [];
    // In waves, so the listen backlog and the server's accept loop are never flooded.
    for (let i = 0; i < count; i += 50) {
      const wave = [];
      for (let j = i; j < Math.min(count, i + 50); j++) wave.push(idler(url, `${prefix}${j}`));
      sockets.push(...(await Promise.all(wave)));
    }
    emit({ ready: true, connected: sockets.length });
    process.on('SIGTERM', () => process.exit(0));
    onCommands(() => {});
    return;
  }
  console.error('usage: bridge.ts bridge <upstream> [max] | ws-idlers <url> <count> <prefix>');
  process.exit(2);
}

await main();
