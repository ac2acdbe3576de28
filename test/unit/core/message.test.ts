import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, IpcError, isIpcError, toIpcError } from '../../../src/core/errors.ts';
import { currentTimecode, nextTransactionId, setLastTransactionId } from '../../../src/core/ids.ts';
import {
  CommandMessage,
  ControlType,
  DEFAULT_MAX_DEPTH,
  MessageType,
  controlTypeName,
  domainOf,
  expectsReply,
  messageTypeName,
  parseRegistration,
} from '../../../src/core/message.ts';

const U32_MAX = 2 ** 32 - 1;

/** The members an encoder writes, in the order it writes them (PROTOCOL.md section 2). */
const WIRE_MEMBERS = [
  'transaction_id',
  'timecode',
  'topic',
  'message_type',
  'data',
  'crc',
  'success',
  'error_message',
] as const;

/** A minimal valid wire object plus `extra` members (undefined deletes a member). */
function wire(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const o: Record<string, unknown> = { transaction_id: 5, topic: 'press1.start', message_type: 1 };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete o[k];
    else o[k] = v;
  }
  return o;
}

/** Runs `fn`, expecting it to throw an IpcError; returns that error. */
function catchIpc(fn: () => unknown): IpcError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error('expected an IpcError, nothing was thrown');
}

/** `levels` nested containers (1 = `[]`), alternating arrays and objects. */
function nest(levels: number): unknown {
  let v: unknown = levels % 2 === 0 ? {} : [];
  for (let i = levels - 1; i >= 1; i--) v = i % 2 === 0 ? { k: v } : [v];
  return v;
}

/** it.each rows of one value each (it.each would spread a bare array value into arguments). */
function one<T>(values: readonly T[]): Array<[T]> {
  return values.map((v): [T] => [v]);
}

