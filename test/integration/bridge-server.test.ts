/**
 * The bridge in front of the real IpcServer: browsers (raw `ws` clients speaking the wire form)
 * are ordinary modules to it, next to TCP modules.
 */
import { IpcServer } from 'autocore-ipc/node';
import { afterEach, describe, expect, it } from 'vitest';
import { createBridge, type Bridge, type BridgeLogEntry } from '../../bridge/index.ts';
import { msg, openClient, type TestClient } from '../support/bridge-client.ts';
import { TOKEN, testBridgeOptions } from '../support/bridge-fixture.ts';
import { startTcpModule, type TcpModule } from '../support/bridge-tcp-module.ts';

const Request = 1;
const Response = 2;
const Broadcast = 3;
const Control = 4;
const Subscribe = 7;

interface Bed {
  server: IpcServer;
  bridge: Bridge;
  logs: BridgeLogEntry[];
  browser(name: string, mode?: 'text' | 'binary'): Promise<TestClient>;
  tcpModule(name: string, serve?: Parameters<typeof startTcpModule>[2]): Promise<TcpModule>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Answers the server's Control messages (Initialize, Finalize) the way a module must. */
function answerControl(c: TestClient, mode: 'text' | 'binary'): void {
  c.ws.on('message', () => {
    const m = c.messages[c.messages.length - 1];
    if (m === undefined || m.message_type !== Control) return;
    if (m.control_type !== 1 && m.control_type !== 2) return;
    const reply = msg({ message_type: Response, topic: m.topic, success: true });
    reply.transaction_id = m.transaction_id;
    if (mode === 'binary') c.sendFrame(reply);
    else c.sendText(reply);
  });
}

async function startBed(): Promise<Bed> {
  const server = await IpcServer.listen({ port: 0 });
  cleanups.push(() => server.close({ timeoutMs: 500 }));
  const logs: BridgeLogEntry[] = [];
  const bridge = await createBridge({
    ...testBridgeOptions(server.address),
    log: (e) => logs.push(e),
  });
  cleanups.push(() => bridge.close());
  return {
    server,
    bridge,
    logs,
    browser: async (name, mode = 'text') => {
      const c = await openClient(bridge.url, { token: TOKEN });
      cleanups.push(() => c.close());
      answerControl(c, mode);
      const ack = await c.register(name, mode);
      if (ack.success !== true) throw new Error(`register ${name}: ${ack.error_message}`);
      await c.next((m) => m.message_type === Control && m.control_type === 1);
      return c;
    },
    tcpModule: async (name, serve) => {
      const m = await startTcpModule(server.address, name, serve);
      cleanups.push(() => m.close());
      return m;
    },
  };
}

describe('bridge with the real IpcServer', () => {
  for (const mode of ['text', 'binary'] as const) {
    it(`registers a browser as a module and relays system requests (${mode})`, async () => {
      const bed = await startBed();
      const c = await bed.browser(`hmi_${mode}`, mode);
      const ack = c.messages.find((m) => m.control_type === 4);
      // The browser is told the limit of its own hop (the bridge's 256 KiB message limit, less
      // the frame header in binary mode), not the server's 4 MiB.
      expect(ack?.data).toMatchObject({
        max_payload: 256 * 1024 - (mode === 'binary' ? 5 : 0),
        heartbeat_ms: expect.any(Number),
        server: expect.any(String),
      });
      const pong = await c.call(Request, 'system.ping', null, mode);
      expect(pong).toMatchObject({ success: true, data: 'pong' });
      expect(c.raw.every((r) => r.isBinary === (mode === 'binary'))).toBe(true);
    });
  }

  it('routes requests to a TCP module and its broadcasts to subscribed browsers', async () => {
    const bed = await startBed();
    await bed.tcpModule('press1', (req) => ({ echo: req.data, topic: req.topic }));
    const text = await bed.browser('hmi_t');
    const bin = await bed.browser('hmi_b', 'binary');
    const res = await text.call(Request, 'press1.speed', 42);
    expect(res).toMatchObject({ success: true, data: { echo: 42, topic: 'press1.speed' } });
    expect((await bin.call(Request, 'press1.speed', 43, 'binary')).data).toEqual({
      echo: 43,
      topic: 'press1.speed',
    });
    expect((await text.call(Subscribe, 'press1.axis.>')).success).toBe(true);
    expect((await bin.call(Subscribe, 'press1.axis.*.pos', null, 'binary')).success).toBe(true);
    const press1 = await bed.tcpModule('press1b');
    press1.broadcast('press1.axis.1.pos', 12.5);
    expect((await text.next((m) => m.message_type === Broadcast)).data).toBe(12.5);
    expect((await bin.next((m) => m.message_type === Broadcast)).topic).toBe('press1.axis.1.pos');
  });

  it('answers requests in flight with "Module disconnected" when the target module drops', async () => {
    const bed = await startBed();
    const press1 = await bed.tcpModule('press1', () => undefined);
    const c = await bed.browser('hmi_wait');
    const req = msg({ message_type: Request, topic: 'press1.slow' });
    c.sendText(req);
    await new Promise((r) => setTimeout(r, 100));
    await press1.close();
    const res = await c.next((m) => m.transaction_id === req.transaction_id);
    expect(res).toMatchObject({ success: false, error_message: 'Module disconnected: press1' });
  });

  it('relays the server refusing a taken name, then closes 1000', async () => {
    const bed = await startBed();
    await bed.browser('hmi_dup');
    const second = await openClient(bed.bridge.url, { token: TOKEN });
    cleanups.push(() => second.close());
    const ack = await second.register('hmi_dup');
    expect(ack).toMatchObject({
      success: false,
      error_message: 'Name already registered: hmi_dup',
    });
    expect((await second.closed).code).toBe(1000);
  });

  it('takes the module off the server when its browser leaves', async () => {
    const bed = await startBed();
    const left = new Promise<string | undefined>((resolve) =>
      bed.server.on('disconnected', (e) => resolve(e.name)),
    );
    const c = await bed.browser('hmi_gone');
    await c.close();
    expect(await left).toBe('hmi_gone');
  });

  it('closes browsers 1000 when the server shuts down', async () => {
    const bed = await startBed();
    const c = await bed.browser('hmi_stay');
    await bed.server.close({ timeoutMs: 1000 });
    expect(c.messages.some((m) => m.message_type === Control && m.control_type === 2)).toBe(true);
    expect((await c.closed).code).toBe(1000);
  });
});
