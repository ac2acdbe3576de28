import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_SCAN_DEPTH,
  type ScannedEnvelope,
  scanEnvelope,
} from '../../../src/core/frame-scan.ts';
import { HEADER_SIZE, decodePayload, encodeFrame } from '../../../src/core/frame.ts';
import { CommandMessage, DEFAULT_MAX_DEPTH, MessageType } from '../../../src/core/message.ts';

const encoder = new TextEncoder();

/** A result object the scanner has not written to (it must stay so when the scan bails). */
function untouched(): ScannedEnvelope {
  return { transactionId: -1, topic: '<untouched>', messageType: -1 };
}

function scanBytes(
  payload: Uint8Array,
  type: number,
  maxDepth = DEFAULT_MAX_DEPTH,
): ScannedEnvelope | undefined {
  const out = untouched();
  if (scanEnvelope(type, payload, maxDepth, out)) return out;
  expect(out).toEqual(untouched());
  return undefined;
}

function scanText(json: string, type: number = MessageType.Request, maxDepth = DEFAULT_MAX_DEPTH) {
  return scanBytes(encoder.encode(json), type, maxDepth);
}

/** The three routing members of a fully decoded payload. */
function decoded(payload: Uint8Array, type: number, maxDepth = DEFAULT_MAX_DEPTH): ScannedEnvelope {
  const msg = decodePayload(type, payload, maxDepth);
  return { transactionId: msg.transactionId, topic: msg.topic, messageType: msg.messageType };
}

/**
 * The soundness contract, checked without `expect` (it runs thousands of times): when the scan
 * vouches for a payload, decodePayload succeeds and reads the same three members. Returns
 * whether the scan vouched; throws (so fast-check shrinks and prints its seed) otherwise.
 */
function checkSound(type: number, payload: Uint8Array, maxDepth: number): boolean {
  const out = untouched();
  if (!scanEnvelope(type, payload, maxDepth, out)) {
    if (out.transactionId !== -1 || out.topic !== '<untouched>' || out.messageType !== -1) {
      throw new Error('scanEnvelope wrote to out and returned false');
    }
    return false;
  }
  let full: ScannedEnvelope;
  try {
    full = decoded(payload, type, maxDepth);
  } catch (e) {
    throw new Error(`scanEnvelope vouched for a payload decodePayload rejects: ${String(e)}`, {
      cause: e,
    });
  }
  if (
    full.transactionId !== out.transactionId ||
    full.topic !== out.topic ||
    !Object.is(full.messageType, out.messageType)
  ) {
    throw new Error(
      `scanEnvelope read ${JSON.stringify(out)}, decodePayload ${JSON.stringify(full)}`,
    );
  }
  return true;
}

/** The text of a payload with the given members (values as JSON text), in this order. */
function payloadOf(members: Record<string, string | undefined>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(members)) {
    if (value !== undefined) parts.push(`${JSON.stringify(name)}:${value}`);
  }
  return `{${parts.join(',')}}`;
}

/** A plain Request payload as the encoder writes it, with some members replaced or removed. */
function request(changes: Record<string, string | undefined> = {}): string {
  return payloadOf({
    transaction_id: '7',
    timecode: '1764091234567',
    topic: '"b.echo"',
    message_type: '1',
    data: '{"axis":3,"position":125.75,"unit":"mm","relative":false,"list":[1,null,"x"]}',
    crc: '0',
    success: 'false',
    error_message: '""',
    ...changes,
  });
}

/** `levels` nested containers, alternating arrays and objects, around a scalar. */
function nested(levels: number, innermost = '1'): string {
  let text = innermost;
  for (let k = 0; k < levels; k++) text = k % 2 === 0 ? `[${text}]` : `{"k":${text}}`;
  return text;
}

const TYPES_BUT_CONTROL = Object.values(MessageType).filter((t) => t !== MessageType.Control);
const ENVELOPE_NAMES = [
  'transaction_id',
  'timecode',
  'topic',
  'message_type',
  'data',
  'crc',
  'success',
  'error_message',
  'control_type',
];

