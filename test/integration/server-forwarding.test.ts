import { afterEach, describe, expect, it } from 'vitest';
import { CommandMessage, MessageType } from '../../src/core/message.ts';
import { TestBed } from '../support/raw-peer.ts';
import { frameOf } from '../support/hand-frames.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const text = new TextEncoder();


const isRequest = (m: CommandMessage): boolean => m.messageType === MessageType.Request;

// The hub forwards a frame with only its transaction id rewritten in the bytes when the payload
// has the encoder's shape, and re-encodes it otherwise; either way ids must come out right.
describe('IpcServer forwarding', () => {
  it('routes requests and responses that repeat transaction_id, under the id JSON.parse reads', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const hmi = await bed.module(server, 'hmi');

    const requests = [
      '{"transaction_id":5,"topic":"press1.a","message_type":1,"data":1,"transaction_id":5}',
      '{"transaction_id":4,"topic":"press1.a","message_type":1,"data":2,"transaction_id":6}',
      '{"transaction_id":4,"topic":"press1.a","message_type":1,"data":3,"transaction\\u005fid":7}',
    ];
    for (const [i, json] of requests.entries()) {
      const askerId = 5 + i;
      hmi.sendBytes(frameOf(json, MessageType.Request));
      const seen = await press.expectMessage(isRequest);
      expect(seen.data).toBe(i + 1);
      expect(seen.transactionId).not.toBe(askerId);
      // The module answers with a duplicate key too, the last one being the hub's id.
      press.sendBytes(
        frameOf(
          `{"transaction_id":${seen.transactionId},"topic":"press1.a","message_type":2,"data":"ok${i}",` +
            `"success":true,"transaction_id":${seen.transactionId}}`,
          MessageType.Response,
        ),
      );
      const reply = await hmi.response(askerId);
      expect(reply).toMatchObject({ success: true, data: `ok${i}`, topic: 'press1.a' });
    }
  });

  it('passes members it does not know through, and a message_type given by name', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const hmi = await bed.module(server, 'hmi');
    hmi.sendBytes(
      frameOf(
        '{"transaction_id":31,"timecode":12,"topic":"press1.b","message_type":"Request","data":{"x":[1,2]},"extra":true}',
        MessageType.Request,
      ),
    );
    const seen = await press.expectMessage(isRequest);
    expect(seen).toMatchObject({ topic: 'press1.b', timecode: 12, data: { x: [1, 2] } });
    press.send(seen.intoResponse('done'));
    expect((await hmi.response(31)).data).toBe('done');
  });

  it('answers "Message too large" when the restored id no longer fits the asker', async () => {
    const server = await bed.server({ maxPayload: 4096 });
    const press = await bed.module(server, 'press1');
    const hmi = await bed.module(server, 'hmi');
    hmi.send(new CommandMessage({ transactionId: 4_000_000_000, topic: 'press1.c', messageType: MessageType.Request }));
    const seen = await press.expectMessage(isRequest);
    // A response of exactly 4096 bytes under the hub's short id: with the asker's ten digits
    // restored it would be over the limit.
    const head = `{"transaction_id":${seen.transactionId},"topic":"press1.c","message_type":2,"success":true,"data":"`;
    const json = `${head}${'x'.repeat(4096 - head.length - 2)}"}`;
    expect(text.encode(json).length).toBe(4096);
    press.sendBytes(frameOf(json, MessageType.Response));
    const reply = await hmi.response(4_000_000_000);
    expect(reply).toMatchObject({ success: false, errorMessage: 'Message too large', topic: 'press1.c' });
    expect((await hmi.call(CommandMessage.request('system.ping'))).data).toBe('pong');
  });
});

