import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  HEADER_SIZE,
  PRE_REGISTRATION_MAX_PAYLOAD,
  checkHeader,
  decodeJson,
  decodePayload,
  encodeFrame,
  encodePayload,
  frameFromJson,
  readLength,
  writeHeader,
} from '../../../src/core/frame.ts';
import { FrameDecoder } from '../../../src/core/frame-decoder.ts';
import { CommandMessage, ControlType, MessageType } from '../../../src/core/message.ts';
import { ascii } from '../../support/hand-frames.ts';

// ---------------------------------------------------------------------------------------------
// Helpers that build bytes WITHOUT the codec under test.
// ---------------------------------------------------------------------------------------------


function bytes(...parts: Array<number[] | string>): Uint8Array {
  const flat: number[] = [];
  for (const p of parts) flat.push(...(typeof p === 'string' ? ascii(p) : p));
  return Uint8Array.from(flat);
}

/** A frame for an ASCII JSON text, with the header computed here (not by the encoder). */
function asciiFrame(type: number, json: string): Uint8Array {
  const n = json.length;
  return bytes([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, type], json);
}

/** Asserts byte equality; reports the first differing offset (fast on large arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  let diff = -1;
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      diff = i;
      break;
    }
  }
  expect({ length: actual.length, firstDifferenceAt: diff }).toEqual({
    length: expected.length,
    firstDifferenceAt: -1,
  });
}

function catchIpc(fn: () => unknown): IpcError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error('expected an IpcError, nothing was thrown');
}

function decodeOne(frame: Uint8Array): CommandMessage {
  const out = new FrameDecoder().push(frame);
  expect(out).toHaveLength(1);
  const [item] = out;
  if (!(item instanceof CommandMessage)) throw item;
  return item;
}

// ---------------------------------------------------------------------------------------------
// Golden vectors, written by hand from PROTOCOL.md sections 1-3. Lengths were counted by hand;
// the comments show the count.
// ---------------------------------------------------------------------------------------------

/** Request, ASCII only. */
const G1_MESSAGE = (): CommandMessage =>
  new CommandMessage({
    transactionId: 42,
    timecode: 1700000000000,
    topic: 'ads.plc1.GM.stData',
    messageType: MessageType.Request,
    data: { rpm: 1200, on: true },
  });
// {=1 "transaction_id":42,=20 "timecode":1700000000000,=25 "topic":"ads.plc1.GM.stData",=29
// "message_type":1,=17 "data":{"rpm":1200,"on":true},=30 "crc":0,=8 "success":false,=16
// "error_message":""=18 }=1  -> 165 = 0xA5
const G1_JSON =
  '{"transaction_id":42,"timecode":1700000000000,"topic":"ads.plc1.GM.stData","message_type":1,' +
  '"data":{"rpm":1200,"on":true},"crc":0,"success":false,"error_message":""}';
const G1_FRAME = bytes([0xa5, 0x00, 0x00, 0x00, 0x01], G1_JSON);

/** Control/Register: control_type comes last. */
const G2_MESSAGE = (): CommandMessage => {
  const msg = new CommandMessage({
    transactionId: 7,
    timecode: 0,
    topic: 'press1',
    messageType: MessageType.Control,
    data: { name: 'press1', version: '1.0.0', capabilities: ['press1.start'] },
  });
  msg.controlType = ControlType.Register;
  return msg;
};
// {=1 "transaction_id":7,=19 "timecode":0,=13 "topic":"press1",=17 "message_type":4,=17
// "data":=7 {"name":"press1","version":"1.0.0","capabilities":["press1.start"]}=67 ,=1
// "crc":0,=8 "success":false,=16 "error_message":"",=19 "control_type":3=16 }=1 -> 202 = 0xCA
const G2_JSON =
  '{"transaction_id":7,"timecode":0,"topic":"press1","message_type":4,' +
  '"data":{"name":"press1","version":"1.0.0","capabilities":["press1.start"]},' +
  '"crc":0,"success":false,"error_message":"","control_type":3}';
const G2_FRAME = bytes([0xca, 0x00, 0x00, 0x00, 0x04], G2_JSON);

/** Broadcast with a 2-byte (é) and a 4-byte (🚀) character; length > 255. */
const G3_MESSAGE = (): CommandMessage =>
  new CommandMessage({
    transactionId: 0,
    timecode: 1,
    topic: 'hmi.température',
    messageType: MessageType.Broadcast,
    data: '🚀' + 'x'.repeat(250),
    success: true,
  });