describe('scanEnvelope', () => {
  describe('on what the encoder writes', () => {
    it('reads the same routing members as decodePayload for every message type but Control', () => {
      const data = [
        null,
        0,
        -1.5e-7,
        'text',
        [1, [2, [3]]],
        { axis: 3, nested: { deep: [true, false] } },
      ];
      for (const messageType of TYPES_BUT_CONTROL) {
        for (const payloadData of data) {
          const msg = new CommandMessage({
            transactionId: 4_000_000_000 + messageType,
            topic: `press1.axis.${messageType}.position`,
            messageType,
            data: payloadData,
            crc: 12345,
            success: messageType === MessageType.Response,
            errorMessage: messageType === MessageType.Response ? 'Timeout: no response from b' : '',
          });
          const frame = encodeFrame(msg);
          const payload = frame.subarray(HEADER_SIZE);
          const scanned = scanBytes(payload, frame[4]!);
          expect(scanned, `type ${messageType}, data ${JSON.stringify(payloadData)}`).toBeDefined();
          expect(scanned).toEqual(decoded(payload, frame[4]!));
        }
      }
    });

    it('reads the messages the factories make', () => {
      const messages = [
        CommandMessage.request('system.ping'),
        CommandMessage.read('press1.speed'),
        CommandMessage.write('press1.speed', 1200),
        CommandMessage.broadcast('press1.speed', { rpm: 1200 }),
        CommandMessage.subscribe('press1.>'),
        CommandMessage.unsubscribe('press1.*.pos'),
        CommandMessage.heartbeat(),
        CommandMessage.heartbeat(0),
        CommandMessage.request('b.echo', { x: 1 }).intoResponse({ ok: true }),
        CommandMessage.request('b.echo').intoErrorResponse('Module not found: b'),
      ];
      for (const msg of messages) {
        const frame = encodeFrame(msg);
        expect(scanBytes(frame.subarray(HEADER_SIZE), frame[4]!)).toEqual({
          transactionId: msg.transactionId,
          topic: msg.topic,
          messageType: msg.messageType,
        });
      }
    });

    it('hands every Control message to the slow path', () => {
      const frame = encodeFrame(CommandMessage.request('a.b'));
      const payload = frame.subarray(HEADER_SIZE);
      expect(scanBytes(payload, MessageType.Request)).toBeDefined();
      const control = encodeFrame(
        new CommandMessage({ transactionId: 1, topic: 'press1', messageType: MessageType.Control }),
      );
      expect(scanBytes(control.subarray(HEADER_SIZE), MessageType.Control)).toBeUndefined();
      expect(scanText(request({ message_type: '4' }), MessageType.Control)).toBeUndefined();
    });

    it('reads only the bytes of the view it is given', () => {
      const json = request();
      const bytes = encoder.encode(`xx${json}garbage`);
      const view = bytes.subarray(2, 2 + json.length);
      expect(scanBytes(view, MessageType.Request)).toEqual({
        transactionId: 7,
        topic: 'b.echo',
        messageType: 1,
      });
    });
  });

  describe('vouches for unusual but plain payloads', () => {
    const accepted: [string, string, number?][] = [
      ['only the required members', '{"transaction_id":1,"topic":"a","message_type":1}'],
      [
        'members in reverse order',
        '{"error_message":"","success":true,"crc":1,"data":null,"message_type":2,"topic":"a.b","timecode":5,"transaction_id":9}',
        2,
      ],
      [
        'whitespace of every allowed kind',
        ' \t\r\n{ "transaction_id" :\t1 ,\r\n"topic"\n:\n"a" , "message_type" : 1 , "data" : [ 1 , { "k" : [ ] } ] }\n\t ',
      ],
      [
        'unknown members of any JSON type',
        request({ extra: '{"a":[1,{"b":null}],"c":"d"}', more: '[]', n: '-1.5E+3' }),
      ],
      ['an unknown member given twice', request({ extra: '1' }).replace('{', '{"extra":[2],')],
      [
        'a __proto__ member in the envelope',
        request({ ['__proto__']: '{"message_type":4,"topic":"evil"}' }),
      ],
      [
        'a __proto__ key in data',
        request({ data: '{"__proto__":{"x":1},"constructor":{"prototype":2}}' }),
      ],
      [
        'keys that resemble envelope names',
        request({
          Topic: '1',
          'topic ': '2',
          topics: '3',
          transaction_i: '4',
          crcs: '5',
          t: '6',
          c: '7',
        }),
      ],
      ['timecode -0', request({ timecode: '-0' })],
      ['a negative timecode of 15 digits', request({ timecode: '-999999999999999' })],
      ['the largest transaction id', request({ transaction_id: '4294967295' })],
      ['transaction id 0', request({ transaction_id: '0' })],
      ['the largest crc', request({ crc: '4294967295' })],
      [
        'every JSON number form in data',
        request({ data: '[-0,1.0,1e2,1E+2,-1.5e-3,1e400,123456789012345678901234567890,0.1]' }),
      ],
      ['an empty topic', request({ topic: '""' })],
      [
        'a DEL byte and every printable ASCII character in the topic',
        request({ topic: `"${printableAscii()}\u007f"` }),
      ],
      ['a long topic', request({ topic: '"plant.line4.press1.axis.3.position.setpoint"' })],
      ['a NoOp', request({ message_type: '0' }), MessageType.NoOp],
      ['a Heartbeat', request({ message_type: '9', topic: '""' }), MessageType.Heartbeat],
    ];
    it.each(accepted)('accepts %s', (_name, json, type = MessageType.Request) => {
      const payload = encoder.encode(json);
      const scanned = scanBytes(payload, type);
      expect(scanned).toBeDefined();
      expect(scanned).toEqual(decoded(payload, type));
    });
  });

  describe('bails out', () => {
    const bails: [string, string, number?][] = [
      // Bytes it does not vouch for.
      ['on a non-ASCII topic', request({ topic: '"b.\u00e9cho"' })],
      ['on a non-ASCII byte in data', request({ data: '"\u20ac"' })],
      ['on a non-ASCII key', request({ '\u00e9': '1' })],
      ['on a leading BOM', `\ufeff${request()}`],
      ['on a raw tab inside a string', request({ topic: '"b.\techo"' })],
      ['on a raw newline inside a data string', request({ data: '"a\nb"' })],
      ['on a NUL byte inside a string', request({ error_message: '"\u0000"' })],
      ['on an escape in the topic', request({ topic: '"b.\\u0065cho"' })],
      ['on an escaped quote in data', request({ data: '"say \\"hi\\""' })],
      [
        'on a key that names topic only after unescaping',
        request({ topic: undefined }).replace('{', '{"top\\u0069c":"x",'),
      ],
      // Not strictly JSON.
      ['on a trailing comma in the envelope', request().replace(/}$/, ',}')],
      ['on a trailing comma in data', request({ data: '[1,2,]' })],
      ['on a missing comma', request().replace(',"crc"', ' "crc"')],
      ['on a missing colon', request().replace('"crc":', '"crc" ')],
      ['on single quotes', request({ data: "'x'" })],
      ['on an unquoted key', request().replace('"crc"', 'crc')],
      ['on a leading zero', request({ data: '01' })],
      ['on a leading zero after a minus', request({ data: '-01' })],
      ['on a bare minus', request({ data: '-' })],
      ['on a fraction without digits', request({ data: '1.' })],
      ['on a fraction without an integer part', request({ data: '.5' })],
      ['on a plus sign', request({ data: '+1' })],
      ['on an exponent without digits', request({ data: '1e' })],
      ['on an exponent with only a sign', request({ data: '1e+' })],
      ['on a hex number', request({ data: '0x10' })],
      ['on NaN', request({ data: 'NaN' })],
      ['on Infinity', request({ data: 'Infinity' })],
      ['on a truncated literal', request({ data: 'tru' })],
      ['on a misspelt literal', request({ data: 'nul' })],
      ['on a capitalised literal', request({ data: 'True' })],
      ['on a comment', request().replace('{', '{/* c */')],
      ['on text after the object', `${request()} x`],
      ['on a second object', `${request()}{}`],
      ['on an unclosed object', request().slice(0, -1)],
      ['on an unclosed data array', request({ data: '[1' })],
      ['on an unclosed string', '{"transaction_id":1,"message_type":1,"topic":"a'],
      ['on mismatched brackets', request({ data: '[1}' })],
      ['on a form feed as whitespace', request().replace(',"crc"', ',\f"crc"')],
      ['on a vertical tab as whitespace', request().replace(',"crc"', ',\v"crc"')],
      ['on a NUL byte after the object', `${request()}\u0000`],
      // Not an object.
      ['on an empty payload', ''],
      ['on whitespace only', ' \n'],
      ['on a top-level array', `[${request()}]`],
      ['on a top-level string', '"{}"'],
      ['on a top-level number', '1'],
      ['on a top-level null', 'null'],
      ['on an empty object', '{}'],
      // message_type.
      ['on a missing message_type', request({ message_type: undefined })],
      ['on message_type given as its name', request({ message_type: '"Request"' })],
      ['on message_type 1.0', request({ message_type: '1.0' })],
      ['on message_type 1e0', request({ message_type: '1e0' })],
      ['on message_type -1', request({ message_type: '-1' })],
      ['on message_type null', request({ message_type: 'null' })],
      ['on message_type true', request({ message_type: 'true' })],
      ['on a message_type that differs from the type byte', request({ message_type: '2' })],
      ['on a message_type that names no MessageType', request({ message_type: '10' }), 10],
      ['on a type byte that names no MessageType', request({ message_type: '200' }), 200],
      ['on a control_type on a non-Control message', request({ control_type: '0' })],
      // transaction_id.
      ['on a missing transaction_id', request({ transaction_id: undefined })],
      ['on a negative transaction_id', request({ transaction_id: '-1' })],
      ['on transaction_id -0', request({ transaction_id: '-0' })],
      ['on a fractional transaction_id', request({ transaction_id: '1.5' })],
      ['on transaction_id 1.0', request({ transaction_id: '1.0' })],
      ['on transaction_id 1e3', request({ transaction_id: '1e3' })],
      ['on transaction_id as a string', request({ transaction_id: '"7"' })],
      ['on transaction_id null', request({ transaction_id: 'null' })],
      ['on transaction_id 2^32', request({ transaction_id: '4294967296' })],
      ['on a transaction_id of 11 digits', request({ transaction_id: '12345678901' })],
      ['on a transaction_id with a leading zero', request({ transaction_id: '07' })],
      [
        'on a very long digit string as transaction_id',
        request({ transaction_id: '9'.repeat(400) }),
      ],
      // Optional members of the wrong form.
      ['on a fractional timecode', request({ timecode: '1.5' })],
      ['on a timecode with an exponent', request({ timecode: '1e3' })],
      ['on a timecode of 16 digits', request({ timecode: '1234567890123456' })],
      ['on a timecode as a string', request({ timecode: '"1"' })],
      ['on timecode null', request({ timecode: 'null' })],
      ['on a negative crc', request({ crc: '-1' })],
      ['on a fractional crc', request({ crc: '0.5' })],
      ['on crc 2^32', request({ crc: '4294967296' })],
      ['on crc null', request({ crc: 'null' })],
      ['on success null', request({ success: 'null' })],
      ['on success 0', request({ success: '0' })],
      ['on success as a string', request({ success: '"true"' })],
      ['on error_message null', request({ error_message: 'null' })],
      ['on error_message 0', request({ error_message: '0' })],
      ['on error_message as an array', request({ error_message: '[]' })],
      // topic.
      ['on a missing topic', request({ topic: undefined })],
      ['on topic null', request({ topic: 'null' })],
      ['on a numeric topic', request({ topic: '5' })],
      ['on an array topic', request({ topic: '["a"]' })],
      ['on an object topic', request({ topic: '{}' })],
    ];
    it.each(bails)('%s', (_name, json, type = MessageType.Request) => {
      expect(scanText(json, type)).toBeUndefined();
    });

    it.each(ENVELOPE_NAMES)('on a second %s member', (name) => {
      const value =
        name === 'topic' || name === 'error_message' ? '"x"' : name === 'success' ? 'true' : '1';
      expect(scanText(request().replace('{', `{"${name}":${value},`))).toBeUndefined();
      expect(scanText(request().replace(/}$/, `,"${name}":${value}}`))).toBeUndefined();
    });

    it('on a limit below 1 or not a number', () => {
      const json = request({ data: '1' });
      for (const limit of [0, -1, 0.5, Number.NaN, -Infinity])
        expect(scanText(json, MessageType.Request, limit)).toBeUndefined();
      expect(scanText(json, MessageType.Request, 1)).toBeDefined();
    });
  });

  describe('nesting', () => {
    it.each([1, 2, 3, 4, 7, DEFAULT_MAX_DEPTH])(
      'accepts exactly %i levels and refuses one more',
      (maxDepth) => {
        // The envelope is level 1, so data holds maxDepth - 1 levels at most.
        for (const innermost of ['1', '[]', '{}']) {
          // An empty container is a level of its own.
          const extra = innermost === '1' ? 0 : 1;
          const fits = maxDepth - 1 - extra;
          if (fits < 0) continue;
          for (const member of ['data', 'unknown']) {
            const withData = (text: string) =>
              encoder.encode(
                request(member === 'data' ? { data: text } : { data: 'null', [member]: text }),
              );
            const ok = withData(nested(fits, innermost));
            const deep = withData(nested(fits + 1, innermost));
            expect(
              scanBytes(ok, MessageType.Request, maxDepth),
              `${maxDepth} ${innermost} ${member}`,
            ).toBeDefined();
            expect(decoded(ok, MessageType.Request, maxDepth).transactionId).toBe(7);
            expect(scanBytes(deep, MessageType.Request, maxDepth)).toBeUndefined();
            expect(() => decodePayload(MessageType.Request, deep, maxDepth)).toThrow(
              /nesting deeper/,
            );
          }
        }
      },
    );

    it('counts arrays and objects alike', () => {
      expect(scanText(request({ data: '[[1]]' }), MessageType.Request, 3)).toBeDefined();
      expect(scanText(request({ data: '{"a":{"b":1}}' }), MessageType.Request, 3)).toBeDefined();
      expect(scanText(request({ data: '[{"a":[1]}]' }), MessageType.Request, 3)).toBeUndefined();
      expect(scanText(request({ data: '{"a":[{}]}' }), MessageType.Request, 3)).toBeUndefined();
    });

    it('allows what the floor of a fractional limit allows', () => {
      expect(scanText(request({ data: '[[1]]' }), MessageType.Request, 3.9)).toBeDefined();
      expect(scanText(request({ data: '[[[1]]]' }), MessageType.Request, 3.9)).toBeUndefined();
    });

    it(`vouches for at most ${MAX_SCAN_DEPTH} levels whatever the limit`, () => {
      const ok = encoder.encode(request({ data: nested(MAX_SCAN_DEPTH - 1) }));
      const deep = encoder.encode(request({ data: nested(MAX_SCAN_DEPTH) }));
      for (const limit of [MAX_SCAN_DEPTH, 10_000, Infinity]) {
        expect(scanBytes(ok, MessageType.Request, limit)).toBeDefined();
        expect(scanBytes(deep, MessageType.Request, limit)).toBeUndefined();
      }
      // The slow path still takes the deeper one.
      expect(decoded(deep, MessageType.Request, 10_000).transactionId).toBe(7);
    });

    it('bails on very deep nesting without exhausting the stack', () => {
      const json = request({ data: '['.repeat(200_000) + ']'.repeat(200_000) });
      expect(scanText(json, MessageType.Request, Infinity)).toBeUndefined();
    });
  });

  describe('soundness (property A): whenever it vouches, decodePayload agrees', () => {
    it('holds for arbitrary JSON texts', () => {
      fc.assert(
        fc.property(fc.json({ maxDepth: 4 }), typeArb(), maxDepthArb(), (json, type, maxDepth) => {
          checkSound(type, encoder.encode(json), maxDepth);
        }),
        { numRuns: 1500 },
      );
    });

    it('holds for arbitrary JSON values wrapped in envelopes of any member order and spacing', () => {
      let vouched = 0;
      const runs = 3000;
      fc.assert(
        fc.property(envelopeArb(), maxDepthArb(), ({ json, type }, maxDepth) => {
          if (checkSound(type, encoder.encode(json), maxDepth)) vouched++;
        }),
        { numRuns: runs },
      );
      // The generator must reach the interesting side: payloads the scanner vouches for.
      expect(vouched).toBeGreaterThan(runs / 20);
    });

    it('holds for valid payloads with bytes flipped, inserted, deleted or cut off', () => {
      let vouched = 0;
      const runs = 3000;
      fc.assert(
        fc.property(
          fc.oneof(
            envelopeArb(),
            encodedArb().map((frame) => ({ json: asText(frame), type: frame[4]! })),
          ),
          fc.array(mutationArb(), { minLength: 1, maxLength: 3 }),
          maxDepthArb(),
          ({ json, type }, mutations, maxDepth) => {
            const payload = mutate(encoder.encode(json), mutations);
            if (checkSound(type, payload, maxDepth)) vouched++;
          },
        ),
        { numRuns: runs },
      );
      // Some mutations keep the payload plain and valid (a digit for a digit, say).
      expect(vouched).toBeGreaterThan(runs / 100);
    });
  });

  describe('without a header (the WebSocket text form, type -1)', () => {
    it('takes any message_type but Control and reads it from the payload', () => {
      for (const t of [
        MessageType.Request,
        MessageType.Response,
        MessageType.Broadcast,
        MessageType.Write,
      ]) {
        const json = `{"transaction_id":5,"topic":"a.b","message_type":${t},"data":[1]}`;
        expect(scanText(json, -1)).toEqual({ transactionId: 5, topic: 'a.b', messageType: t });
      }
      expect(
        scanText('{"transaction_id":5,"topic":"a","message_type":4,"control_type":0}', -1),
      ).toBeUndefined();
      expect(scanText('{"transaction_id":5,"topic":"a","message_type":4}', -1)).toBeUndefined();
      expect(scanText('{"transaction_id":5,"topic":"a","message_type":99}', -1)).toBeUndefined();
      expect(
        scanText('{"transaction_id":5,"topic":"a","message_type":"Request"}', -1),
      ).toBeUndefined();
      expect(scanText('{"transaction_id":5,"topic":"a"}', -1)).toBeUndefined();
    });

    it('is sound against decoding the text without a header, also for mutated payloads', () => {
      let vouched = 0;
      const runs = 3000;
      fc.assert(
        fc.property(
          envelopeArb(),
          fc.array(mutationArb(), { maxLength: 2 }),
          maxDepthArb(),
          ({ json }, mutations, maxDepth) => {
            if (checkSound(-1, mutate(encoder.encode(json), mutations), maxDepth)) vouched++;
          },
        ),
        { numRuns: runs },
      );
      expect(vouched).toBeGreaterThan(runs / 50);
    });
  });

  describe('usefulness (property B)', () => {
    it('vouches for every encoded message with plain ASCII strings', () => {
      fc.assert(
        fc.property(encodedArb(), (frame) => {
          const payload = frame.subarray(HEADER_SIZE);
          const out = untouched();
          if (!scanEnvelope(frame[4]!, payload, DEFAULT_MAX_DEPTH, out)) {
            throw new Error(`scanEnvelope bailed on ${asText(frame)}`);
          }
          const full = decoded(payload, frame[4]!);
          if (
            full.transactionId !== out.transactionId ||
            full.topic !== out.topic ||
            full.messageType !== out.messageType
          ) {
            throw new Error(
              `scanEnvelope read ${JSON.stringify(out)}, decodePayload ${JSON.stringify(full)}`,
            );
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});

// ---- generators ----

function printableAscii(): string {
  let s = '';
  for (let c = 0x20; c < 0x7f; c++) if (c !== 0x22 && c !== 0x5c) s += String.fromCharCode(c);
  return s;
}

/** Characters JSON.stringify writes as they are. */
const plainChar = fc.constantFrom(...printableAscii().split(''));
const plainString = fc.string({ unit: plainChar, maxLength: 30 });

/** Encoded frames of valid messages whose strings need no escapes (all but Control). */
function encodedArb(): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      transactionId: fc.oneof(fc.nat({ max: 0xffff_ffff }), fc.constantFrom(0, 1, 0xffff_ffff)),
      timecode: fc.oneof(
        fc.integer({ min: -(10 ** 15 - 1), max: 10 ** 15 - 1 }),
        fc.constant(1_764_091_234_567),
      ),
      topic: plainString,
      messageType: fc.constantFrom(...TYPES_BUT_CONTROL),
      data: fc.jsonValue({ maxDepth: 4, stringUnit: plainChar }),
      crc: fc.nat({ max: 0xffff_ffff }),
      success: fc.boolean(),
      errorMessage: plainString,
    })
    .map((init) => encodeFrame(new CommandMessage(init)));
}

function asText(frame: Uint8Array): string {
  return new TextDecoder().decode(frame.subarray(HEADER_SIZE));
}

function typeArb(): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 10 }), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
  );
}

