import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import { HEADER_SIZE, encodeFrame } from '../../../src/core/frame.ts';
import { FrameDecoder } from '../../../src/core/frame-decoder.ts';
import {
  CommandMessage,
  ControlType,
  MessageType,
  type CommandMessageWire,
} from '../../../src/core/message.ts';
import { ascii } from '../../support/hand-frames.ts';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------


/** Header for `length` payload bytes of type `type`, written by hand (LE u32 + type byte). */
function header(length: number, type: number): number[] {
  return [length & 0xff, (length >>> 8) & 0xff, (length >>> 16) & 0xff, length >>> 24, type];
}

/** A frame around raw payload bytes. */
function rawFrame(type: number, payload: number[] | Uint8Array): Uint8Array {
  return Uint8Array.from([...header(payload.length, type), ...payload]);
}

/** A frame around an ASCII JSON text. */
function jsonFrame(type: number, json: string): Uint8Array {
  return rawFrame(type, ascii(json));
}

/** A small valid Request frame with the given transaction id. */
function requestFrame(txid: number, topic = 'a.b'): Uint8Array {
  return jsonFrame(1, `{"transaction_id":${txid},"topic":"${topic}","message_type":1}`);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feeds `bytes` in chunks ending at the given cut points; returns everything decoded. */
function feed(
  decoder: FrameDecoder,
  bytes: Uint8Array,
  cuts: readonly number[],
): Array<CommandMessage | IpcError> {
  const out: Array<CommandMessage | IpcError> = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut < from) continue;
    // Always copy: the decoder must not depend on the chunk's backing buffer.
    out.push(...decoder.push(bytes.slice(from, cut)));
    from = cut;
  }
  return out;
}

function feedBytewise(decoder: FrameDecoder, bytes: Uint8Array): Array<CommandMessage | IpcError> {
  const out: Array<CommandMessage | IpcError> = [];
  for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1)));
  return out;
}

function messagesOnly(items: Array<CommandMessage | IpcError>): CommandMessage[] {
  for (const item of items) if (item instanceof IpcError) throw item;
  return items as CommandMessage[];
}

/** The single ERR_FRAMING error a push must return; checks it is last and fatal. */
function expectFatal(items: Array<CommandMessage | IpcError>, pattern: RegExp): IpcError {
  const last = items[items.length - 1];
  expect(last).toBeInstanceOf(IpcError);
  const err = last as IpcError;
  expect(err.code).toBe('ERR_FRAMING');
  expect(err.kind).toBe('Framing');
  expect(err.message).toMatch(pattern);
  for (const item of items.slice(0, -1)) {
    if (item instanceof IpcError) expect(item.code).not.toBe('ERR_FRAMING');
  }
  return err;
}

/** What a message must look like after the wire: JSON-normalised (e.g. -0 becomes 0). */
function wireOf(msg: CommandMessage): CommandMessageWire {
  return JSON.parse(JSON.stringify(msg)) as CommandMessageWire;
}

function snapshotObjectPrototype(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

const messageArb: fc.Arbitrary<CommandMessage> = fc
  .record({
    transactionId: fc.nat({ max: 0xffff_ffff }),
    timecode: fc.maxSafeNat(),
    topic: fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 40 })),
    messageType: fc.constantFrom(...Object.values(MessageType)),
    data: fc.jsonValue({ maxDepth: 4 }),
    crc: fc.nat({ max: 0xffff_ffff }),
    success: fc.boolean(),
    errorMessage: fc.string({ unit: 'grapheme', maxLength: 20 }),
    controlType: fc.constantFrom(...Object.values(ControlType)),
  })
  .map((init) => {
    const msg = new CommandMessage(init);
    if (msg.messageType !== MessageType.Control) msg.controlType = undefined;
    return msg;
  });

const REQUEST_BASE = '{"transaction_id":1,"topic":"","message_type":1}';

/** A JSON payload of exactly `n` ASCII bytes (n >= 48): a Request with a padded topic. */
function requestJsonOfLength(n: number): string {
  if (n < REQUEST_BASE.length)
    throw new Error(`requestJsonOfLength: ${n} < ${REQUEST_BASE.length}`);
  const json = `{"transaction_id":1,"topic":"${'p'.repeat(n - REQUEST_BASE.length)}","message_type":1}`;
  expect(json.length).toBe(n);
  return json;
}

// ---------------------------------------------------------------------------------------------