// {=1 "transaction_id":0,=19 "timecode":1,=13 "topic":"hmi.température",=27 (é is 2 bytes)
// "message_type":3,=17 "data":=7 "🚀xxx…"=256 (🚀 is 4 bytes) ,=1 "crc":0,=8
// "success":true,=15 "error_message":""=18 }=1  -> 383 = 0x017F
const G3_FRAME = bytes(
  [0x7f, 0x01, 0x00, 0x00, 0x03],
  '{"transaction_id":0,"timecode":1,"topic":"hmi.temp',
  [0xc3, 0xa9], // é
  'rature","message_type":3,"data":"',
  [0xf0, 0x9f, 0x9a, 0x80], // 🚀 U+1F680
  'x'.repeat(250),
  '","crc":0,"success":true,"error_message":""}',
);

/** Failed Response with u32 max members and a payload > 64 KiB (3 length bytes in use). */
const G4_MESSAGE = (): CommandMessage =>
  new CommandMessage({
    transactionId: 4294967295,
    timecode: 1,
    topic: 't',
    messageType: MessageType.Response,
    data: 'y'.repeat(70000),
    crc: 4294967295,
    success: false,
    errorMessage: 'boom',
  });
// {=1 "transaction_id":4294967295,=28 "timecode":1,=13 "topic":"t",=12 "message_type":2,=17
// "data":"=8 y*70000 ",=2 "crc":4294967295,=17 "success":false,=16 "error_message":"boom"=22 }=1
// -> 70137 = 0x0111F9
const G4_FRAME = bytes(
  [0xf9, 0x11, 0x01, 0x00, 0x02],
  '{"transaction_id":4294967295,"timecode":1,"topic":"t","message_type":2,"data":"',
  'y'.repeat(70000),
  '","crc":4294967295,"success":false,"error_message":"boom"}',
);

const GOLDEN: Array<[string, () => CommandMessage, Uint8Array]> = [
  ['a Request', G1_MESSAGE, G1_FRAME],
  ['a Control/Register', G2_MESSAGE, G2_FRAME],
  ['a non-ASCII Broadcast', G3_MESSAGE, G3_FRAME],
  ['a 70 KB failed Response', G4_MESSAGE, G4_FRAME],
];

describe('frame constants', () => {
  it('match PROTOCOL.md sections 1 and 8', () => {
    expect(HEADER_SIZE).toBe(5);
    expect(DEFAULT_MAX_PAYLOAD).toBe(4 * 1024 * 1024);
    expect(PRE_REGISTRATION_MAX_PAYLOAD).toBe(64 * 1024);
  });
});

describe('golden vectors', () => {
  it('have the lengths counted by hand', () => {
    // Self-check of the vectors: header length == bytes after the header.
    for (const [, , frame] of GOLDEN) {
      expect(readLength(frame, 0)).toBe(frame.length - HEADER_SIZE);
    }
    expect(G1_FRAME.length - 5).toBe(165);
    expect(G2_FRAME.length - 5).toBe(202);
    expect(G3_FRAME.length - 5).toBe(383);
    expect(G4_FRAME.length - 5).toBe(70137);
  });

  it.each(GOLDEN)('encodeFrame writes %s byte for byte', (_name, make, expected) => {
    const frame = encodeFrame(make());
    expect(frame).toBeInstanceOf(Uint8Array);
    expect(frame.length).toBe(expected.length);
    expect(Array.from(frame.subarray(0, HEADER_SIZE))).toEqual(
      Array.from(expected.subarray(0, HEADER_SIZE)),
    );
    expectSameBytes(frame, expected);
  });

  it('encodePayload writes the members in the documented order', () => {
    expect(encodePayload(G1_MESSAGE())).toBe(G1_JSON);
    expect(encodePayload(G2_MESSAGE())).toBe(G2_JSON);
  });

  it.each(GOLDEN)('decodes %s back to the same message', (_name, make, frame) => {
    const expected = make();
    const msg = decodeOne(frame);
    expect(msg.toJSON()).toEqual(expected.toJSON());
    expect(msg.controlType).toBe(expected.controlType);
    const direct = decodePayload(frame[4]!, frame.subarray(HEADER_SIZE));
    expect(direct.toJSON()).toEqual(expected.toJSON());
  });

  it('reads the length as little-endian u32', () => {
    expect(readLength(Uint8Array.of(0x01, 0x02, 0x03, 0x04), 0)).toBe(0x04030201);
    expect(readLength(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0)).toBe(4294967295);
    expect(readLength(Uint8Array.of(9, 0x00, 0x00, 0x00, 0x80), 1)).toBe(0x80000000);
    const target = new Uint8Array(5);
    writeHeader(target, 0x80a1b2c3, 9);
    expect(Array.from(target)).toEqual([0xc3, 0xb2, 0xa1, 0x80, 9]);
  });
});