function maxDepthArb(): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constant(DEFAULT_MAX_DEPTH), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 5 }), weight: 4 },
    { arbitrary: fc.constantFrom(0, -1, 2.5, Number.NaN, Infinity), weight: 1 },
  );
}

/** Number-ish texts: valid u32s and every near miss. */
const numberText = fc.oneof(
  { arbitrary: fc.nat({ max: 0xffff_ffff }).map(String), weight: 24 },
  { arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String), weight: 1 },
  { arbitrary: fc.double().map((d) => JSON.stringify(d)), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '0',
      '1',
      '4294967295',
      '4294967296',
      '99999999999',
      '-1',
      '-0',
      '1.0',
      '1e2',
      '1E2',
      '01',
      '00',
      '1.',
      '.5',
      '+1',
      '0x1',
      '1e400',
      '12345678901234567890',
      'null',
      'true',
      'false',
      '"7"',
      '[]',
      '{}',
      '"Request"',
      '"Heartbeat"',
      '"NoOp"',
      '"Control"',
    ),
    weight: 2,
  },
);

/** JSON texts of strings, plain mostly, but also with escapes and any code unit. */
const stringText = fc.oneof(
  { arbitrary: plainString.map((s) => JSON.stringify(s)), weight: 24 },
  { arbitrary: fc.string().map((s) => JSON.stringify(s)), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary' }).map((s) => JSON.stringify(s)), weight: 1 },
  {
    arbitrary: fc.constantFrom('"\\u0074opic"', '"a\\"b"', '"\u00e9"', '"\\/"', '"a\tb"', '"'),
    weight: 1,
  },
  { arbitrary: numberText, weight: 1 },
);

const jsonText = fc.oneof(
  {
    arbitrary: fc.jsonValue({ maxDepth: 4, stringUnit: plainChar }).map((v) => JSON.stringify(v)),
    weight: 20,
  },
  {
    arbitrary: fc
      .jsonValue({ maxDepth: 3, stringUnit: plainChar })
      .map((v) => JSON.stringify(v, null, 1)),
    weight: 4,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), weight: 1 },
  { arbitrary: fc.json({ maxDepth: 3 }), weight: 1 },
  { arbitrary: numberText, weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '[1,]',
      '{"a"}',
      '{,}',
      '[',
      '01',
      '-',
      'tru',
      '"\\x"',
      '{"a":1,"a":[[[]]]}',
    ),
    weight: 1,
  },
);

