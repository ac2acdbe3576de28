/**
 * `npm start`: the whole system on one machine, in one process tree. The embedded IpcServer,
 * the sample press module (and, when present, the WebSocket bridge for browsers). Ctrl-C
 * finalizes the modules and releases the ports.
 *
 *   npm start -- [--port 9100] [--module press1]
 */
import { parseArgs } from 'node:util';
import { IpcClient, IpcServer, tcpConnector } from 'autocore-ipc/node';
import { PressModule } from './press-module.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.AUTOCORE_PORT ?? '9100' },
    module: { type: 'string', default: 'press1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log('usage: npm start -- [--port 9100] [--module press1]');
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${values.port}: expected 0-65535`);
  process.exit(2);
}

const server = await IpcServer.listen({ port });
server.on('registered', (m) => console.log(`[server] module ${m.name} registered from ${m.remoteAddress}`));
server.on('disconnected', (m) => console.log(`[server] ${m.name ?? m.remoteAddress} left`));
console.log(`[server] listening on tcp://${server.address}`);

const press = new PressModule(values.module);
const client = await IpcClient.connect(tcpConnector(server.address), press, { version: '1.0.0' });
press.startSimulation(client.broadcastSender());
console.log(`[${press.domain}] running; try: ${press.domain}.start, ${press.domain}.set_speed {"rpm": 1200}`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping...');
  press.stopSimulation();
  await client.close();
  await server.close();
  console.log('stopped');
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