describe('decoding hand-written frames', () => {
  it('accepts members in any order', () => {
    const msg = decodeOne(
      asciiFrame(
        2,
        '{"error_message":"no","success":false,"crc":9,"data":[1,2],"message_type":2,' +
          '"topic":"a.b","timecode":5,"transaction_id":77}',
      ),
    );
    expect(msg.toJSON()).toEqual({
      transaction_id: 77,
      timecode: 5,
      topic: 'a.b',
      message_type: 2,
      data: [1, 2],
      crc: 9,
      success: false,
      error_message: 'no',
    });
  });

  it('ignores unknown members, wherever they are', () => {
    const msg = decodeOne(
      asciiFrame(
        3,
        '{"zzz":1,"transaction_id":0,"topic":"a","x":{"deep":[1,{"y":null}]},' +
          '"message_type":3,"data":true,"version":"2","__meta":[]}',
      ),
    );
    expect(msg.messageType).toBe(MessageType.Broadcast);
    expect(msg.data).toBe(true);
    expect(Object.keys(msg.toJSON())).not.toContain('zzz');
  });

  it('fills in missing optional members', () => {
    const msg = decodeOne(asciiFrame(1, '{"transaction_id":3,"topic":"a.b","message_type":1}'));
    expect(msg.toJSON()).toEqual({
      transaction_id: 3,
      timecode: 0,
      topic: 'a.b',
      message_type: 1,
      data: null,
      crc: 0,
      success: false,
      error_message: '',
    });
  });

  it('accepts message_type as the variant name when it matches the header byte', () => {
    const msg = decodeOne(
      asciiFrame(4, '{"transaction_id":3,"topic":"m","message_type":"Control","control_type":4}'),
    );
    expect(msg.messageType).toBe(MessageType.Control);
    expect(msg.controlType).toBe(ControlType.RegisterAck);
    const hb = decodeOne(
      asciiFrame(9, '{"message_type":"Heartbeat","transaction_id":0,"topic":""}'),
    );
    expect(hb.messageType).toBe(MessageType.Heartbeat);
  });

  it('accepts insignificant JSON whitespace', () => {
    const msg = decodeOne(
      asciiFrame(1, ' \n{ "transaction_id" : 1 ,\t"topic":"a" , "message_type" : 1 }\r\n '),
    );
    expect(msg.transactionId).toBe(1);
  });

  it('decodes JSON escapes, including escaped non-ASCII', () => {
    const msg = decodeOne(
      asciiFrame(
        1,
        '{"transaction_id":1,"topic":"a\\u002eb","message_type":1,"data":"\\u00e9\\ud83d\\ude80\\n\\"q\\""}',
      ),
    );
    expect(msg.topic).toBe('a.b');
    expect(msg.domain).toBe('a');
    expect(msg.data).toBe('é🚀\n"q"');
  });

  it('decodes the WebSocket text form with decodeJson (no header)', () => {
    const msg = decodeJson('{"transaction_id":1,"topic":"system.ping","message_type":"Request"}');
    expect(msg.messageType).toBe(MessageType.Request);
    expect(msg.domain).toBe('system');
  });

  it('rejects a message_type that differs from the header byte', () => {
    const err = catchIpc(() =>
      decodePayload(2, bytes('{"transaction_id":1,"topic":"a","message_type":1}')),
    );
    expect(err.code).toBe('ERR_FRAMING');
    expect(err.message).toMatch(/differs from the header/);
  });
});

