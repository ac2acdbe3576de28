/**
 * The web console's pure parts, without a browser: the ring buffer behind the tap, the tap's
 * filter and unit parser, the JSON editor's validation, and module names from globs. (They live
 * next to the console's end-to-end test because test/unit is outside the console's folders.)
 */
import { describe, expect, it } from 'vitest';
import { nameAllowed, nameFromPattern, parseConfig } from '../../web-demo/src/config.ts';
import { MessageLog } from '../../web-demo/src/message-log.ts';
import { compileFilter, typeLabel } from '../../web-demo/src/panels/tap-panel.ts';
import { parseBody } from '../../web-demo/src/panels/request-panel.ts';
import { RingBuffer } from '../../web-demo/src/ring-buffer.ts';
import { parseUnit, utf8Length } from '../../web-demo/src/tap.ts';

describe('RingBuffer', () => {
  it('keeps the newest items by sequence number and forgets overwritten ones', () => {
    const ring = new RingBuffer<string>(3);
    for (const s of ['a', 'b', 'c', 'd', 'e']) ring.push(s);
    expect(ring.nextSeq).toBe(5);
    expect(ring.firstSeq).toBe(2);
    expect(ring.length).toBe(3);
    expect([ring.get(1), ring.get(2), ring.get(4), ring.get(5)]).toEqual([
      undefined,
      'c',
      'e',
      undefined,
    ]);
  });

  it('clears without reusing sequence numbers', () => {
    const ring = new RingBuffer<number>(4);
    ring.push(1);
    ring.push(2);
    ring.clear();
    expect(ring.length).toBe(0);
    expect(ring.get(1)).toBeUndefined();
    expect(ring.push(3)).toBe(2);
    expect(ring.get(2)).toBe(3);
  });
});

describe('MessageLog', () => {
  it('numbers what it appends and stays bounded', () => {
    const log = new MessageLog(100);
    const rec = parseUnit('in', '{"transaction_id":0,"topic":"a.b","message_type":3,"data":1}', 0);
    const appended: number[] = [];
    log.onAppend((entries) => appended.push(entries.length));
    log.append(Array.from({ length: 250 }, () => ({ ...rec })));
    expect(log.buffer.length).toBe(100);
    expect(appended).toEqual([100]);
    expect(log.buffer.get(log.buffer.nextSeq - 1)?.topic).toBe('a.b');
  });
});

describe('tap units', () => {
  it('reads type, topic, transaction id and size from a text message', () => {
    const text =
      '{"transaction_id":7,"timecode":1,"topic":"press1.set_speed","message_type":2,"data":null,"success":false,"error_message":"rpm out of range"}';
    const rec = parseUnit('in', text, 123);
    expect(rec).toMatchObject({
      dir: 'in',
      type: 2,
      txid: 7,
      topic: 'press1.set_speed',
      success: false,
      error: 'rpm out of range',
      size: text.length,
      time: 123,
    });
    expect(typeLabel({ ...rec, seq: 0 })).toBe('Response ✗');
  });

  it('reads a binary frame after its 5-byte header', () => {
    const json =
      '{"transaction_id":3,"topic":"console_x","message_type":4,"control_type":3,"data":{}}';
    const body = new TextEncoder().encode(json);
    const frame = new Uint8Array(5 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length, true);
    frame[4] = 4;
    frame.set(body, 5);
    const rec = parseUnit('out', frame, 0);
    expect(rec).toMatchObject({ type: 4, control: 3, size: frame.length, topic: 'console_x' });
    expect(typeLabel({ ...rec, seq: 0 })).toBe('Control/Register');
  });

  it('marks what is not JSON instead of throwing', () => {
    expect(parseUnit('in', 'nope', 0)).toMatchObject({ type: -1, topic: '(not JSON)' });
  });

  it('counts UTF-8 bytes without encoding', () => {
    for (const s of ['', 'abc', 'é', '温度', '😀 ok', 'a\u{10FFFF}b']) {
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
    }
  });
});

describe('tap filter', () => {
  const entry = (topic: string, over: Partial<ReturnType<typeof parseUnit>> = {}) => ({
    ...parseUnit('in', JSON.stringify({ transaction_id: 42, topic, message_type: 3 }), 0),
    ...over,
    seq: 0,
  });
  const all = { text: '', dir: 'all', type: -2, hideHeartbeats: false } as const;

  it('matches a topic substring, case-insensitively, or a transaction id', () => {
    const f = compileFilter({ ...all, text: 'PRESS1.r' });
    expect(f(entry('press1.rpm'))).toBe(true);
    expect(f(entry('press2.rpm'))).toBe(false);
    expect(compileFilter({ ...all, text: '42' })(entry('x.y'))).toBe(true);
  });

  it('matches topic patterns with * and >', () => {
    const star = compileFilter({ ...all, text: 'press1.*' });
    expect([
      star(entry('press1.rpm')),
      star(entry('press1.axis.pos')),
      star(entry('press10.rpm')),
    ]).toEqual([true, false, false]);
    const rest = compileFilter({ ...all, text: 'press1.>' });
    expect([
      rest(entry('press1.rpm')),
      rest(entry('press1.axis.pos')),
      rest(entry('press1')),
    ]).toEqual([true, true, false]);
  });

  it('filters by direction, type and heartbeats', () => {
    expect(compileFilter({ ...all, dir: 'out' })(entry('a.b'))).toBe(false);
    expect(compileFilter({ ...all, type: 1 })(entry('a.b'))).toBe(false);
    expect(compileFilter({ ...all, hideHeartbeats: true })(entry('', { type: 9 }))).toBe(false);
  });
});

describe('JSON editor', () => {
  it('takes empty text as null', () => {
    expect(parseBody('  ')).toEqual({ ok: true, value: null });
  });

  it('says where the JSON is wrong', () => {
    const r = parseBody('{\n  "rpm": 12,\n}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^Invalid JSON/);
  });
});

describe('module names', () => {
  it('makes a name from a glob and checks names against globs', () => {
    const name = nameFromPattern('console_*');
    expect(name).toMatch(/^console_[a-z0-9]{4}$/);
    expect(nameAllowed(name, ['console_*'])).toBe(true);
    expect(nameAllowed('hmi_1', ['console_*'])).toBe(false);
    expect(nameAllowed('console.x', ['console*'])).toBe(false);
  });

  it('accepts a config.json with a bridge URL and defaults the name globs', () => {
    expect(parseConfig({ bridgeUrl: 'ws://127.0.0.1:9101', token: 't' })).toEqual({
      bridgeUrl: 'ws://127.0.0.1:9101',
      token: 't',
      moduleNames: ['console_*'],
    });
    expect(parseConfig('<!doctype html>')).toBeUndefined();
    expect(parseConfig({ bridgeUrl: 'http://x' })).toBeUndefined();
  });
});