const validSpace = fc.constantFrom(' ', '\n', '\t', '\r\n  ', '  \t');
const invalidSpace = fc.constantFrom('\f', '\v', '\u00a0', '\u0000', '\ufeff');
/**
 * The spacing between the tokens of one envelope: compact (as the encoder writes), valid JSON
 * whitespace here and there, or that with a rare byte JSON does not count as whitespace.
 */
const spacing = fc.oneof(
  { arbitrary: fc.constant(['']), weight: 5 },
  {
    arbitrary: fc.array(fc.oneof({ arbitrary: fc.constant(''), weight: 3 }, validSpace), {
      minLength: 1,
      maxLength: 64,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.array(
      fc.oneof({ arbitrary: fc.constant(''), weight: 6 }, validSpace, invalidSpace),
      { minLength: 1, maxLength: 64 },
    ),
    weight: 1,
  },
);

/** Keys of unknown members, including look-alikes and repeats of envelope names. */
const unknownKey = fc.oneof(
  { arbitrary: plainString.map((s) => JSON.stringify(s)), weight: 20 },
  { arbitrary: fc.string().map((s) => JSON.stringify(s)), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '"__proto__"',
      '"constructor"',
      '"toString"',
      '"Topic"',
      '"topic "',
      '"topics"',
      '"top\\u0069c"',
      '"message_typ\\u0065"',
      '"transaction_id\\u0000"',
      '"hasOwnProperty"',
      '"valueOf"',
      ...ENVELOPE_NAMES.map((name) => JSON.stringify(name)),
    ),
    weight: 2,
  },
);

/** Value texts for each envelope member: mostly right, often wrong. */
const memberValue: Record<string, fc.Arbitrary<string>> = {
  transaction_id: numberText,
  timecode: fc.oneof(
    fc.integer({ min: -(10 ** 15 - 1), max: 10 ** 15 - 1 }).map(String),
    fc.maxSafeInteger().map(String),
    numberText,
  ),
  topic: stringText,
  message_type: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 10 }).map(String), weight: 20 },
    { arbitrary: numberText, weight: 1 },
  ),
  data: jsonText,
  crc: numberText,
  success: fc.oneof(
    { arbitrary: fc.constantFrom('true', 'false'), weight: 20 },
    { arbitrary: fc.constantFrom('null', '0', '"true"', 'True', 'fals'), weight: 1 },
  ),
  error_message: stringText,
  control_type: fc.constantFrom('0', '3', '"Register"'),
};

