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
