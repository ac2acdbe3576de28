import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HEADER_SIZE,
  decodePayload,
  encodeFrame,
  encodePayload,
  patchTransactionId,
  readLength,
  withTransactionId,
} from '../../../src/core/frame.ts';
import { CommandMessage, MessageType } from '../../../src/core/message.ts';
import { frameOf } from '../../support/hand-frames.ts';

function payloadText(frame: Uint8Array): string {
  return new TextDecoder().decode(frame.subarray(HEADER_SIZE));
}

function requestFrame(transactionId: number, data: unknown = { rpm: 1200 }): Uint8Array {
  return encodeFrame(new CommandMessage({ transactionId, topic: 'press1.start', messageType: MessageType.Request, data }));
}

describe('patchTransactionId', () => {
  it('rewrites an id of the same width in place, keeping every other byte', () => {
    const frame = requestFrame(1234);
    const before = payloadText(frame);
    expect(patchTransactionId(frame, 9876)).toBe(true);
    expect(payloadText(frame)).toBe(before.replace('"transaction_id":1234,', '"transaction_id":9876,'));
    expect(readLength(frame, 0)).toBe(frame.length - HEADER_SIZE);
    expect(decodePayload(frame[4]!, frame.subarray(HEADER_SIZE)).transactionId).toBe(9876);
  });

  it('pads a shorter id with spaces, which JSON allows before the comma', () => {
    const frame = requestFrame(123456);
    const length = frame.length;
    expect(patchTransactionId(frame, 42)).toBe(true);
    expect(frame.length).toBe(length);
    expect(payloadText(frame).startsWith('{"transaction_id":42    ,"timecode":')).toBe(true);
    const back = decodePayload(frame[4]!, frame.subarray(HEADER_SIZE));
    expect(back.transactionId).toBe(42);
    expect(back.data).toEqual({ rpm: 1200 });
  });

  it('uses the padded slot again, up to its width, and refuses a wider id untouched', () => {
    const frame = requestFrame(123456);
    expect(patchTransactionId(frame, 7)).toBe(true);
    expect(patchTransactionId(frame, 999999)).toBe(true);
    expect(decodePayload(frame[4]!, frame.subarray(HEADER_SIZE)).transactionId).toBe(999999);
    const copy = Uint8Array.from(frame);
    expect(patchTransactionId(frame, 1000000)).toBe(false);
    expect(frame).toEqual(copy);
  });

  it('writes the largest u32 and 0-padded widths correctly', () => {
    const frame = requestFrame(4294967295);
    for (const id of [4294967295, 1, 10, 99, 100, 4000000000]) {
      expect(patchTransactionId(frame, id)).toBe(true);
      expect(decodePayload(frame[4]!, frame.subarray(HEADER_SIZE)).transactionId).toBe(id);
    }
  });

  it('declines, untouched, every payload withTransactionId declines', () => {
    const declined = [
      '{"topic":"a.b","transaction_id":5,"message_type":1}',
      '{ "transaction_id":5,"topic":"a.b","message_type":1}',
      '{"transaction_id":-5,"topic":"a.b","message_type":1}',
      '{"transaction_id":5.0,"topic":"a.b","message_type":1}',
      '{"transaction_id":5 .0,"topic":"a.b","message_type":1}',
      '{"transaction_id":5}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"transaction_id":5}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"transaction\\u005fid":6}',
      '{"transaction_id":5,"topic":"a.b","message_type":1,"data":{"transaction_id":1}}',
      '{"transaction_id":5,"topic":"a\\u002eb","message_type":1}',
    ];
    for (const json of declined) {
      const frame = frameOf(json, 1);
      const copy = Uint8Array.from(frame);
      expect(patchTransactionId(frame, 9), json).toBe(false);
      expect(frame).toEqual(copy);
      expect(withTransactionId(frame, 9), json).toBeUndefined();
    }
  });
});

describe('withTransactionId on a padded frame', () => {
  it('replaces the digits and the padding with the new id', () => {
    const frame = requestFrame(123456);
    patchTransactionId(frame, 42);
    const out = withTransactionId(frame, 4294967295) as Uint8Array;
    expect(out).toBeDefined();
    expect(payloadText(out).startsWith('{"transaction_id":4294967295,"timecode":')).toBe(true);
    expect(readLength(out, 0)).toBe(out.length - HEADER_SIZE);
    expect(decodePayload(out[4]!, out.subarray(HEADER_SIZE)).data).toEqual({ rpm: 1200 });
  });
});

describe('id rewriting, patched or copied', () => {
  it('always decodes to the same message with the new id', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.array(fc.nat({ max: 0xffff_ffff }), { minLength: 1, maxLength: 4 }),
        fc.jsonValue(),
        (first, ids, data) => {
          const msg = new CommandMessage({ transactionId: first, topic: 'a.b', messageType: MessageType.Response, data });
          let frame = encodeFrame(msg);
          const expected = decodePayload(frame[4]!, frame.subarray(HEADER_SIZE)).toJSON();
          for (const id of ids) {
            if (!patchTransactionId(frame, id)) {
              const copy = withTransactionId(frame, id);
              // Declined only when the payload could hide a second id (an escape in `data`).
              if (copy === undefined) return;
              frame = copy;
            }
            const back = decodePayload(frame[4]!, frame.subarray(HEADER_SIZE));
            expect(back.toJSON()).toEqual({ ...expected, transaction_id: id });
          }
        },
      ),
    );
  });
});

describe('encodePayload reuses the texts of the previous message', () => {
  it('still writes what JSON.stringify writes when topics and timecodes alternate', () => {
    const messages = [
      new CommandMessage({ topic: 'a.b', timecode: 1795616445962, messageType: MessageType.Request }),
      new CommandMessage({ topic: 'a.b', timecode: 1795616445962, messageType: MessageType.Response, errorMessage: 'x' }),
      new CommandMessage({ topic: 'c."d"', timecode: 1795616445962, messageType: MessageType.Request }),
      new CommandMessage({ topic: 'c."d"', timecode: 1795616445963, messageType: MessageType.Request }),
      new CommandMessage({ topic: 'a.b', timecode: 0, messageType: MessageType.Request }),
      new CommandMessage({ topic: '', timecode: -0, messageType: MessageType.Request }),
    ];
    for (let round = 0; round < 2; round++) {
      for (const msg of messages) expect(encodePayload(msg)).toBe(JSON.stringify(msg));
    }
  });
});
