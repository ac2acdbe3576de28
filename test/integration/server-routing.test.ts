import { afterEach, describe, expect, it } from 'vitest';
import type { IpcError } from '../../src/core/errors.ts';
import { encodePayload, encodeFrame } from '../../src/core/frame.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import type { IpcServerEvents } from '../../src/server/server-events.ts';
import { TestBed } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function request(
  topic: string,
  transactionId: number,
  data: unknown = null,
  type: MessageType = MessageType.Request,
): CommandMessage {
  return new CommandMessage({ transactionId, topic, messageType: type, data });
}

describe('IpcServer routing', () => {
  it('routes a request to its module with a hub id and restores the asker id on the response', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const seen: CommandMessage[] = [];
    press.serve((m) => {
      seen.push(m);
      const reply = m.intoResponse({ rpm: (m.data as { rpm: number }).rpm * 2 });
      reply.topic = 'press1.start.done'; // the asker gets the topic the module set
      return reply;
    });
    const hmi = await bed.module(server, 'hmi');

    const reply = await hmi.call(request('press1.start', 3_000_000_000, { rpm: 600 }));
    expect(reply).toMatchObject({
      transactionId: 3_000_000_000,
      topic: 'press1.start.done',
      messageType: MessageType.Response,
      success: true,
      data: { rpm: 1200 },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.topic).toBe('press1.start');
    expect(seen[0]?.transactionId).not.toBe(3_000_000_000);
  });

  it('routes Read and Write like a Request', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    press.serve((m) => m.intoResponse(m.messageType));
    const hmi = await bed.module(server, 'hmi');
    expect((await hmi.call(request('press1.speed', 7, null, MessageType.Read))).data).toBe(
      MessageType.Read,
    );
    expect((await hmi.call(request('press1.speed', 8, 5, MessageType.Write))).data).toBe(
      MessageType.Write,
    );
  });

  it('keeps two askers that use the same transaction id apart', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    // Answer in reverse order of arrival, once both are in.
    const queue: CommandMessage[] = [];
    press.serve((m) => {
      queue.push(m);
      if (queue.length === 2) for (const q of queue.reverse()) press.send(q.intoResponse(q.data));
      return undefined;
    });
    const a = await bed.module(server, 'a');
    const b = await bed.module(server, 'b');
    const [ra, rb] = await Promise.all([
      a.call(request('press1.echo', 42, 'from a')),
      b.call(request('press1.echo', 42, 'from b')),
    ]);
    expect(ra.data).toBe('from a');
    expect(rb.data).toBe('from b');
    expect(ra.transactionId).toBe(42);
    expect(rb.transactionId).toBe(42);
    expect(new Set(queue.map((q) => q.transactionId)).size).toBe(2);
  });

  it('answers pipelined requests answered out of order, each to its own transaction id', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const held: CommandMessage[] = [];
    const n = 300;
    press.serve((m) => {
      held.push(m);
      if (held.length === n) {
        // Shuffle deterministically, then answer all.
        for (let i = held.length - 1; i > 0; i--) {
          const j = (i * 7919) % (i + 1);
          [held[i], held[j]] = [held[j] as CommandMessage, held[i] as CommandMessage];
        }
        for (const q of held) press.send(q.intoResponse(q.data));
      }
      return undefined;
    });
    const hmi = await bed.module(server, 'hmi');
    const msgs = Array.from({ length: n }, (_, i) => request('press1.echo', 1000 + i, i));
    const replies = await Promise.all(msgs.map((m) => hmi.call(m, 5000)));
    replies.forEach((r, i) => {
      expect(r.transactionId).toBe(1000 + i);
      expect(r.data).toBe(i);
    });
  });

  it('routes both ways between two modules', async () => {
    const server = await bed.server();
    const a = await bed.module(server, 'a');
    const b = await bed.module(server, 'b');
    a.serve((m) => m.intoResponse('a answered'));
    b.serve((m) => m.intoResponse('b answered'));
    expect((await a.call(request('b.x', 5))).data).toBe('b answered');
    expect((await b.call(request('a.y', 5))).data).toBe('a answered');
    // A module may also ask its own domain.
    expect((await a.call(request('a.self', 6))).data).toBe('a answered');
  });

  it('serves the system domain', async () => {
    const server = await bed.server();
    await bed.module(server, 'press1', { capabilities: ['press1.start', 'press1.stop'] });
    const hmi = await bed.module(server, 'hmi');
    expect((await hmi.call(CommandMessage.request('system.ping'))).data).toBe('pong');
    const domains = await hmi.call(CommandMessage.request('system.get_domains'));
    expect(domains.data).toEqual(
      expect.arrayContaining([
        { name: 'press1', version: '1.0.0', capabilities: ['press1.start', 'press1.stop'] },
        { name: 'hmi', version: '1.0.0', capabilities: [] },
      ]),
    );
    expect(domains.data).toHaveLength(2);
    const catalog = await hmi.call(CommandMessage.request('system.get_catalog'));
    expect(catalog.data).toEqual([
      'system.ping',
      'system.get_domains',
      'system.get_catalog',
      'press1.start',
      'press1.stop',
    ]);
    const other = await hmi.call(CommandMessage.request('system.reboot'));
    expect(other.success).toBe(false);
    expect(other.errorMessage).toBe('Not implemented: system.reboot');
  });

  it('answers "Module not found" for an unknown domain', async () => {
    const server = await bed.server();
    const hmi = await bed.module(server, 'hmi');
    const reply = await hmi.call(CommandMessage.request('nowhere.start'));
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toBe('Module not found: nowhere');
    expect(reply.topic).toBe('nowhere.start');
  });

  it('times a request out and drops the late response', async () => {
    const server = await bed.server({ requestTimeoutMs: 150 });
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const press = await bed.module(server, 'press1');
    const late: CommandMessage[] = [];
    press.serve((m) => {
      late.push(m);
      return undefined;
    });
    const hmi = await bed.module(server, 'hmi');
    const msg = CommandMessage.request('press1.slow');
    const started = performance.now();
    const reply = await hmi.call(msg, 2000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toBe('Timeout: no response from press1 within 150 ms');
    press.send((late[0] as CommandMessage).intoResponse('too late'));
    await hmi.expectNoMessage((m) => m.transactionId === msg.transactionId, 100);
    expect(errors.some((e) => /matches no request in flight/.test(e.message))).toBe(true);
  });

  it('fails requests in flight with "Module disconnected" when the module goes', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    press.serve(() => undefined);
    const hmi = await bed.module(server, 'hmi');
    const replies = [
      hmi.call(CommandMessage.request('press1.a')),
      hmi.call(CommandMessage.request('press1.b')),
    ];
    await sleep(30);
    expect(press.served).toHaveLength(2);
    await press.close();
    for (const r of await Promise.all(replies)) {
      expect(r.success).toBe(false);
      expect(r.errorMessage).toBe('Module disconnected: press1');
    }
    expect((await hmi.call(CommandMessage.request('press1.a'))).errorMessage).toBe(
      'Module not found: press1',
    );
  });

  it('lets a module leave with Finalize: answered, requests failed at once, name freed, closed', async () => {
    const server = await bed.server();
    const events: Array<IpcServerEvents['disconnected']> = [];
    server.on('disconnected', (e) => events.push(e));
    const press = await bed.module(server, 'press1');
    press.serve(() => undefined);
    const hmi = await bed.module(server, 'hmi');
    const pending = hmi.call(CommandMessage.request('press1.a'));
    await sleep(20);
    const answer = await press.call(CommandMessage.control(ControlType.Finalize, 'press1'));
    expect(answer.success).toBe(true);
    expect((await pending).errorMessage).toBe('Module disconnected: press1');
    await press.waitClosed();
    await sleep(10);
    expect(events).toEqual([
      { name: 'press1', remoteAddress: expect.any(String) as unknown as string },
    ]);
    const again = await bed.peer(server);
    expect((await again.register('press1')).success).toBe(true);
  });

  it('refuses Configure and Status sent by a module', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    for (const type of [ControlType.Configure, ControlType.Status]) {
      const reply = await press.call(CommandMessage.control(type, 'press1', {}));
      expect(reply.success).toBe(false);
      expect(reply.errorMessage).toMatch(
        /^Not supported by the server: Control\/(Configure|Status)$/,
      );
    }
  });

  it('drops and reports a request with transaction id 0', async () => {
    const server = await bed.server();
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const press = await bed.module(server, 'press1');
    press.serve((m) => m.intoResponse(null));
    const hmi = await bed.module(server, 'hmi');
    hmi.send(request('press1.start', 0));
    hmi.send(request('system.ping', 0));
    await hmi.expectNoMessage((m) => m.messageType === MessageType.Response, 100);
    expect(press.served).toHaveLength(0);
    expect(
      errors.filter((e) => e.code === 'ERR_INVALID_MESSAGE' && /transaction_id 0/.test(e.message)),
    ).toHaveLength(2);
  });

  it('limits requests in flight per asking connection', async () => {
    const server = await bed.server({ maxInflightPerConnection: 4 });
    const press = await bed.module(server, 'press1');
    press.serve(() => undefined);
    const hmi = await bed.module(server, 'hmi');
    const msgs = Array.from({ length: 5 }, () => CommandMessage.request('press1.x'));
    const replies = msgs.map((m) => hmi.call(m));
    const fifth = await replies[4];
    expect(fifth?.errorMessage).toBe('Too many requests in flight');
    // Another connection has its own budget.
    const other = await bed.module(server, 'other');
    const answered = other.call(CommandMessage.request('press1.y'));
    await sleep(30);
    expect(press.served.map((m) => m.topic)).toContain('press1.y');
    press.send((press.served.at(-1) as CommandMessage).intoResponse('ok'));
    expect((await answered).data).toBe('ok');
    // Answering one frees a slot.
    press.send((press.served[0] as CommandMessage).intoResponse(0));
    expect((await replies[0])?.data).toBe(0);
    const again = await hmi.call(CommandMessage.request('system.ping'));
    expect(again.data).toBe('pong');
    const sixth = hmi.call(CommandMessage.request('press1.z'));
    await sleep(30);
    expect(press.served.map((m) => m.topic)).toContain('press1.z');
    press.send((press.served.at(-1) as CommandMessage).intoResponse('z'));
    expect((await sixth).data).toBe('z');
  });

  it('answers "Message too large" when a response no longer fits after the id is restored', async () => {
    const maxPayload = 4096;
    const server = await bed.server({ maxPayload });
    const press = await bed.module(server, 'press1');
    press.serve((m) => {
      const reply = m.intoResponse('');
      const room = maxPayload - new TextEncoder().encode(encodePayload(reply)).length;
      reply.data = 'x'.repeat(room); // exactly at the limit with the hub's short id
      expect(encodeFrame(reply, maxPayload).length).toBe(maxPayload + 5);
      return reply;
    });
    const hmi = await bed.module(server, 'hmi');
    const reply = await hmi.call(request('press1.big', 4_000_000_000));
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toBe('Message too large');
    expect(reply.topic).toBe('press1.big');
  });

  it('still answers an invalid message whose topic leaves no room for the answer', async () => {
    const server = await bed.server({ maxPayload: 4096 });
    const hmi = await bed.module(server, 'hmi');
    const topic = 'a'.repeat(3990); // the request fits in 4096 bytes, its answer would not
    const json = JSON.stringify({ transaction_id: 78, topic, message_type: 1, success: 'yes' });
    const bytes = new TextEncoder().encode(json);
    const frame = new Uint8Array(5 + bytes.length);
    new DataView(frame.buffer).setUint32(0, bytes.length, true);
    frame[4] = MessageType.Request;
    frame.set(bytes, 5);
    hmi.sendBytes(frame);
    const reply = await hmi.response(78);
    expect(reply.errorMessage).toMatch(/^Invalid message: success must be a boolean/);
    expect(reply.topic).toBe('');
    expect((await hmi.call(CommandMessage.request('system.ping'))).data).toBe('pong');
  });

  it('answers an invalid message with "Invalid message" and keeps the connection', async () => {
    const server = await bed.server();
    const hmi = await bed.module(server, 'hmi');
    const json = JSON.stringify({ transaction_id: 77, topic: 5, message_type: 1 });
    const bytes = new TextEncoder().encode(json);
    const frame = new Uint8Array(5 + bytes.length);
    new DataView(frame.buffer).setUint32(0, bytes.length, true);
    frame[4] = MessageType.Request;
    frame.set(bytes, 5);
    hmi.sendBytes(frame);
    const reply = await hmi.response(77);
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toMatch(/^Invalid message: topic must be a string/);
    expect((await hmi.call(CommandMessage.request('system.ping'))).data).toBe('pong');
  });
});