describe('FrameDecoder', () => {
  describe('splitting', () => {
    const frames = [
      requestFrame(1),
      encodeFrame(CommandMessage.broadcast('hmi.température', { emoji: '🚀', n: [1, 2, 3] })),
      encodeFrame(CommandMessage.control(ControlType.Register, 'press1', { name: 'press1' })),
      jsonFrame(9, '{"transaction_id":0,"topic":"","message_type":9}'),
      requestFrame(5, 'x'.repeat(300)),
    ];
    const stream = concat(...frames);
    const expected = frames.map((f) => wireOf(messagesOnly(new FrameDecoder().push(f))[0]!));

    it('decodes a stream of several frames fed one byte at a time', () => {
      const decoder = new FrameDecoder();
      const out = messagesOnly(feedBytewise(decoder, stream));
      expect(out.map(wireOf)).toEqual(expected);
      expect(decoder.inFrame).toBe(false);
      expect(decoder.bufferedBytes).toBe(0);
    });

    it('decodes many frames from one chunk', () => {
      const many = Array.from({ length: 1000 }, (_, i) => requestFrame(i + 1));
      const out = messagesOnly(new FrameDecoder().push(concat(...many)));
      expect(out).toHaveLength(1000);
      expect(out.map((m) => m.transactionId)).toEqual(many.map((_, i) => i + 1));
    });

    it('reports whether a frame is in progress and how many bytes it holds', () => {
      const decoder = new FrameDecoder();
      const frame = requestFrame(3);
      expect(decoder.inFrame).toBe(false);
      for (let i = 0; i < frame.length - 1; i++) {
        expect(decoder.push(frame.subarray(i, i + 1))).toEqual([]);
        expect(decoder.inFrame).toBe(true);
        expect(decoder.bufferedBytes).toBe(i + 1);
      }
      expect(decoder.push(frame.subarray(frame.length - 1))).toHaveLength(1);
      expect(decoder.inFrame).toBe(false);
      expect(decoder.bufferedBytes).toBe(0);
    });

    for (let cut = 1; cut <= HEADER_SIZE; cut++) {
      it(`decodes a frame whose first chunk ends after ${cut} header byte(s)`, () => {
        // Preceded by a whole frame so the split header starts mid-chunk.
        const first = requestFrame(1);
        const second = requestFrame(2);
        const bytes = concat(first, second);
        const out = messagesOnly(feed(new FrameDecoder(), bytes, [first.length + cut]));
        expect(out.map((m) => m.transactionId)).toEqual([1, 2]);
      });
    }

    it('decodes a header split over three chunks', () => {
      const frame = requestFrame(8);
      const out = messagesOnly(feed(new FrameDecoder(), frame, [1, 3]));
      expect(out.map((m) => m.transactionId)).toEqual([8]);
    });

    it('decodes a frame that ends in the same chunk as the next one starts', () => {
      const bytes = concat(requestFrame(1), requestFrame(2), requestFrame(3));
      const out = messagesOnly(feed(new FrameDecoder(), bytes, [10, 10 + 50]));
      expect(out.map((m) => m.transactionId)).toEqual([1, 2, 3]);
    });

    it('ignores empty chunks', () => {
      const decoder = new FrameDecoder();
      expect(decoder.push(new Uint8Array(0))).toEqual([]);
      const frame = requestFrame(4);
      decoder.push(frame.subarray(0, 3));
      expect(decoder.push(new Uint8Array(0))).toEqual([]);
      expect(messagesOnly(decoder.push(frame.subarray(3)))[0]?.transactionId).toBe(4);
    });

    it('returns the input for arbitrary messages and arbitrary split points (property)', () => {
      fc.assert(
        fc.property(
          fc.array(messageArb, { minLength: 1, maxLength: 8 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (msgs, rawCuts) => {
            const bytes = concat(...msgs.map((m) => encodeFrame(m)));
            const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort(
              (a, b) => a - b,
            );
            const decoder = new FrameDecoder();
            const out = messagesOnly(feed(decoder, bytes, cuts));
            expect(out.map(wireOf)).toEqual(msgs.map(wireOf));
            expect(out.map((m) => m.controlType)).toEqual(msgs.map((m) => m.controlType));
            expect(decoder.inFrame).toBe(false);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('zero-copy and memory', () => {
    it('hands out a frame that lies whole inside a chunk as a view of that chunk', () => {
      const chunk = concat(requestFrame(1), requestFrame(2));
      const seen: Array<{ payload: Uint8Array; frame: Uint8Array }> = [];
      new FrameDecoder().pushFrames(chunk, (_type, payload, frame) =>
        seen.push({ payload, frame }),
      );
      expect(seen).toHaveLength(2);
      for (const { payload, frame } of seen) {
        expect(payload.buffer).toBe(chunk.buffer);
        expect(frame.buffer).toBe(chunk.buffer);
        expect(payload.byteOffset).toBe(frame.byteOffset + HEADER_SIZE);
      }
      expect(seen[1]!.frame.byteOffset).toBe(requestFrame(1).length);
    });

    it('hands out split frames in a buffer of exactly the frame size', () => {
      const frame = requestFrame(1);
      const decoder = new FrameDecoder();
      const seen: Uint8Array[] = [];
      const sink = (_t: number, _p: Uint8Array, f: Uint8Array): void => {
        seen.push(f);
      };
      decoder.pushFrames(frame.slice(0, 7), sink);
      decoder.pushFrames(frame.slice(7), sink);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.buffer.byteLength).toBe(frame.length);
      expect(Array.from(seen[0]!)).toEqual(Array.from(frame));
    });

    it('holds one buffer of the frame size for a 256 KiB frame fed 1 byte at a time', () => {
      const payloadLength = 256 * 1024;
      const frame = jsonFrame(1, requestJsonOfLength(payloadLength));
      const decoder = new FrameDecoder();
      const handedOut: Uint8Array[] = [];
      let maxBuffered = 0;
      let linear = true;
      for (let i = 0; i < frame.length; i++) {
        decoder.pushFrames(frame.subarray(i, i + 1), (_t, _p, f) => handedOut.push(f));
        const held = decoder.bufferedBytes;
        if (i < frame.length - 1 && held !== i + 1) linear = false;
        if (held > maxBuffered) maxBuffered = held;
      }
      // Holds exactly what has arrived (no chunk list; its buffer grows with the bytes, never
      // to a size only announced)...
      expect(linear).toBe(true);
      expect(maxBuffered).toBe(frame.length - 1);
      // ... in a single allocation of exactly the frame's size, handed out without a copy.
      expect(handedOut).toHaveLength(1);
      expect(handedOut[0]!.length).toBe(frame.length);
      expect(handedOut[0]!.buffer.byteLength).toBe(frame.length);
      expect(decoder.bufferedBytes).toBe(0);
    });

    it('decodes a 256 KiB frame fed 1 byte at a time through push()', () => {
      const frame = jsonFrame(1, requestJsonOfLength(256 * 1024));
      const decoder = new FrameDecoder();
      let got: Array<CommandMessage | IpcError> = [];
      for (let i = 0; i < frame.length; i++) {
        const out = decoder.push(frame.subarray(i, i + 1));
        if (out.length > 0) got = out;
      }
      expect(messagesOnly(got)[0]?.topic.length).toBe(256 * 1024 - REQUEST_BASE.length);
    });
  });

  describe('fatal faults', () => {
    it('rejects an announced length of 0', () => {
      const decoder = new FrameDecoder();
      expectFatal(decoder.push(Uint8Array.from(header(0, 1))), /empty payload/);
    });

    it('names the stream offset of the bad frame', () => {
      const good = requestFrame(1);
      const out = new FrameDecoder().push(concat(good, Uint8Array.from(header(0, 1))));
      expect(out).toHaveLength(2);
      expectFatal(out, new RegExp(`offset ${good.length}\\b`));
    });

    it('rejects 0xFFFFFFFF from the header alone, without buffering anything', () => {
      const decoder = new FrameDecoder();
      const hdr = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 1]);
      for (let i = 0; i < 4; i++) {
        expect(decoder.push(hdr.subarray(i, i + 1))).toEqual([]);
        expect(decoder.bufferedBytes).toBe(i + 1);
      }
      const err = expectFatal(decoder.push(hdr.subarray(4)), /4294967295 bytes/);
      expect(err.message).toMatch(/limit of 4194304/);
      expect(decoder.bufferedBytes).toBe(0);
      expect(decoder.inFrame).toBe(false);
    });

    it('rejects an oversized header at once, even with the payload bytes following', () => {
      const decoder = new FrameDecoder();
      const chunk = new Uint8Array(HEADER_SIZE + 100);
      chunk.set([0x01, 0x00, 0x40, 0x00, 1]); // 4 MiB + 1
      expectFatal(decoder.push(chunk), /4194305 bytes/);
      expect(decoder.bufferedBytes).toBe(0);
    });

    it('enforces maxPayload at max-1, max and max+1', () => {
      const max = 64;
      const ok = new FrameDecoder({ maxPayload: max });
      const out = messagesOnly(
        ok.push(
          concat(
            jsonFrame(1, requestJsonOfLength(max - 1)),
            jsonFrame(1, requestJsonOfLength(max)),
          ),
        ),
      );
      expect(out).toHaveLength(2);
      const over = new FrameDecoder({ maxPayload: max });
      expectFatal(over.push(jsonFrame(1, requestJsonOfLength(max + 1))), /65 bytes.*limit of 64/);
    });

    it('applies a raised maxPayload to the next header', () => {
      const decoder = new FrameDecoder({ maxPayload: 64 });
      expect(decoder.maxPayload).toBe(64);
      decoder.maxPayload = 128;
      expect(messagesOnly(decoder.push(jsonFrame(1, requestJsonOfLength(100))))).toHaveLength(1);
    });

    it('uses 4 MiB by default', () => {
      expect(new FrameDecoder().maxPayload).toBe(4 * 1024 * 1024);
    });

    it('rejects every type byte from 10 to 255', () => {
      for (let type = 10; type <= 255; type++) {
        const decoder = new FrameDecoder();
        expectFatal(decoder.push(jsonFrame(type, '{}')), new RegExp(`type byte ${type}\\b`));
      }
    });

    it('accepts every type byte from 0 to 9 whose JSON agrees', () => {
      for (let type = 0; type <= 9; type++) {
        const out = messagesOnly(
          new FrameDecoder().push(
            jsonFrame(type, `{"transaction_id":1,"topic":"t","message_type":${type}}`),
          ),
        );
        expect(out[0]?.messageType).toBe(type);
      }
    });

    it('rejects a JSON message_type that differs from the header byte', () => {
      const out = new FrameDecoder().push(
        jsonFrame(3, '{"transaction_id":1,"topic":"t","message_type":1}'),
      );
      expectFatal(out, /message_type 1 differs from the header's type byte 3/);
      const byName = new FrameDecoder().push(
        jsonFrame(1, '{"transaction_id":1,"topic":"t","message_type":"Response"}'),
      );
      expectFatal(byName, /differs/);
    });

    it.each([
      ['missing', '{"transaction_id":1,"topic":"t"}', /message_type is missing/],
      [
        'unknown number',
        '{"transaction_id":1,"topic":"t","message_type":42}',
        /names no MessageType/,
      ],
      ['lower-case name', '{"transaction_id":1,"topic":"t","message_type":"request"}', /names no/],
      ['null', '{"transaction_id":1,"topic":"t","message_type":null}', /names no/],
    ])('rejects a %s message_type', (_name, json, pattern) => {
      expectFatal(new FrameDecoder().push(jsonFrame(1, json)), pattern);
    });

    const invalidUtf8: Array<[string, number[]]> = [
      ['a lone continuation byte', [0x80]],
      ['an overlong encoding of "/"', [0xc0, 0xaf]],
      ['an overlong NUL', [0xc0, 0x80]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a truncated sequence', [0xe2, 0x82]],
      ['the byte 0xFF', [0xff]],
      ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ];
    it.each(invalidUtf8)('rejects invalid UTF-8: %s', (_name, bad) => {
      const payload = [
        ...ascii('{"transaction_id":1,"topic":"t'),
        ...bad,
        ...ascii('","message_type":1}'),
      ];
      expectFatal(new FrameDecoder().push(rawFrame(1, payload)), /not valid UTF-8/);
    });

    it('rejects invalid UTF-8 at the very end of the payload', () => {
      const payload = [...ascii('{"transaction_id":1,"topic":"t","message_type":1}'), 0xe2];
      expectFatal(new FrameDecoder().push(rawFrame(1, payload)), /not valid UTF-8/);
    });

    it('rejects a byte order mark before the JSON', () => {
      const payload = [
        0xef,
        0xbb,
        0xbf,
        ...ascii('{"transaction_id":1,"topic":"t","message_type":1}'),
      ];
      expectFatal(new FrameDecoder().push(rawFrame(1, payload)), /not JSON/);
    });

    it.each([
      ['plain text', 'hello'],
      ['truncated JSON', '{"transaction_id":1,'],
      ['trailing garbage', '{"transaction_id":1,"topic":"t","message_type":1}x'],
      ['two objects', '{"message_type":1}{"message_type":1}'],
      ['single quotes', "{'transaction_id':1}"],
      ['a NUL byte', '\u0000'],
    ])('rejects a payload that is not JSON: %s', (_name, text) => {
      expectFatal(new FrameDecoder().push(jsonFrame(1, text)), /not JSON/);
    });

    it.each([
      ['an array', '[1,2]', /not a JSON object \(got array\)/],
      ['a number', '42', /not a JSON object \(got number 42\)/],
      ['a string', '"Request"', /not a JSON object \(got string "Request"\)/],
      ['null', 'null', /not a JSON object \(got null\)/],
      ['a boolean', 'true', /not a JSON object \(got boolean true\)/],
    ])('rejects JSON that is %s', (_name, text, pattern) => {
      expectFatal(new FrameDecoder().push(jsonFrame(1, text)), pattern);
    });

    it('rejects a deeply nested message_type as a framing error (never a raw RangeError)', () => {
      const depth = 100_000;
      const json =
        '{"transaction_id":1,"topic":"t","message_type":' +
        '['.repeat(depth) +
        ']'.repeat(depth) +
        '}';
      const decoder = new FrameDecoder();
      const out = decoder.push(jsonFrame(1, json));
      expect(out).toHaveLength(1);
      expectFatal(out, /message_type/);
      expect(decoder.error).toBe(out[0]);
    });

    it('reports the same error for every later push', () => {
      const decoder = new FrameDecoder();
      const [first] = decoder.push(Uint8Array.from(header(0, 1)));
      expect(decoder.error).toBe(first);
      for (const chunk of [requestFrame(1), new Uint8Array(0), Uint8Array.of(1, 2, 3)]) {
        const again = decoder.push(chunk);
        expect(again).toHaveLength(1);
        expect(again[0]).toBe(first);
      }
      expect(() => decoder.pushFrames(requestFrame(1), () => undefined)).toThrow(first as IpcError);
    });

    it('reports the same error after a payload fault too', () => {
      const decoder = new FrameDecoder();
      const [first] = decoder.push(jsonFrame(1, 'not json'));
      expect((first as IpcError).code).toBe('ERR_FRAMING');
      expect(decoder.push(requestFrame(1))).toEqual([first]);
    });

    it('still returns the messages before the fault in the same chunk, error last', () => {
      const decoder = new FrameDecoder();
      const chunk = concat(requestFrame(1), requestFrame(2), jsonFrame(1, '[]'), requestFrame(3));
      const out = decoder.push(chunk);
      expect(out).toHaveLength(3);
      expect((out[0] as CommandMessage).transactionId).toBe(1);
      expect((out[1] as CommandMessage).transactionId).toBe(2);
      expectFatal(out, /not a JSON object/);
    });

    it('returns the messages before a bad header in the same chunk', () => {
      const chunk = concat(requestFrame(1), Uint8Array.from(header(10, 77)));
      const out = new FrameDecoder().push(chunk);
      expect((out[0] as CommandMessage).transactionId).toBe(1);
      expectFatal(out, /type byte 77/);
    });

    it('fails a split frame whose payload is bad, keeping earlier messages of that chunk', () => {
      const decoder = new FrameDecoder();
      const bad = jsonFrame(1, '{"nope"');
      expect(decoder.push(bad.subarray(0, 4))).toEqual([]);
      const out = decoder.push(concat(bad.subarray(4), requestFrame(2)));
      expect(out).toHaveLength(1);
      expectFatal(out, /not JSON/);
    });
  });

  describe('invalid messages (not fatal)', () => {
    it('reports a wrong member type as ERR_INVALID_MESSAGE and keeps decoding', () => {
      const decoder = new FrameDecoder();
      const out = decoder.push(
        concat(
          requestFrame(1),
          jsonFrame(1, '{"transaction_id":7,"topic":5,"message_type":1}'),
          requestFrame(2),
        ),
      );
      expect(out).toHaveLength(3);
      const err = out[1] as IpcError;
      expect(err).toBeInstanceOf(IpcError);
      expect(err.code).toBe('ERR_INVALID_MESSAGE');
      expect(err.message).toMatch(/topic/);
      expect(err.invalid).toEqual({ messageType: 1, transactionId: 7 });
      expect((out[2] as CommandMessage).transactionId).toBe(2);
      expect(decoder.error).toBeNull();
      expect(messagesOnly(decoder.push(requestFrame(3)))[0]?.transactionId).toBe(3);
    });

    it.each([
      ['a negative transaction_id', '{"transaction_id":-1,"topic":"t","message_type":1}'],
      ['a fractional crc', '{"transaction_id":1,"topic":"t","message_type":1,"crc":0.5}'],
      ['a string success', '{"transaction_id":1,"topic":"t","message_type":1,"success":"yes"}'],
      [
        'an unknown control_type',
        '{"transaction_id":1,"topic":"t","message_type":4,"control_type":99}',
      ],
      [
        'nesting deeper than 64',
        `{"transaction_id":1,"topic":"t","message_type":1,"data":${'['.repeat(64)}${']'.repeat(64)}}`,
      ],
    ])('keeps going after %s', (_name, json) => {
      const type = (JSON.parse(json) as { message_type: number }).message_type;
      const decoder = new FrameDecoder();
      const out = decoder.push(concat(jsonFrame(type, json), requestFrame(9)));
      expect(out).toHaveLength(2);
      expect((out[0] as IpcError).code).toBe('ERR_INVALID_MESSAGE');
      expect((out[1] as CommandMessage).transactionId).toBe(9);
      expect(decoder.error).toBeNull();
    });

    it('accepts nesting of exactly 64 and honours maxDepth', () => {
      const json = `{"transaction_id":1,"topic":"t","message_type":1,"data":${'['.repeat(63)}${']'.repeat(63)}}`;
      expect(messagesOnly(new FrameDecoder().push(jsonFrame(1, json)))).toHaveLength(1);
      const strict = new FrameDecoder({ maxDepth: 10 });
      expect(strict.maxDepth).toBe(10);
      expect((strict.push(jsonFrame(1, json))[0] as IpcError).code).toBe('ERR_INVALID_MESSAGE');
    });
  });

  describe('hostile input (properties)', () => {
    function checkOutput(items: unknown): void {
      expect(Array.isArray(items)).toBe(true);
      const list = items as unknown[];
      list.forEach((item, i) => {
        expect(item instanceof CommandMessage || item instanceof IpcError).toBe(true);
        if (item instanceof IpcError && item.code === 'ERR_FRAMING') {
          expect(i).toBe(list.length - 1);
        }
      });
    }

    it('never throws on random bytes, always returns CommandMessages and IpcErrors', () => {
      const before = snapshotObjectPrototype();
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
          const decoder = new FrameDecoder({ maxPayload: 1024 });
          for (const chunk of chunks) checkOutput(decoder.push(chunk));
        }),
        { numRuns: 500 },
      );
      expect(snapshotObjectPrototype()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('never throws on well-framed random payloads, and never pollutes Object.prototype', () => {
      const before = snapshotObjectPrototype();
      const pollution = [
        '{"transaction_id":1,"topic":"t","message_type":1,"data":{"__proto__":{"polluted":1}}}',
        '{"__proto__":{"polluted":1},"transaction_id":1,"topic":"t","message_type":1}',
        '{"transaction_id":1,"topic":"t","message_type":1,"constructor":{"prototype":{"polluted":1}}}',
        '{"transaction_id":1,"topic":"t","message_type":"__proto__"}',
        '{"transaction_id":1,"topic":"t","message_type":"constructor"}',
        '{"transaction_id":{"__proto__":{"polluted":1}},"topic":"t","message_type":1}',
      ];
      const payloadArb = fc.oneof(
        fc.json().map((s) => new TextEncoder().encode(s)),
        fc.jsonValue().map((v) =>
          new TextEncoder().encode(
            JSON.stringify({
              message_type: 1,
              ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { data: v }),
            }),
          ),
        ),
        fc.string({ unit: 'binary' }).map((s) => new TextEncoder().encode(s)),
        fc.constantFrom(...pollution).map((s) => new TextEncoder().encode(s)),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
      );
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), payloadArb), {
            minLength: 1,
            maxLength: 6,
          }),
          fc.array(fc.nat(), { maxLength: 6 }),
          (frames, rawCuts) => {
            const bytes = concat(...frames.map(([type, payload]) => rawFrame(type, payload)));
            const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort(
              (a, b) => a - b,
            );
            const decoder = new FrameDecoder();
            let from = 0;
            for (const cut of [...cuts, bytes.length]) {
              checkOutput(decoder.push(bytes.slice(from, cut)));
              from = cut;
            }
          },
        ),
        { numRuns: 500 },
      );
      expect(snapshotObjectPrototype()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });
});