// The relay path: frames whose envelope the hub's scanner vouches for are routed by their bytes
// alone; everything else is decoded. Both must give the same results, in the order sent.
describe('IpcServer relay path', () => {
  const concat = (frames: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      out.set(f, at);
      at += f.length;
    }
    return out;
  };

  it('routes a burst of plain and unusual requests in one write, in order, with the right ids', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const hmi = await bed.module(server, 'hmi');
    const seenOrder: unknown[] = [];
    press.serve((m) => {
      seenOrder.push(m.data);
      return m.intoResponse({ echo: m.data });
    });
    const plain = (id: number, data: unknown): Uint8Array =>
      frameOf(`{"transaction_id":${id},"timecode":1,"topic":"press1.a","message_type":1,"data":${JSON.stringify(data)}}`, MessageType.Request);
    const frames = [
      plain(101, 1),
      // An escape: decoded, not relayed.
      frameOf('{"transaction_id":102,"topic":"press1.a","message_type":1,"data":"line\\nbreak"}', MessageType.Request),
      plain(103, { nested: [1, { deep: true }] }),
      // Non-ASCII: decoded.
      frameOf('{"transaction_id":104,"topic":"press1.a","message_type":1,"data":"Grüße"}', MessageType.Request),
      // Members in another order: the id cannot be rewritten in place, so it is decoded.
      frameOf('{"topic":"press1.a","transaction_id":105,"message_type":1,"data":5}', MessageType.Request),
      plain(106, 'six'),
    ];
    hmi.sendBytes(concat(frames));
    const replies = await Promise.all([101, 102, 103, 104, 105, 106].map((id) => hmi.response(id)));
    expect(replies.map((r) => r.data)).toEqual([
      { echo: 1 },
      { echo: 'line\nbreak' },
      { echo: { nested: [1, { deep: true }] } },
      { echo: 'Grüße' },
      { echo: 5 },
      { echo: 'six' },
    ]);
    expect(seenOrder).toEqual([1, 'line\nbreak', { nested: [1, { deep: true }] }, 'Grüße', 5, 'six']);
    expect(hmi.decodeErrors).toEqual([]);
    expect(press.decodeErrors).toEqual([]);
  });

  it('takes the ordinary path when the hub id does not fit the asker id digits', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    press.serve((m) => m.intoResponse(m.transactionId));
    const hmi = await bed.module(server, 'hmi');
    // Drive the hub's ids towards press1 past one digit, then ask with one-digit ids.
    for (let i = 0; i < 12; i++) await hmi.call(CommandMessage.request('press1.x', i));
    for (const id of [3, 7]) {
      hmi.sendBytes(frameOf(`{"transaction_id":${id},"topic":"press1.x","message_type":1,"data":null}`, MessageType.Request));
      const reply = await hmi.response(id);
      expect(reply.success).toBe(true);
      // press1 saw the hub's own, longer id.
      expect(reply.data as number).toBeGreaterThanOrEqual(10);
    }
  });

  it('answers a relayable request for an unknown domain or system.* as the ordinary path does', async () => {
    const server = await bed.server();
    const hmi = await bed.module(server, 'hmi');
    hmi.sendBytes(frameOf('{"transaction_id":9,"topic":"nobody.x","message_type":1,"data":null}', MessageType.Request));
    expect(await hmi.response(9)).toMatchObject({ success: false, errorMessage: 'Module not found: nobody' });
    hmi.sendBytes(frameOf('{"transaction_id":10,"topic":"system.ping","message_type":1,"data":null}', MessageType.Request));
    expect((await hmi.response(10)).data).toBe('pong');
  });

  it('relays a plain Broadcast as the bytes it came in, to every subscriber but its sender', async () => {
    const server = await bed.server();
    const pub = await bed.module(server, 'pub');
    const a = await bed.module(server, 'a');
    const b = await bed.module(server, 'b');
    await a.subscribe('pub.>');
    await b.subscribe('pub.axis.*');
    await pub.subscribe('pub.>');
    pub.sendBytes(frameOf('{"transaction_id":0,"topic":"pub.axis.3","message_type":3,"data":{"pos":1.5}}', MessageType.Broadcast));
    const isBroadcast = (m: CommandMessage): boolean => m.messageType === MessageType.Broadcast;
    expect((await a.expectMessage(isBroadcast)).data).toEqual({ pos: 1.5 });
    expect((await b.expectMessage(isBroadcast)).data).toEqual({ pos: 1.5 });
    await pub.expectNoMessage(isBroadcast, 100);
  });

  it('drops a late Response the hub no longer waits for, and reports it', async () => {
    const server = await bed.server();
    const errors: string[] = [];
    server.on('error', (e) => errors.push(e.error.message));
    const press = await bed.module(server, 'press1');
    press.sendBytes(frameOf('{"transaction_id":4242,"topic":"x.y","message_type":2,"data":1,"success":true}', MessageType.Response));
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.some((m) => m.includes('Response 4242'))).toBe(true);
    expect(press.isClosed).toBe(false);
  });
});
