import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HEADER_SIZE,
  decodePayload,
  encodeFrame,
  encodePayload,
  readLength,
  sharedFrameFromJson,
  withTransactionId,
} from '../../../src/core/frame.ts';
import { CommandMessage, ControlType, MessageType } from '../../../src/core/message.ts';
import { frameOf } from '../../support/hand-frames.ts';



function payloadText(frame: Uint8Array): string {
  return new TextDecoder().decode(frame.subarray(HEADER_SIZE));
}

describe('encodePayload', () => {
  it('writes exactly what JSON.stringify writes for every kind of message', () => {
    const samples = [
      CommandMessage.request('press1.axis.3.move', { position: 125.75, unit: 'mm', list: [1, 'a', null] }),
      CommandMessage.broadcast('press1.speed', 1200),
      CommandMessage.control(ControlType.Register, 'press1', { name: 'press1', capabilities: [] }),
      new CommandMessage({ topic: 'a.b', messageType: MessageType.Control }),
      CommandMessage.request('q"uote\\d.\u0001ctl', 'line\nbreak \ud800 lone'),
      new CommandMessage({ topic: 'd.date', data: new Date(0), success: true, errorMessage: 'x"y' }),
      new CommandMessage({ topic: 'u.undef', data: undefined }),
      new CommandMessage({ topic: 'n.neg', transactionId: 0, timecode: -5, crc: 4294967295 }),
    ];
    for (const msg of samples) expect(encodePayload(msg)).toBe(JSON.stringify(msg));
  });

  it('falls back to JSON.stringify for members of unexpected types', () => {
    const odd = [
      Object.assign(CommandMessage.request('a.b'), { timecode: Number.NaN }),
      Object.assign(CommandMessage.request('a.b'), { data: () => 1 }),
      Object.assign(CommandMessage.request('a.b'), { success: 'yes' as unknown as boolean }),
      Object.assign(CommandMessage.request('a.b'), { transactionId: Infinity }),
      Object.assign(CommandMessage.control(ControlType.Status, 'a'), {
        controlType: 'x' as unknown as ControlType,
      }),
    ];
    for (const msg of odd) expect(encodePayload(msg)).toBe(JSON.stringify(msg));
  });

  it('matches JSON.stringify on generated messages', () => {
    fc.assert(
      fc.property(
        fc.record({
          transactionId: fc.nat({ max: 0xffff_ffff }),
          timecode: fc.maxSafeNat(),
          topic: fc.string(),
          messageType: fc.constantFrom(...Object.values(MessageType)),
          data: fc.jsonValue(),
          crc: fc.nat({ max: 0xffff_ffff }),
          success: fc.boolean(),
          errorMessage: fc.string(),
        }),
        (init) => {
          const msg = new CommandMessage(init);
          expect(encodePayload(msg)).toBe(JSON.stringify(msg));
        },
      ),
    );
  });
});

describe('withTransactionId', () => {
  it('rewrites only the transaction id of a frame this encoder wrote', () => {
    const msg = CommandMessage.request('press1.start', { rpm: 1200, note: 'transaction' });
    msg.transactionId = 7;
    const frame = encodeFrame(msg);
    for (const id of [1, 42, 4294967295]) {
      const out = withTransactionId(frame, id);
      expect(out).toBeDefined();
      const patched = out as Uint8Array;
      expect(readLength(patched, 0)).toBe(patched.length - HEADER_SIZE);
      expect(patched[4]).toBe(MessageType.Request);
      expect(payloadText(patched)).toBe(payloadText(frame).replace('"transaction_id":7,', `"transaction_id":${id},`));
      const back = decodePayload(patched[4] as number, patched.subarray(HEADER_SIZE));
      expect(back.toJSON()).toEqual({ ...msg.toJSON(), transaction_id: id });
    }
  });

  it('leaves the original frame untouched', () => {
    const frame = encodeFrame(new CommandMessage({ transactionId: 5, topic: 'a.b', messageType: MessageType.Response }));
    const copy = Uint8Array.from(frame);
    withTransactionId(frame, 123456);
    expect(frame).toEqual(copy);
  });

  it('declines payloads of another shape', () => {
    const declined = [
      '{"topic":"a.b","transaction_id":5,"message_type":1}',
      '{ "transaction_id":5,"topic":"a.b","message_type":1}',
      '{"transaction_id":-5,"topic":"a.b","message_type":1}',
      '{"transaction_id":5.0,"topic":"a.b","message_type":1}',
      '{"transaction_id":5}',
    ];
    for (const json of declined) expect(withTransactionId(frameOf(json, 1), 9)).toBeUndefined();
  });

  it('declines a payload that could hold a second transaction_id', () => {
    const declined = [
      // JSON.parse keeps the last of duplicate keys: patching the first would change nothing.
      '{"transaction_id":5,"topic":"a.b","message_type":1,"transaction_id":5}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"transaction_id":6}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"transaction\\u005fid":6}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"data":{"transaction_id":1}}',
      // Any \u escape declines (it might spell the key), even one that does not.
      '{"transaction_id":5,"topic":"a\\u002eb","message_type":1}',
    ];
    for (const json of declined) expect(withTransactionId(frameOf(json, 1), 9)).toBeUndefined();
  });

  it('still patches payloads with escapes that cannot spell a key', () => {
    const json = '{"transaction_id":5,"topic":"a.b","message_type":1,"data":"back\\\\u slash \\" \\n"}';
    const out = withTransactionId(frameOf(json, 1), 9) as Uint8Array;
    expect(out).toBeDefined();
    expect(decodePayload(1, out.subarray(HEADER_SIZE)).transactionId).toBe(9);
    expect(decodePayload(1, out.subarray(HEADER_SIZE)).data).toBe('back\\u slash " \n');
  });
});

describe('sharedFrameFromJson', () => {
  it('gives frames equal to encodeFrame, each with bytes of its own', () => {
    const a = CommandMessage.request('a.first', { n: 1 });
    const b = CommandMessage.request('b.second', { n: 2, text: 'é'.repeat(50) });
    const fa = sharedFrameFromJson(encodePayload(a), a.messageType);
    const copy = Uint8Array.from(fa);
    const fb = sharedFrameFromJson(encodePayload(b), b.messageType);
    expect(fa).toEqual(encodeFrame(a));
    expect(fb).toEqual(encodeFrame(b));
    expect(fa).toEqual(copy);
  });

  it('refuses a payload over the limit', () => {
    const msg = CommandMessage.request('a.big', 'x'.repeat(100));
    expect(() => sharedFrameFromJson(encodePayload(msg), msg.messageType, 50)).toThrow(/too large/);
  });
});