/** How often each member is written, in twentieths: required ones nearly always, control_type seldom. */
const presence: Record<string, number> = {
  transaction_id: 19,
  timecode: 14,
  topic: 19,
  message_type: 19,
  data: 16,
  crc: 12,
  success: 12,
  error_message: 12,
  control_type: 1,
};

/** Envelopes with random members, unknown members, order and spacing, and their type byte. */
function envelopeArb(): fc.Arbitrary<{ json: string; type: number }> {
  const known = ENVELOPE_NAMES.map((name) =>
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 20 - presence[name]! },
      {
        arbitrary: memberValue[name]!.map((value): [string, string] => [
          JSON.stringify(name),
          value,
        ]),
        weight: presence[name]!,
      },
    ),
  );
  const unknown = fc.array(fc.tuple(unknownKey, jsonText), { maxLength: 2 });
  const typeChoice = fc.oneof(
    { arbitrary: fc.constant(-1), weight: 8 }, // the type the message_type member names
    { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
  );
  return fc
    .tuple(fc.tuple(...known), unknown, spacing, typeChoice)
    .chain(([members, extras, spaces, typeChoice]) => {
      const all = [...members.filter((m): m is [string, string] => m !== undefined), ...extras];
      return fc
        .shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
        .map((order) => {
          let w = 0;
          const sp = () => spaces[w++ % spaces.length]!;
          const body = order
            .map(([key, value]) => `${sp()}${key}${sp()}:${sp()}${value}${sp()}`)
            .join(',');
          const json = `${sp()}{${body}}${sp()}`;
          const named = members[3]?.[1];
          const type =
            typeChoice >= 0
              ? typeChoice
              : named !== undefined && /^\d$/.test(named)
                ? Number(named)
                : 1;
          return { json, type };
        });
    });
}

interface Mutation {
  kind: 'flip' | 'insert' | 'delete' | 'truncate';
  at: number;
  byte: number;
}

const interestingByte = fc.oneof(
  fc.constantFrom(...'"\\{}[],:0123456789-+.eE tfnul\t\r\n'.split('').map((c) => c.charCodeAt(0))),
  fc.constantFrom(0x00, 0x0c, 0x1f, 0x7f, 0x80, 0xc3, 0xef, 0xff),
  fc.integer({ min: 0, max: 255 }),
);

function mutationArb(): fc.Arbitrary<Mutation> {
  return fc.record({
    kind: fc.constantFrom('flip', 'insert', 'delete', 'truncate'),
    at: fc.nat(),
    byte: interestingByte,
  });
}

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Array.from(bytes);
  for (const { kind, at, byte } of mutations) {
    const i = out.length === 0 ? 0 : at % (out.length + (kind === 'insert' ? 1 : 0));
    if (kind === 'flip' && out.length > 0) out[i] = byte;
    else if (kind === 'insert') out.splice(i, 0, byte);
    else if (kind === 'delete') out.splice(i, 1);
    else if (kind === 'truncate') out = out.slice(0, i);
  }
  return Uint8Array.from(out);
}