describe('non-ASCII text', () => {
  it('announces the length in UTF-8 bytes, not characters', () => {
    const cases = ['ü', '€', '𝄞', '🚀', '👩‍🔧', 'Grüße, 世界'];
    for (const text of cases) {
      const empty = encodeFrame(
        new CommandMessage({ transactionId: 1, timecode: 0, topic: 't', messageType: 3, data: '' }),
      );
      const msg = new CommandMessage({
        transactionId: 1,
        timecode: 0,
        topic: 't',
        messageType: 3,
        data: text,
      });
      const frame = encodeFrame(msg);
      const utf8Bytes = new TextEncoder().encode(text).length;
      expect(utf8Bytes).toBeGreaterThan(text.length); // more bytes than UTF-16 units
      expect(readLength(frame, 0)).toBe(readLength(empty, 0) + utf8Bytes);
      expect(frame.length).toBe(HEADER_SIZE + readLength(frame, 0));
      expect(decodeOne(frame).data).toBe(text);
    }
  });

  it('round-trips multi-byte topics and data, small and large', () => {
    for (const repeat of [1, 10_000]) {
      const topic = 'hmi.' + 'ÄÖÜ€🚀'.repeat(repeat);
      const data = { label: '温度 🌡️', list: ['é'.repeat(repeat), '\u2028\u2029'] };
      const msg = new CommandMessage({ transactionId: 2, topic, messageType: 1, data });
      const frame = encodeFrame(msg);
      expect(readLength(frame, 0)).toBe(new TextEncoder().encode(encodePayload(msg)).length);
      const back = decodeOne(frame);
      expect(back.topic).toBe(topic);
      expect(back.data).toEqual(data);
    }
  });

  it('round-trips lone surrogates through JSON escapes', () => {
    const msg = new CommandMessage({
      transactionId: 1,
      topic: 't',
      messageType: 1,
      data: '\ud800x\udfff',
    });
    const frame = encodeFrame(msg);
    expect(decodeOne(frame).data).toBe('\ud800x\udfff');
  });
});

describe('encodeFrame', () => {
  it('returns frames that do not share memory with later ones', () => {
    const a = encodeFrame(CommandMessage.request('a.first', { n: 1 }));
    const copy = Uint8Array.from(a);
    const b = encodeFrame(CommandMessage.request('b.second', { n: 2, more: 'x'.repeat(100) }));
    expect(a).toEqual(copy);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(a.length);
  });

  it('writes the message type in the header byte for every type', () => {
    for (const t of Object.values(MessageType)) {
      const frame = encodeFrame(new CommandMessage({ topic: 't', messageType: t }));
      expect(frame[4]).toBe(t);
      expect(decodeOne(frame).messageType).toBe(t);
    }
  });

  it('frames an already serialised payload with frameFromJson', () => {
    const frame = frameFromJson(G1_JSON, 1);
    expectSameBytes(frame, G1_FRAME);
  });

  it('encodes payloads around the scratch-buffer size identically', () => {
    for (const n of [16 * 1024 - 200, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 40_000]) {
      for (const ch of ['a', 'é', '€']) {
        const msg = new CommandMessage({
          transactionId: 1,
          timecode: 0,
          topic: 't',
          messageType: 1,
        });
        const base = encodePayload(msg).length;
        msg.data = ch.repeat(Math.max(0, n - base - 2));
        const json = encodePayload(msg);
        const frame = encodeFrame(msg);
        const expectedPayload = new TextEncoder().encode(json);
        expect(readLength(frame, 0)).toBe(expectedPayload.length);
        expectSameBytes(frame.subarray(HEADER_SIZE), expectedPayload);
      }
    }
  });

  describe('serialisation errors', () => {
    it('reports BigInt as ERR_SERIALIZATION with the cause kept', () => {
      const msg = CommandMessage.request('a.b', { counter: 10n });
      const err = catchIpc(() => encodeFrame(msg));
      expect(err.code).toBe('ERR_SERIALIZATION');
      expect(err.kind).toBe('Serialization');
      expect(err.cause).toBeInstanceOf(TypeError);
      expect(err.message).toContain('a.b');
      expect(catchIpc(() => encodePayload(msg)).code).toBe('ERR_SERIALIZATION');
    });

    it('reports a cycle as ERR_SERIALIZATION', () => {
      const data: Record<string, unknown> = { a: 1 };
      data.self = data;
      const err = catchIpc(() => encodeFrame(CommandMessage.request('a.b', data)));
      expect(err.code).toBe('ERR_SERIALIZATION');
      expect(err.cause).toBeInstanceOf(TypeError);
    });

    it('reports a throwing toJSON as ERR_SERIALIZATION', () => {
      const data = {
        toJSON() {
          throw new Error('nope');
        },
      };
      expect(catchIpc(() => encodeFrame(CommandMessage.request('a.b', data))).code).toBe(
        'ERR_SERIALIZATION',
      );
    });
  });

  describe('payload limit', () => {
    it('accepts a payload of exactly maxPayload bytes and rejects one byte more', () => {
      const msg = CommandMessage.request('a.b', 'x'.repeat(50));
      const n = new TextEncoder().encode(encodePayload(msg)).length;
      expect(readLength(encodeFrame(msg, n), 0)).toBe(n);
      const err = catchIpc(() => encodeFrame(msg, n - 1));
      expect(err.code).toBe('ERR_PAYLOAD_TOO_LARGE');
      expect(err.kind).toBe('Framing');
      expect(err.message).toMatch(/Message too large/);
    });

    it('counts UTF-8 bytes, not characters, against the limit', () => {
      // 40 euro signs: 40 characters but 120 bytes.
      const msg = new CommandMessage({ transactionId: 1, timecode: 0, topic: 't', messageType: 1 });
      msg.data = '€'.repeat(40);
      const chars = encodePayload(msg).length;
      const utf8 = new TextEncoder().encode(encodePayload(msg)).length;
      expect(utf8).toBe(chars + 80);
      expect(() => encodeFrame(msg, utf8)).not.toThrow();
      expect(catchIpc(() => encodeFrame(msg, utf8 - 1)).code).toBe('ERR_PAYLOAD_TOO_LARGE');
      expect(catchIpc(() => encodeFrame(msg, chars)).code).toBe('ERR_PAYLOAD_TOO_LARGE');
    });

    it('enforces the 4 MiB default', () => {
      const msg = CommandMessage.broadcast('big.data', 'z'.repeat(DEFAULT_MAX_PAYLOAD));
      expect(catchIpc(() => encodeFrame(msg)).code).toBe('ERR_PAYLOAD_TOO_LARGE');
      expect(catchIpc(() => frameFromJson(encodePayload(msg), 3)).code).toBe(
        'ERR_PAYLOAD_TOO_LARGE',
      );
    });
  });
});