function snapshotObjectPrototype(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

afterEach(() => {
  // Other tests expect a sane counter after the wrap tests.
  setLastTransactionId(0);
});

describe('IpcError', () => {
  it('carries its code, the mechutil kind of that code, and its name', () => {
    const err = new IpcError('ERR_TIMEOUT', 'no response');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('IpcError');
    expect(err.code).toBe('ERR_TIMEOUT');
    expect(err.kind).toBe('Timeout');
    expect(err.message).toBe('no response');
  });

  it('maps every code to its kind', () => {
    for (const [code, kind] of Object.entries(ERROR_CODES)) {
      expect(new IpcError(code as keyof typeof ERROR_CODES, 'x').kind).toBe(kind);
    }
    expect(new IpcError('ERR_FRAMING', 'x').kind).toBe('Framing');
    expect(new IpcError('ERR_PAYLOAD_TOO_LARGE', 'x').kind).toBe('Framing');
    expect(new IpcError('ERR_INVALID_MESSAGE', 'x').kind).toBe('InvalidMessage');
    expect(new IpcError('ERR_SERIALIZATION', 'x').kind).toBe('Serialization');
  });

  it('keeps the cause, the response and the invalid-message info', () => {
    const cause = new TypeError('boom');
    const err = new IpcError('ERR_REMOTE', 'failed', {
      cause,
      response: { success: false },
      invalid: { transactionId: 3, topic: 't' },
    });
    expect(err.cause).toBe(cause);
    expect(err.response).toEqual({ success: false });
    expect(err.invalid).toEqual({ transactionId: 3, topic: 't' });
  });

  it('has no cause when none was given', () => {
    expect(new IpcError('ERR_IO', 'x').cause).toBeUndefined();
  });

  it('is recognised by isIpcError, optionally by code', () => {
    const err = new IpcError('ERR_CONNECTION', 'down');
    expect(isIpcError(err)).toBe(true);
    expect(isIpcError(err, 'ERR_CONNECTION')).toBe(true);
    expect(isIpcError(err, 'ERR_TIMEOUT')).toBe(false);
    expect(isIpcError(new Error('x'))).toBe(false);
    expect(isIpcError('ERR_CONNECTION')).toBe(false);
  });

  it('wraps foreign errors with toIpcError and returns IpcErrors unchanged', () => {
    const cause = new RangeError('too deep');
    const wrapped = toIpcError(cause, 'ERR_HANDLER', 'handler failed');
    expect(wrapped.code).toBe('ERR_HANDLER');
    expect(wrapped.message).toBe('handler failed: too deep');
    expect(wrapped.cause).toBe(cause);
    expect(toIpcError('plain', 'ERR_IO').message).toBe('plain');
    const own = new IpcError('ERR_TIMEOUT', 'x');
    expect(toIpcError(own, 'ERR_HANDLER')).toBe(own);
  });
});

describe('nextTransactionId', () => {
  it('counts up by one', () => {
    setLastTransactionId(0);
    expect(nextTransactionId()).toBe(1);
    expect(nextTransactionId()).toBe(2);
    expect(nextTransactionId()).toBe(3);
  });

  it('wraps from 2^32-1 to 1, never issuing 0', () => {
    setLastTransactionId(U32_MAX - 1);
    expect(nextTransactionId()).toBe(U32_MAX);
    expect(nextTransactionId()).toBe(1);
    expect(nextTransactionId()).toBe(2);
  });

  it('gives fresh messages id 1 after the wrap', () => {
    setLastTransactionId(U32_MAX);
    expect(CommandMessage.request('a.b').transactionId).toBe(1);
  });

  it('always yields a non-zero u32, whatever the last id was', () => {
    fc.assert(
      fc.property(fc.nat({ max: U32_MAX }), fc.integer({ min: 1, max: 5 }), (last, calls) => {
        setLastTransactionId(last);
        for (let i = 0; i < calls; i++) {
          const id = nextTransactionId();
          expect(Number.isInteger(id)).toBe(true);
          expect(id).toBeGreaterThanOrEqual(1);
          expect(id).toBeLessThanOrEqual(U32_MAX);
        }
      }),
    );
  });
});

describe('currentTimecode', () => {
  it('is milliseconds since the epoch', () => {
    const before = Date.now();
    const t = currentTimecode();
    expect(Number.isInteger(t)).toBe(true);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});

describe('MessageType and ControlType', () => {
  it('have the wire numbers of PROTOCOL.md sections 3 and 4', () => {
    expect(MessageType).toEqual({
      NoOp: 0,
      Request: 1,
      Response: 2,
      Broadcast: 3,
      Control: 4,
      Read: 5,
      Write: 6,
      Subscribe: 7,
      Unsubscribe: 8,
      Heartbeat: 9,
    });
    expect(ControlType).toEqual({
      NoOp: 0,
      Initialize: 1,
      Finalize: 2,
      Register: 3,
      RegisterAck: 4,
      Configure: 5,
      Status: 6,
    });
  });

  it('map numbers back to names and nothing else', () => {
    expect(messageTypeName(2)).toBe('Response');
    expect(messageTypeName(10)).toBeUndefined();
    expect(controlTypeName(3)).toBe('Register');
    expect(controlTypeName(7)).toBeUndefined();
  });

  it('marks the types that expect exactly one reply', () => {
    const replying = Object.values(MessageType).filter((t) => expectsReply(t));
    expect(replying.sort()).toEqual([1, 4, 5, 6, 7, 8]);
  });
});

describe('CommandMessage', () => {
  describe('constructor', () => {
    it('fills every member but topic with its default', () => {
      const before = Date.now();
      const msg = new CommandMessage({ topic: 'a.b' });
      expect(msg.transactionId).toBe(0);
      expect(msg.timecode).toBeGreaterThanOrEqual(before);
      expect(msg.timecode).toBeLessThanOrEqual(Date.now());
      expect(msg.topic).toBe('a.b');
      expect(msg.messageType).toBe(MessageType.NoOp);
      expect(msg.data).toBeNull();
      expect(msg.crc).toBe(0);
      expect(msg.success).toBe(false);
      expect(msg.errorMessage).toBe('');
      expect(msg.controlType).toBeUndefined();
    });

    it('keeps every member it is given', () => {
      const msg = new CommandMessage({
        transactionId: 9,
        timecode: 123,
        topic: 'x.y',
        messageType: MessageType.Response,
        data: [1, 2],
        crc: 77,
        success: true,
        errorMessage: 'e',
        controlType: ControlType.Status,
      });
      expect(msg).toMatchObject({
        transactionId: 9,
        timecode: 123,
        topic: 'x.y',
        messageType: 2,
        data: [1, 2],
        crc: 77,
        success: true,
        errorMessage: 'e',
        controlType: 6,
      });
    });
  });

  describe('static helpers', () => {
    it('request() makes a Request with a fresh transaction id', () => {
      setLastTransactionId(100);
      const msg = CommandMessage.request('press1.start', { rpm: 5 });
      expect(msg.messageType).toBe(MessageType.Request);
      expect(msg.transactionId).toBe(101);
      expect(msg.topic).toBe('press1.start');
      expect(msg.data).toEqual({ rpm: 5 });
      expect(msg.success).toBe(false);
      expect(CommandMessage.request('press1.start').transactionId).toBe(102);
      expect(CommandMessage.request('press1.start').data).toBeNull();
    });

    it('read(), write(), subscribe() and unsubscribe() get their types and fresh ids', () => {
      setLastTransactionId(0);
      const read = CommandMessage.read('plc.x');
      const write = CommandMessage.write('plc.x', 42);
      const sub = CommandMessage.subscribe('plc.>');
      const unsub = CommandMessage.unsubscribe('plc.>');
      expect([read, write, sub, unsub].map((m) => m.messageType)).toEqual([5, 6, 7, 8]);
      expect([read, write, sub, unsub].map((m) => m.transactionId)).toEqual([1, 2, 3, 4]);
      expect(read.data).toBeNull();
      expect(write.data).toBe(42);
      expect(sub.topic).toBe('plc.>');
      expect(sub.data).toBeNull();
      expect(unsub.topic).toBe('plc.>');
    });

    it('broadcast() has transaction id 0 (no reply)', () => {
      const msg = CommandMessage.broadcast('plc.speed', 1200);
      expect(msg.messageType).toBe(MessageType.Broadcast);
      expect(msg.transactionId).toBe(0);
      expect(msg.data).toBe(1200);
    });

    it('control() sets control_type and a fresh id; its topic is the module name', () => {
      setLastTransactionId(6);
      const msg = CommandMessage.control(ControlType.Register, 'press1', { name: 'press1' });
      expect(msg.messageType).toBe(MessageType.Control);
      expect(msg.controlType).toBe(ControlType.Register);
      expect(msg.transactionId).toBe(7);
      expect(msg.topic).toBe('press1');
      expect(CommandMessage.control(ControlType.Finalize, 'press1').data).toBeNull();
    });

    it('heartbeat() has topic "" and a fresh id, or the id it is given (0 = one-way)', () => {
      setLastTransactionId(40);
      const hb = CommandMessage.heartbeat();
      expect(hb.messageType).toBe(MessageType.Heartbeat);
      expect(hb.topic).toBe('');
      expect(hb.transactionId).toBe(41);
      expect(CommandMessage.heartbeat(0).transactionId).toBe(0);
      expect(CommandMessage.heartbeat(77).transactionId).toBe(77);
    });
  });

  describe('responses', () => {
    it('intoResponse() keeps transaction id and topic and succeeds', () => {
      const req = new CommandMessage({
        transactionId: 31,
        topic: 'press1.set_speed',
        messageType: MessageType.Request,
        data: { rpm: 1 },
        crc: 9,
      });
      const res = req.intoResponse({ accepted: true });
      expect(res.transactionId).toBe(31);
      expect(res.topic).toBe('press1.set_speed');
      expect(res.messageType).toBe(MessageType.Response);
      expect(res.success).toBe(true);
      expect(res.errorMessage).toBe('');
      expect(res.data).toEqual({ accepted: true });
      expect(req.intoResponse().data).toBeNull();
    });

    it('intoErrorResponse() keeps transaction id and topic and fails with the text', () => {
      const req = CommandMessage.read('press1.rpm');
      const res = req.intoErrorResponse('rpm out of range');
      expect(res.transactionId).toBe(req.transactionId);
      expect(res.topic).toBe('press1.rpm');
      expect(res.messageType).toBe(MessageType.Response);
      expect(res.success).toBe(false);
      expect(res.errorMessage).toBe('rpm out of range');
      expect(res.data).toBeNull();
      expect(req.intoErrorResponse('x', { limit: 3 }).data).toEqual({ limit: 3 });
    });

    it('does not change the request', () => {
      const req = CommandMessage.request('a.b', 1);
      const snapshot = req.toJSON();
      req.intoResponse(2);
      req.intoErrorResponse('no');
      expect(req.toJSON()).toEqual(snapshot);
    });
  });

  describe('domain and subtopic', () => {
    const cases: Array<[string, string, string]> = [
      ['ads.plc1.GM.stData', 'ads', 'plc1.GM.stData'],
      ['system.ping', 'system', 'ping'],
      ['press1', 'press1', ''],
      ['', '', ''],
      ['.leading', '', 'leading'],
      ['trailing.', 'trailing', ''],
      ['a..b', 'a', '.b'],
      ['température.ü.🚀', 'température', 'ü.🚀'],
    ];
    for (const [topic, domain, subtopic] of cases) {
      it(`splits ${JSON.stringify(topic)} at the first dot`, () => {
        const msg = new CommandMessage({ topic });
        expect(msg.domain).toBe(domain);
        expect(domainOf(topic)).toBe(domain);
        expect(msg.subtopic).toBe(subtopic);
      });
    }
  });

  describe('toJSON', () => {
    it('writes exactly the section 2 members, in order, without control_type', () => {
      const msg = new CommandMessage({
        transactionId: 1,
        timecode: 2,
        topic: 't',
        messageType: MessageType.Request,
        data: { a: 1 },
        crc: 3,
        success: true,
        errorMessage: 'e',
      });
      const w = msg.toJSON();
      expect(Object.keys(w)).toEqual([...WIRE_MEMBERS]);
      expect(w).toEqual({
        transaction_id: 1,
        timecode: 2,
        topic: 't',
        message_type: 1,
        data: { a: 1 },
        crc: 3,
        success: true,
        error_message: 'e',
      });
    });

    it('adds control_type last on Control messages only', () => {
      const ctl = CommandMessage.control(ControlType.Status, 'press1');
      expect(Object.keys(ctl.toJSON())).toEqual([...WIRE_MEMBERS, 'control_type']);
      expect(ctl.toJSON().control_type).toBe(6);

      const bare = new CommandMessage({ topic: 'm', messageType: MessageType.Control });
      expect(bare.toJSON().control_type).toBe(ControlType.NoOp);

      for (const t of Object.values(MessageType)) {
        if (t === MessageType.Control) continue;
        const m = new CommandMessage({
          topic: 't',
          messageType: t,
          controlType: ControlType.Register,
        });
        expect(Object.keys(m.toJSON())).toEqual([...WIRE_MEMBERS]);
      }
    });

    it('writes data undefined as null', () => {
      const msg = new CommandMessage({ topic: 't' });
      msg.data = undefined;
      expect(msg.toJSON().data).toBeNull();
      expect(JSON.parse(JSON.stringify(msg))).toHaveProperty('data', null);
    });

    it('is what JSON.stringify writes', () => {
      const msg = CommandMessage.control(ControlType.Register, 'press1', { name: 'press1' });
      expect(JSON.stringify(msg)).toBe(JSON.stringify(msg.toJSON()));
    });
  });

  describe('fromJSON', () => {
    it('round-trips toJSON', () => {
      const msgs = [
        CommandMessage.request('a.b', { x: [1, 'two', null, true] }),
        CommandMessage.control(ControlType.RegisterAck, 'press1', { ok: 1 }),
        CommandMessage.request('a.b').intoErrorResponse('nope'),
        CommandMessage.heartbeat(0),
      ];
      for (const msg of msgs) {
        const back = CommandMessage.fromJSON(JSON.parse(JSON.stringify(msg)));
        expect(back).toBeInstanceOf(CommandMessage);
        expect(back.toJSON()).toEqual(msg.toJSON());
        expect(back.controlType).toBe(msg.controlType);
      }
    });

    it('fills missing optional members with their defaults', () => {
      const msg = CommandMessage.fromJSON({ transaction_id: 5, topic: 'a.b', message_type: 1 });
      expect(msg.transactionId).toBe(5);
      expect(msg.topic).toBe('a.b');
      expect(msg.messageType).toBe(MessageType.Request);
      expect(msg.timecode).toBe(0);
      expect(msg.data).toBeNull();
      expect(msg.crc).toBe(0);
      expect(msg.success).toBe(false);
      expect(msg.errorMessage).toBe('');
      expect(msg.controlType).toBeUndefined();
    });

    it('reads a Control message without control_type as NoOp', () => {
      const msg = CommandMessage.fromJSON(wire({ message_type: 4 }));
      expect(msg.controlType).toBe(ControlType.NoOp);
    });

    it('ignores unknown members', () => {
      const msg = CommandMessage.fromJSON(wire({ extra: { deep: [1] }, version: 2 }));
      expect(msg.toJSON()).not.toHaveProperty('extra');
      expect(msg.transactionId).toBe(5);
    });

    it('ignores control_type on messages that are not Control', () => {
      const msg = CommandMessage.fromJSON(wire({ control_type: 3 }));
      expect(msg.controlType).toBeUndefined();
    });

    it('accepts every ControlType number on Control messages', () => {
      for (const ct of Object.values(ControlType)) {
        expect(
          CommandMessage.fromJSON(wire({ message_type: 4, control_type: ct })).controlType,
        ).toBe(ct);
      }
    });

    it('accepts message_type as the exact variant name', () => {
      for (const [name, value] of Object.entries(MessageType)) {
        expect(CommandMessage.fromJSON(wire({ message_type: name })).messageType).toBe(value);
      }
    });

    it.each(
      one([
        'request',
        'REQUEST',
        ' Request',
        'Request ',
        '1',
        '',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
      ]),
    )('rejects the message_type name %j as a framing error', (name) => {
      const err = catchIpc(() => CommandMessage.fromJSON(wire({ message_type: name })));
      expect(err.code).toBe('ERR_FRAMING');
      expect(err.message).toMatch(/message_type/);
    });

    it.each(one([10, 255, -1, 1.5, null, true, [], {}, [1]]))(
      'rejects the message_type %j as a framing error',
      (value) => {
        const err = catchIpc(() => CommandMessage.fromJSON(wire({ message_type: value })));
        expect(err.code).toBe('ERR_FRAMING');
        expect(err.message).toMatch(/message_type/);
      },
    );

    it('rejects a missing message_type as a framing error', () => {
      const err = catchIpc(() => CommandMessage.fromJSON(wire({ message_type: undefined })));
      expect(err.code).toBe('ERR_FRAMING');
      expect(err.message).toMatch(/message_type is missing/);
    });

    it.each(one([null, 5, 'text', true, [], [wire()]]))(
      'rejects the non-object JSON value %j as a framing error',
      (value) => {
        const err = catchIpc(() => CommandMessage.fromJSON(value));
        expect(err.code).toBe('ERR_FRAMING');
        expect(err.message).toMatch(/not a JSON object/);
      },
    );

    it('does not take members from a __proto__ key of the envelope', () => {
      const viaProtoKey = JSON.parse(
        '{"__proto__":{"message_type":1,"transaction_id":1,"topic":"a"}}',
      );
      expect(catchIpc(() => CommandMessage.fromJSON(viaProtoKey)).code).toBe('ERR_FRAMING');
    });

    describe('wrong member types fail only the message', () => {
      const cases: Array<[string, unknown]> = [
        ['transaction_id', '5'],
        ['transaction_id', -1],
        ['transaction_id', 1.5],
        ['transaction_id', 2 ** 32],
        ['transaction_id', null],
        ['transaction_id', true],
        ['transaction_id', undefined],
        ['topic', 5],
        ['topic', null],
        ['topic', ['a']],
        ['topic', { a: 1 }],
        ['topic', undefined],
        ['timecode', '1700000000000'],
        ['timecode', 1.5],
        ['timecode', true],
        ['timecode', {}],
        ['crc', -1],
        ['crc', 2 ** 32],
        ['crc', 0.5],
        ['crc', '0'],
        ['crc', false],
        ['success', 'true'],
        ['success', 1],
        ['success', 0],
        ['success', []],
        ['error_message', 5],
        ['error_message', false],
        ['error_message', { text: 'x' }],
      ];
      it.each(cases)('%s = %j is ERR_INVALID_MESSAGE naming the member', (member, value) => {
        const err = catchIpc(() => CommandMessage.fromJSON(wire({ [member]: value })));
        expect(err.code).toBe('ERR_INVALID_MESSAGE');
        expect(err.kind).toBe('InvalidMessage');
        expect(err.message).toContain(member);
        expect(err.invalid?.messageType).toBe(MessageType.Request);
        if (member === 'transaction_id') expect(err.invalid?.transactionId).toBeUndefined();
        else expect(err.invalid?.transactionId).toBe(5);
        if (member === 'topic') expect(err.invalid?.topic).toBeUndefined();
        else expect(err.invalid?.topic).toBe('press1.start');
      });

      it.each(one([7, -1, 1.5, 'register', 'Bogus', true, [], {}]))(
        'an unknown control_type %j on a Control message is ERR_INVALID_MESSAGE',
        (value) => {
          const err = catchIpc(() =>
            CommandMessage.fromJSON(
              wire({ message_type: 4, control_type: value, transaction_id: 12 }),
            ),
          );
          expect(err.code).toBe('ERR_INVALID_MESSAGE');
          expect(err.message).toMatch(/control_type/);
          expect(err.invalid).toEqual({ messageType: 4, transactionId: 12, topic: 'press1.start' });
        },
      );
    });

    describe('u32 bounds', () => {
      it('accepts 0 and 2^32-1 for transaction_id and crc', () => {
        for (const v of [0, 1, U32_MAX]) {
          const msg = CommandMessage.fromJSON(wire({ transaction_id: v, crc: v }));
          expect(msg.transactionId).toBe(v);
          expect(msg.crc).toBe(v);
        }
      });

      it.each(one([2 ** 32, -1, 1.5, 2 ** 53, Number.MAX_VALUE]))(
        'rejects %d for transaction_id and crc',
        (v) => {
          expect(catchIpc(() => CommandMessage.fromJSON(wire({ transaction_id: v }))).code).toBe(
            'ERR_INVALID_MESSAGE',
          );
          expect(catchIpc(() => CommandMessage.fromJSON(wire({ crc: v }))).code).toBe(
            'ERR_INVALID_MESSAGE',
          );
        },
      );

      it('accepts any u32 and rejects every other number (property)', () => {
        fc.assert(
          fc.property(fc.double({ noNaN: true }), (v) => {
            const valid = Number.isInteger(v) && v >= 0 && v <= U32_MAX;
            let ok: boolean;
            try {
              CommandMessage.fromJSON(wire({ transaction_id: v }));
              ok = true;
            } catch (e) {
              expect(isIpcError(e, 'ERR_INVALID_MESSAGE')).toBe(true);
              ok = false;
            }
            expect(ok).toBe(valid);
          }),
        );
      });
    });

    describe('prototype safety', () => {
      it('keeps __proto__ and constructor keys in data as plain own data', () => {
        const before = snapshotObjectPrototype();
        const text =
          '{"transaction_id":1,"topic":"a","message_type":1,"data":' +
          '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},' +
          '"list":[{"__proto__":{"polluted":true}}]}}';
        const msg = CommandMessage.fromJSON(JSON.parse(text));
        const data = msg.data as Record<string, unknown>;
        expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
        expect(Object.hasOwn(data, '__proto__')).toBe(true);
        expect(Object.hasOwn(data, 'constructor')).toBe(true);
        expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toEqual({
          polluted: true,
        });
        expect(Object.getOwnPropertyDescriptor(data, 'constructor')?.value).toEqual({
          prototype: { polluted: true },
        });
        const item = (data.list as object[])[0] as object;
        expect(Object.getPrototypeOf(item)).toBe(Object.prototype);
        expect(Object.hasOwn(item, '__proto__')).toBe(true);

        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(snapshotObjectPrototype()).toEqual(before);
        expect(Object.prototype.constructor).toBe(Object);
      });

      it('writes __proto__ keys back out as data', () => {
        const text =
          '{"transaction_id":1,"topic":"a","message_type":1,"data":{"__proto__":{"x":1}}}';
        const msg = CommandMessage.fromJSON(JSON.parse(text));
        expect(JSON.stringify(msg)).toContain('"data":{"__proto__":{"x":1}}');
      });
    });

    describe('nesting depth (the envelope is depth 1)', () => {
      it(`accepts data nested to a total depth of ${DEFAULT_MAX_DEPTH}`, () => {
        // data itself is depth 2, so nest(63) puts the innermost container at depth 64.
        const msg = CommandMessage.fromJSON(wire({ data: nest(DEFAULT_MAX_DEPTH - 1) }));
        expect(msg.data).toEqual(nest(DEFAULT_MAX_DEPTH - 1));
      });

      it(`rejects data nested to a total depth of ${DEFAULT_MAX_DEPTH + 1}`, () => {
        const err = catchIpc(() =>
          CommandMessage.fromJSON(wire({ data: nest(DEFAULT_MAX_DEPTH) })),
        );
        expect(err.code).toBe('ERR_INVALID_MESSAGE');
        expect(err.message).toMatch(/nesting/);
        expect(err.invalid?.transactionId).toBe(5);
      });

      it('counts arrays and objects alike, and finds the deep branch among shallow ones', () => {
        const arrays = (n: number): unknown => (n === 1 ? [] : [arrays(n - 1)]);
        const objects = (n: number): unknown => (n === 1 ? {} : { k: objects(n - 1) });
        expect(() => CommandMessage.fromJSON(wire({ data: arrays(63) }))).not.toThrow();
        expect(() => CommandMessage.fromJSON(wire({ data: objects(63) }))).not.toThrow();
        expect(catchIpc(() => CommandMessage.fromJSON(wire({ data: arrays(64) }))).code).toBe(
          'ERR_INVALID_MESSAGE',
        );
        expect(catchIpc(() => CommandMessage.fromJSON(wire({ data: objects(64) }))).code).toBe(
          'ERR_INVALID_MESSAGE',
        );
        const mixed = { a: 1, b: [1, 2, { c: 'x' }], z: [0, objects(64)] };
        expect(catchIpc(() => CommandMessage.fromJSON(wire({ data: mixed }))).code).toBe(
          'ERR_INVALID_MESSAGE',
        );
      });

      it('does not count scalars as a level', () => {
        const arrays = (n: number): unknown => (n === 1 ? [1, 'x', null] : [arrays(n - 1), 7]);
        expect(() => CommandMessage.fromJSON(wire({ data: arrays(63) }))).not.toThrow();
      });

      it('honours a custom limit at its boundary', () => {
        expect(() => CommandMessage.fromJSON(wire({ data: nest(3) }), 4)).not.toThrow();
        expect(catchIpc(() => CommandMessage.fromJSON(wire({ data: nest(4) }), 4)).code).toBe(
          'ERR_INVALID_MESSAGE',
        );
        expect(() => CommandMessage.fromJSON(wire({ data: 'scalar' }), 1)).not.toThrow();
        expect(catchIpc(() => CommandMessage.fromJSON(wire({ data: [] }), 1)).code).toBe(
          'ERR_INVALID_MESSAGE',
        );
      });
    });
  });
});

describe('parseRegistration', () => {
  it('accepts a full registration', () => {
    expect(
      parseRegistration({
        name: 'press1',
        version: '1.2.3',
        capabilities: ['press1.start', 'press1.stop'],
        token: 's3cret',
      }),
    ).toEqual({
      name: 'press1',
      version: '1.2.3',
      capabilities: ['press1.start', 'press1.stop'],
      token: 's3cret',
    });
  });

  it('defaults capabilities to [] and leaves token out when absent', () => {
    const reg = parseRegistration({ name: 'press1', version: '1.0.0' });
    expect(reg.capabilities).toEqual([]);
    expect(reg).not.toHaveProperty('token');
  });

  it.each(one(['a', 'Z', '0', 'press_1-x', 'A'.repeat(64), 'systems', 'my-system', '_', '-']))(
    'accepts the name %j',
    (name) => {
      expect(parseRegistration({ name, version: '1' }).name).toBe(name);
    },
  );

  it.each(
    one([
      '',
      'a'.repeat(65),
      'system',
      'press.1',
      '.press1',
      'press1.',
      'a*',
      '*',
      '>',
      '{x}',
      'a b',
      'a/b',
      'température',
      'press1\n',
      5,
      null,
      undefined,
      ['press1'],
    ]),
  )('rejects the name %j with "Invalid module name"', (name) => {
    const err = catchIpc(() => parseRegistration({ name, version: '1' }));
    expect(err.code).toBe('ERR_INVALID_MESSAGE');
    expect(err.message).toBe(`Invalid module name: ${String(name)}`);
  });

  it('accepts exactly 1 to 64 name characters', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(...'abcXYZ019_-'.split('')),
          minLength: 0,
          maxLength: 80,
        }),
        (name) => {
          let ok = true;
          try {
            parseRegistration({ name, version: '1' });
          } catch {
            ok = false;
          }
          expect(ok).toBe(name.length >= 1 && name.length <= 64);
        },
      ),
    );
  });

  it.each(one([1, true, false, {}, ['1']]))('rejects the version %j', (version) => {
    const err = catchIpc(() => parseRegistration({ name: 'press1', version }));
    expect(err.code).toBe('ERR_INVALID_MESSAGE');
    expect(err.message).toMatch(/version/);
  });

  it.each(one(['press1.start', {}, [1], ['a', 2], [null], 5]))(
    'rejects the capabilities %j',
    (caps) => {
      const err = catchIpc(() =>
        parseRegistration({ name: 'press1', version: '1', capabilities: caps }),
      );
      expect(err.code).toBe('ERR_INVALID_MESSAGE');
      expect(err.message).toMatch(/capabilities/);
    },
  );

  it.each(one([null, 'press1', 5, [], [{ name: 'press1' }]]))('rejects the data %j', (data) => {
    expect(catchIpc(() => parseRegistration(data)).code).toBe('ERR_INVALID_MESSAGE');
  });
});

describe('CommandMessage.fromJSON strictness', () => {
  const base = { transaction_id: 7, topic: 'press1.start', message_type: 1 };

  it.each(['timecode', 'crc', 'success', 'error_message'])(
    'rejects a null %s as a type mismatch',
    (member) => {
      expect(() => CommandMessage.fromJSON({ ...base, [member]: null })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_MESSAGE' }),
      );
    },
  );

  it('accepts a null data member', () => {
    expect(CommandMessage.fromJSON({ ...base, data: null }).data).toBeNull();
  });

  it('applies the nesting limit to unknown members too', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => CommandMessage.fromJSON({ ...base, extra: deep })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_MESSAGE', invalid: expect.objectContaining({ transactionId: 7 }) }),
    );
  });
});