describe('decodePayload', () => {
  it('rejects invalid UTF-8 as a framing error', () => {
    const err = catchIpc(() =>
      decodePayload(1, bytes('{"transaction_id":1,"topic":"', [0xc0, 0xaf], '","message_type":1}')),
    );
    expect(err.code).toBe('ERR_FRAMING');
    expect(err.message).toMatch(/UTF-8/);
  });

  it('rejects a byte order mark before the JSON', () => {
    const err = catchIpc(() =>
      decodePayload(
        1,
        bytes([0xef, 0xbb, 0xbf], '{"transaction_id":1,"topic":"a","message_type":1}'),
      ),
    );
    expect(err.code).toBe('ERR_FRAMING');
    expect(err.message).toMatch(/not JSON/);
  });

  it('keeps the BOM check after an earlier failure (decoder state is not sticky)', () => {
    const good = bytes('{"transaction_id":1,"topic":"a","message_type":1}');
    expect(() => decodePayload(1, bytes([0xe2, 0x82]))).toThrow(IpcError);
    expect(decodePayload(1, good).topic).toBe('a');
    expect(() => decodePayload(1, bytes([0xef, 0xbb, 0xbf], '{}'))).toThrow(/not JSON/);
    expect(decodePayload(1, good).topic).toBe('a');
  });

  it('rejects a message_type that is deeply nested as a framing error, not a crash', () => {
    const depth = 100_000;
    const text =
      '{"transaction_id":1,"topic":"a","message_type":' +
      '['.repeat(depth) +
      ']'.repeat(depth) +
      '}';
    const err = catchIpc(() => decodeJson(text));
    expect(err.code).toBe('ERR_FRAMING');
    expect(err.message.length).toBeLessThan(200);
  });

  it('names an over-long message_type string without copying all of it', () => {
    const text = '{"transaction_id":1,"topic":"a","message_type":"' + 'R'.repeat(100_000) + '"}';
    const err = catchIpc(() => decodeJson(text));
    expect(err.code).toBe('ERR_FRAMING');
    expect(err.message.length).toBeLessThan(200);
  });
});

describe('checkHeader', () => {
  it('accepts 1..maxPayload bytes and the types 0..9', () => {
    expect(() => checkHeader(1, 0, 10, 0)).not.toThrow();
    expect(() => checkHeader(10, 9, 10, 0)).not.toThrow();
  });

  it('names the fault and the stream offset', () => {
    expect(catchIpc(() => checkHeader(0, 1, 10, 17)).message).toMatch(/offset 17.*empty/);
    expect(catchIpc(() => checkHeader(11, 1, 10, 0)).message).toMatch(/11 bytes.*limit of 10/);
    expect(catchIpc(() => checkHeader(5, 10, 10, 0)).message).toMatch(/type byte 10/);
    for (const fn of [() => checkHeader(0, 1, 10, 0), () => checkHeader(5, 200, 10, 0)]) {
      expect(catchIpc(fn).code).toBe('ERR_FRAMING');
    }
  });
});
