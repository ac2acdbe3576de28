import { setTimeout as sleep } from 'node:timers/promises';
import { CommandMessage, ControlType, MessageType } from 'autocore-ipc';
import { describe, expect, it, vi } from 'vitest';
import { createBridge } from '../../bridge/index.ts';
import {
  frameOf,
  msg,
  openClient,
  registerMsg,
  type TestClient,
} from '../support/bridge-client.ts';
import {
  TOKEN,
  testBridgeOptions,
  useBridgeFixtures,
  type BridgeFixture,
} from '../support/bridge-fixture.ts';
import type { FakeUpstreamConnection } from '../support/bridge-upstream.ts';

const { Request, Response, Broadcast, Control, Read, Write, Subscribe, Unsubscribe, Heartbeat } =
  MessageType;

async function stillWorks(c: TestClient, mode: 'text' | 'binary' = 'text'): Promise<void> {
  const res = await c.call(Request, 'press1.speed', { ok: 1 }, mode);
  expect(res.success).toBe(true);
  expect(res.data).toEqual({ ok: 1 });
}

/** Proves a negative: waits for a round trip through the same connection, then checks. */
async function settle(f: BridgeFixture): Promise<void> {
  const probe = await f.module(`hmi_probe${Math.floor(Math.random() * 1e9)}`);
  await stillWorks(probe);
}

function upstreamTopics(f: BridgeFixture): string[] {
  return f.upstream.received.map((m) => m.topic);
}

describe('bridge relay', () => {
  const fx = useBridgeFixtures();

  describe('forms', () => {
    it('relays text messages as frames and answers in text', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_text');
      const res = await c.call(Request, 'press1.speed', { rpm: 1200 });
      expect(res).toMatchObject({
        message_type: Response,
        success: true,
        data: { rpm: 1200 },
        topic: 'press1.speed',
      });
      expect(c.raw.every((r) => !r.isBinary)).toBe(true);
      const seen = await f.upstream.waitFor((m) => m.topic === 'press1.speed');
      expect(seen.messageType).toBe(Request);
      expect(seen.data).toEqual({ rpm: 1200 });
    });

    it('relays binary messages (one frame each) and answers with one frame per message', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_bin', 'binary');
      await stillWorks(c, 'binary');
      expect(c.raw.length).toBeGreaterThanOrEqual(2);
      expect(c.raw.every((r) => r.isBinary)).toBe(true);
      const up = await f.upstream.connectionOf('hmi_bin');
      up.send(CommandMessage.broadcast('press1.state', { on: true }));
      const b = await c.next((m) => m.message_type === Broadcast);
      expect(b).toMatchObject({ topic: 'press1.state', data: { on: true } });
    });

    it('accepts message_type given as its name', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_named');
      const m = msg({ message_type: 'Request', topic: 'press1.named', data: 1 });
      c.sendText(m);
      const res = await c.next((r) => r.transaction_id === m.transaction_id);
      expect(res.success).toBe(true);
    });

    it('closes 1003 when a connection mixes text and binary, relaying nothing of it', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_mixed');
      const other = await f.module('hmi_other', 'binary');
      c.sendFrame(msg({ message_type: Request, topic: 'press1.mixed' }));
      expect((await c.closed).code).toBe(1003);
      await stillWorks(other, 'binary');
      expect(upstreamTopics(f)).not.toContain('press1.mixed');
    });
  });

  describe('server to browser', () => {
    it('relays Requests from the server and the browser Responses back, in both forms', async () => {
      const f = await fx.start();
      for (const mode of ['text', 'binary'] as const) {
        const name = `hmi_srv_${mode}`;
        const c = await f.module(name, mode);
        const up = await f.upstream.connectionOf(name);
        const req = CommandMessage.request(`${name}.do`, { x: 1 });
        up.send(req);
        const got = await c.next((m) => m.transaction_id === req.transactionId);
        expect(got).toMatchObject({ message_type: Request, topic: `${name}.do`, data: { x: 1 } });
        const answer = msg({
          message_type: Response,
          topic: got.topic,
          success: true,
          data: 'done',
        });
        answer.transaction_id = got.transaction_id;
        if (mode === 'binary') c.sendFrame(answer);
        else c.sendText(answer);
        const back = await f.upstream.waitFor(
          (m) => m.messageType === Response && m.transactionId === req.transactionId,
        );
        expect(back.data).toBe('done');
        expect(back.success).toBe(true);
      }
    });

    it('relays plain and unusual messages alike, in order, whichever path each takes', async () => {
      const f = await fx.start();
      for (const mode of ['text', 'binary'] as const) {
        const name = `hmi_plain_${mode}`;
        const c = await f.module(name, mode);
        // Plain ones are relayed as their own bytes after a scan; the others (an escape, a
        // non-ASCII string, a repeated member, a name for message_type) are decoded and
        // re-encoded. Both must reach the server as the same messages, in the order sent.
        const texts = [
          '{"transaction_id":7001,"timecode":1,"topic":"press1.speed","message_type":1,"data":{"n":1},"extra":[1,2]}',
          '{"transaction_id":7002,"topic":"press1.speed","message_type":1,"data":"tab\\there"}',
          '{"transaction_id":7003,"topic":"press1.speed","message_type":1,"data":"Grüße"}',
          '{"transaction_id":7004,"topic":"press1.speed","message_type":1,"data":4,"data":5}',
          '{"transaction_id":7005,"topic":"press1.speed","message_type":"Request","data":6}',
          '{"transaction_id":7006,"topic":"press1.speed","message_type":6,"data":7}',
        ];
        for (const t of texts) {
          if (mode === 'text') c.ws.send(t);
          else
            c.ws.send(
              frameOf(JSON.parse(t) as unknown, t.includes('"message_type":6') ? Write : Request),
            );
        }
        const ids = [7001, 7002, 7003, 7004, 7005, 7006];
        const answers = await Promise.all(ids.map((id) => c.next((m) => m.transaction_id === id)));
        expect(answers.map((a) => a.success)).toEqual(ids.map(() => true));
        const seen = f.upstream.received.filter(
          (m) => ids.includes(m.transactionId) && m.topic === 'press1.speed',
        );
        expect(seen.map((m) => m.transactionId)).toEqual(ids);
        expect(seen.map((m) => m.data)).toEqual([{ n: 1 }, 'tab\there', 'Grüße', 5, 6, 7]);
        expect(seen[5]?.messageType).toBe(Write);
        f.upstream.received.length = 0;
      }
    });

    it("refuses a plain Request outside the token's patterns, as the ordinary path does", async () => {
      const f = await fx.start();
      const c = await f.module('hmi_plain_forbidden');
      c.ws.send('{"transaction_id":7101,"topic":"secret.x","message_type":1,"data":null}');
      const res = await c.next((m) => m.transaction_id === 7101);
      expect(res).toMatchObject({ success: false, error_message: 'Not allowed: secret.x' });
      await settle(f);
      expect(upstreamTopics(f)).not.toContain('secret.x');
    });

    it('relays Heartbeats, even before registration', async () => {
      const f = await fx.start();
      const c = await f.client();
      const hb = msg({ message_type: Heartbeat, topic: '' });
      c.sendText(hb);
      const echo = await c.next((m) => m.transaction_id === hb.transaction_id);
      expect(echo.message_type).toBe(Heartbeat);
    });
  });

  describe('registration', () => {
    for (const [label, mode, type] of [
      ['text', 'text', Control],
      ['binary', 'binary', Control],
      ['text with message_type "Control"', 'text', 'Control'],
      ['binary with message_type "Control"', 'binary', 'Control'],
    ] as const) {
      it(`refuses a forbidden name with a failed RegisterAck and 1008 (${label})`, async () => {
        const f = await fx.start();
        const good = await f.module('hmi_good');
        const c = await f.client();
        const reg = registerMsg('plc_x', type);
        if (mode === 'binary') c.sendFrame(reg, Control);
        else c.sendText(reg);
        const ack = await c.next((m) => m.transaction_id === reg.transaction_id);
        expect(ack).toMatchObject({
          message_type: Control,
          control_type: ControlType.RegisterAck,
          success: false,
          error_message: 'Not allowed: plc_x',
        });
        expect(c.raw[0]?.isBinary).toBe(mode === 'binary');
        expect((await c.closed).code).toBe(1008);
        await stillWorks(good);
        expect(
          f.upstream.received.some((m) => (m.data as { name?: string } | null)?.name === 'plc_x'),
        ).toBe(false);
        expect(f.bridge.metrics().forbidden.register).toBe(1);
      });
    }

    it('reads the name from data.name, not from the topic', async () => {
      const f = await fx.start();
      const c = await f.client();
      const reg = registerMsg('plc_x');
      reg.topic = 'hmi_disguise';
      c.sendText(reg);
      const ack = await c.next((m) => m.transaction_id === reg.transaction_id);
      expect(ack.error_message).toBe('Not allowed: plc_x');
      expect((await c.closed).code).toBe(1008);
    });

    it('refuses an invalid registration with a failed RegisterAck and 1008', async () => {
      const f = await fx.start();
      const c = await f.client();
      const reg = registerMsg('hmi_x');
      reg.data = { name: 'hmi.x' };
      c.sendText(reg);
      const ack = await c.next((m) => m.transaction_id === reg.transaction_id);
      expect(ack).toMatchObject({ success: false, error_message: 'Invalid module name: hmi.x' });
      expect((await c.closed).code).toBe(1008);
    });

    it('answers "Not registered" before the RegisterAck, without relaying', async () => {
      const f = await fx.start();
      const c = await f.client();
      for (const type of [Request, Read, Write, Subscribe, Unsubscribe]) {
        const res = await c.call(type, 'press1.early');
        expect(res).toMatchObject({ success: false, error_message: 'Not registered' });
      }
      c.sendText(msg({ message_type: Broadcast, topic: 'hmi_a.early', transaction_id: 0 }));
      expect((await c.register('hmi_late')).success).toBe(true);
      await stillWorks(c);
      expect(upstreamTopics(f).filter((t) => t.endsWith('.early'))).toEqual([]);
    });

    it('refuses a second Register on the same connection', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_once');
      const reg = registerMsg('hmi_twice');
      c.sendText(reg);
      const ack = await c.next((m) => m.transaction_id === reg.transaction_id);
      expect(ack).toMatchObject({
        control_type: ControlType.RegisterAck,
        success: false,
        error_message: 'Already registered as hmi_once',
      });
      expect((await c.closed).code).toBe(1008);
      expect(
        f.upstream.received.some((m) => (m.data as { name?: string } | null)?.name === 'hmi_twice'),
      ).toBe(false);
    });

    it('relays a refusal from the server and closes when the server does', async () => {
      const f = await fx.start({ upstream: { refuseNames: ['hmi_taken'] } });
      const c = await f.client();
      const ack = await c.register('hmi_taken');
      expect(ack).toMatchObject({
        success: false,
        error_message: 'Name already registered: hmi_taken',
      });
      expect((await c.closed).code).toBe(1000);
      expect(f.logs.some((l) => l.event === 'register' && l.reason === 'refused_by_server')).toBe(
        true,
      );
    });
  });

  describe('topic permissions', () => {
    it('answers "Not allowed: <topic>" for Request/Read/Write outside the request patterns and never relays them', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_req');
      for (const type of [Request, Read, Write]) {
        const res = await c.call(type, 'plc2.start');
        expect(res).toMatchObject({
          message_type: Response,
          success: false,
          error_message: 'Not allowed: plc2.start',
          topic: 'plc2.start',
        });
      }
      expect((await c.call(Request, 'system.ping')).success).toBe(true);
      expect((await c.call(Request, 'system.get_domains')).error_message).toBe(
        'Not allowed: system.get_domains',
      );
      expect((await c.call(Request, 'press1..x')).error_message).toBe('Not allowed: press1..x');
      await settle(f);
      expect(upstreamTopics(f)).not.toContain('plc2.start');
      expect(upstreamTopics(f)).not.toContain('system.get_domains');
      expect(f.bridge.metrics().forbidden.request).toBe(5);
    });

    it('lets deny patterns win over allow patterns', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_a');
      expect((await c.call(Request, 'press1.config.speed')).error_message).toBe(
        'Not allowed: press1.config.speed',
      );
      expect((await c.call(Write, 'press1.config.speed', 5)).error_message).toBe(
        'Not allowed: press1.config.speed',
      );
      expect((await c.call(Request, 'press1.configx')).success).toBe(true);
      expect((await c.call(Subscribe, 'press1.secret.key')).error_message).toBe(
        'Not allowed: press1.secret.key',
      );
      // A pattern that could match a denied topic is refused as a whole.
      expect((await c.call(Subscribe, 'press1.>')).error_message).toBe('Not allowed: press1.>');
      expect((await c.call(Subscribe, 'press1.*.key')).error_message).toBe(
        'Not allowed: press1.*.key',
      );
      expect((await c.call(Subscribe, 'press1.axis.>')).success).toBe(true);
      c.sendText(
        msg({ message_type: Broadcast, topic: 'hmi_a.private', transaction_id: 0, data: 1 }),
      );
      c.sendText(
        msg({ message_type: Broadcast, topic: 'hmi_a.public', transaction_id: 0, data: 2 }),
      );
      await f.upstream.waitFor((m) => m.topic === 'hmi_a.public');
      await settle(f);
      const topics = upstreamTopics(f);
      expect(topics).not.toContain('press1.config.speed');
      expect(topics).not.toContain('press1.secret.key');
      expect(topics).not.toContain('press1.>');
      expect(topics).not.toContain('hmi_a.private');
      expect(topics).toContain('press1.axis.>');
    });

    it('answers "Not allowed" for Subscribe outside the subscribe patterns', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_sub');
      expect((await c.call(Subscribe, '>')).error_message).toBe('Not allowed: >');
      expect((await c.call(Subscribe, 'plc2.*')).error_message).toBe('Not allowed: plc2.*');
      expect((await c.call(Subscribe, 'press1.a*')).error_message).toBe('Not allowed: press1.a*');
      expect((await c.call(Subscribe, 'press1.axis.*')).success).toBe(true);
      expect((await c.call(Unsubscribe, 'press1.axis.*')).success).toBe(true);
      await settle(f);
      expect(upstreamTopics(f)).not.toContain('>');
      expect(upstreamTopics(f)).not.toContain('plc2.*');
    });

    it('drops Broadcasts outside the broadcast patterns silently', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_b');
      c.sendText(
        msg({ message_type: Broadcast, topic: 'press1.level', transaction_id: 0, data: 99 }),
      );
      c.sendText(
        msg({ message_type: Broadcast, topic: 'hmi_b.level', transaction_id: 0, data: 1 }),
      );
      await f.upstream.waitFor((m) => m.topic === 'hmi_b.level');
      await stillWorks(c);
      expect(upstreamTopics(f)).not.toContain('press1.level');
      expect(c.messages.filter((m) => m.error_message !== '')).toEqual([]);
      expect(f.bridge.metrics().forbidden.broadcast).toBe(1);
    });
  });

  describe('validation', () => {
    it('closes 1007 on JSON that does not parse, relaying nothing', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      const c = await f.module('hmi_bad');
      const before = f.upstream.received.length;
      c.ws.send('{"transaction_id": 5, "topic": "press1.garbage", "message_type": 1');
      expect((await c.closed).code).toBe(1007);
      await stillWorks(good);
      expect(f.upstream.received.length).toBe(before + 1);
      expect(upstreamTopics(f)).not.toContain('press1.garbage');
      expect(f.bridge.metrics().closes['1007']).toBe(1);
    });

    for (const [label, payload] of [
      ['a JSON array', '[1,2,3]'],
      ['a missing message_type', '{"transaction_id":1,"topic":"press1.x"}'],
      [
        'an unknown message_type',
        '{"transaction_id":1,"topic":"press1.x","message_type":"Register"}',
      ],
      ['a byte order mark', '\uFEFF{"transaction_id":1,"topic":"press1.x","message_type":1}'],
    ] as const) {
      it(`closes 1007 on ${label}`, async () => {
        const f = await fx.start();
        const c = await f.module('hmi_bad');
        c.ws.send(payload);
        expect((await c.closed).code).toBe(1007);
      });
    }

    for (const [label, make] of [
      ['shorter than a header', () => Buffer.from([1, 0, 0])],
      [
        'with a length that does not match',
        () =>
          Buffer.concat([
            frameOf(msg({ message_type: Request, topic: 'press1.x' })),
            Buffer.from('x'),
          ]),
      ],
      [
        'holding two frames',
        () =>
          Buffer.concat([
            frameOf(msg({ message_type: Request, topic: 'press1.x' })),
            frameOf(msg({ message_type: Request, topic: 'press1.y' })),
          ]),
      ],
      [
        'whose type byte differs from message_type',
        () => frameOf(msg({ message_type: Request, topic: 'press1.x' }), Broadcast),
      ],
      [
        'with a type byte naming no MessageType',
        () => frameOf(msg({ message_type: Request, topic: 'press1.x' }), 77),
      ],
      ['with an empty payload', () => Buffer.from([0, 0, 0, 0, 1])],
      ['with invalid UTF-8', () => Buffer.from([2, 0, 0, 0, 1, 0xc3, 0x28])],
    ] as const) {
      it(`closes 1007 on a binary message ${label}`, async () => {
        const f = await fx.start();
        const c = await f.module('hmi_badbin', 'binary');
        const before = f.upstream.received.length;
        c.ws.send(make());
        expect((await c.closed).code).toBe(1007);
        await settle(f);
        expect(f.upstream.received.length).toBe(before + 2);
      });
    }

    it('answers a well-formed but invalid message with "Invalid message: ..." and keeps the connection', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_inv');
      c.sendText({ transaction_id: 41, topic: 7, message_type: 1 });
      const a = await c.next((m) => m.transaction_id === 41);
      expect(a).toMatchObject({ success: false, message_type: Response });
      expect(a.error_message).toMatch(/^Invalid message: topic must be a string/);
      c.sendText({ transaction_id: 42, topic: 'press1.x', message_type: 4, control_type: 99 });
      expect((await c.next((m) => m.transaction_id === 42)).error_message).toMatch(
        /^Invalid message: control_type/,
      );
      let deep: unknown = 1;
      for (let i = 0; i < 80; i++) deep = [deep];
      c.sendText({ transaction_id: 43, topic: 'press1.deep', message_type: 1, data: deep });
      expect((await c.next((m) => m.transaction_id === 43)).error_message).toMatch(
        /^Invalid message: JSON nesting/,
      );
      // Not answerable (no reply expected, or no transaction id): dropped.
      c.sendText({ transaction_id: 0, topic: 5, message_type: 1 });
      c.sendText({ transaction_id: 44, topic: 5, message_type: 3 });
      await stillWorks(c);
      expect(upstreamTopics(f)).not.toContain('press1.deep');
      expect(c.messages.some((m) => m.transaction_id === 44)).toBe(false);
      expect(f.bridge.metrics().invalidMessages).toBe(5);
    });
  });

  describe('size', () => {
    it('closes 1009 on a message over 256 KiB while others keep working', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      const c = await f.module('hmi_big');
      c.sendText(msg({ message_type: Request, topic: 'press1.big', data: 'x'.repeat(257 * 1024) }));
      expect((await c.closed).code).toBe(1009);
      await stillWorks(good);
      expect(upstreamTopics(f)).not.toContain('press1.big');
      expect(f.bridge.metrics().closes['1009']).toBe(1);
    });

    it('counts the frame header of a binary message', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_edge', 'binary');
      const base = frameOf(msg({ message_type: Request, topic: 'press1.edge', data: '' })).length;
      // Exactly 256 KiB with the header: accepted.
      const fits = msg({
        message_type: Request,
        topic: 'press1.edge',
        data: 'x'.repeat(256 * 1024 - base),
      });
      c.sendFrame(fits);
      expect((await c.next((m) => m.transaction_id === fits.transaction_id)).success).toBe(true);
      c.sendFrame(
        msg({
          message_type: Request,
          topic: 'press1.edge',
          data: 'x'.repeat(256 * 1024 - base + 1),
        }),
      );
      expect((await c.closed).code).toBe(1009);
    });

    it('closes 1009 on a message over 64 KiB before registration', async () => {
      const f = await fx.start();
      const c = await f.client();
      const reg = registerMsg('hmi_fat');
      (reg.data as Record<string, unknown>).pad = 'x'.repeat(65 * 1024);
      c.sendText(reg);
      expect((await c.closed).code).toBe(1009);
      expect(f.upstream.received).toEqual([]);
      // After registration the same size is fine.
      const ok = await f.module('hmi_thin');
      const res = await ok.call(Request, 'press1.fat', 'x'.repeat(65 * 1024));
      expect(res.success).toBe(true);
    });
  });

  describe('rate limit', () => {
    it('answers "Rate limit exceeded" over the bucket, then closes 1008 on sustained excess', async () => {
      const f = await fx.start();
      const good = await f.module('hmi_good');
      const c = await f.module('hmi_flood');
      const ids: number[] = [];
      for (let i = 0; i < 1300; i++) {
        const m = msg({ message_type: Request, topic: 'press1.flood', data: i });
        ids.push(m.transaction_id);
        c.sendText(m);
      }
      // Every request gets exactly one answer: the echo, or the refusal.
      await vi.waitFor(
        () => expect(c.messages.filter((m) => m.message_type === Response)).toHaveLength(1300),
        {
          timeout: 10_000,
        },
      );
      const refused = c.messages.filter((m) => m.error_message === 'Rate limit exceeded');
      // 1300 - 999 tokens left, minus the refill while the bridge works through them.
      expect(refused.length).toBeGreaterThanOrEqual(50);
      expect(refused.length).toBeLessThanOrEqual(301);
      expect(refused.every((m) => m.success === false && ids.includes(m.transaction_id))).toBe(
        true,
      );
      const relayed = f.upstream.received.filter((m) => m.topic === 'press1.flood').length;
      expect(relayed).toBe(1300 - refused.length);
      await stillWorks(good);

      // Keep far above 200/s: after 2 s of continuous excess the connection is closed.
      const started = Date.now();
      const flood = setInterval(() => {
        for (let i = 0; i < 20; i++)
          c.sendText(msg({ message_type: Broadcast, topic: 'hmi_flood.x', transaction_id: 0 }));
      }, 10);
      try {
        expect((await c.closed).code).toBe(1008);
      } finally {
        clearInterval(flood);
      }
      expect(Date.now() - started).toBeLessThan(8000);
      expect(f.bridge.metrics().rateLimited).toBeGreaterThan(refused.length);
      await stillWorks(good);
    });

    it('does not close a connection that only bursts', async () => {
      const f = await fx.start({
        bridge: { limits: { rateCapacity: 20, rateRefillPerSecond: 100, rateExcessCloseMs: 300 } },
      });
      const c = await f.module('hmi_burst');
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 30; i++)
          c.sendText(msg({ message_type: Request, topic: 'press1.burst', data: i }));
        await sleep(400);
      }
      await vi.waitFor(() =>
        expect(c.messages.filter((m) => m.message_type === Response)).toHaveLength(90),
      );
      expect(c.messages.some((m) => m.error_message === 'Rate limit exceeded')).toBe(true);
      await stillWorks(c);
    });
  });

  describe('slow browser', () => {
    /** Sends `count` messages from the fake server without overrunning its own outbound queue. */
    async function flood(
      up: FakeUpstreamConnection,
      make: (i: number) => CommandMessage,
      count: number,
    ): Promise<void> {
      for (let i = 0; i < count && !up.transport.isClosed; i++) {
        up.send(make(i));
        while (up.transport.bufferedAmount > 1024 * 1024 && !up.transport.isClosed) await sleep(2);
      }
    }

    it('coalesces Broadcasts per topic, then closes 1013, while another client keeps working', async () => {
      const f = await fx.start({ bridge: { limits: { slowConsumerMs: 1500 } } });
      const fast = await f.module('hmi_fast');
      const slow = await f.module('hmi_slow');
      const fastUp = await f.upstream.connectionOf('hmi_fast');
      const slowUp = await f.upstream.connectionOf('hmi_slow');
      // The browser stops reading: its socket is paused, so the bridge's queue grows.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const blob = 'v'.repeat(64 * 1024);
      await flood(slowUp, (i) => CommandMessage.broadcast(`press1.t${i % 3}`, { i, blob }), 600);
      await vi.waitFor(() => expect(f.bridge.metrics().coalesced).toBeGreaterThan(0), {
        timeout: 5000,
      });
      // Still open while coalescing keeps the queue bounded...
      fastUp.send(CommandMessage.broadcast('press1.fast', 1));
      await fast.next((m) => m.topic === 'press1.fast');
      await stillWorks(fast);
      // ...and closed 1013 once nothing has been taken for slowConsumerMs.
      await vi.waitFor(
        () =>
          expect(
            f.logs.some((l) => l.event === 'close' && l.code === 1013 && l.name === 'hmi_slow'),
          ).toBe(true),
        { timeout: 6000 },
      );
      expect(f.logs.some((l) => l.event === 'limit' && l.reason === 'slow_consumer')).toBe(true);
      expect(f.bridge.metrics().closes['1013']).toBe(1);
      await vi.waitFor(() => expect(slowUp.transport.isClosed).toBe(true));
      await stillWorks(fast);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await slow.closed;
    });

    it('does not count one large message against a browser that keeps reading', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_large');
      const up = await f.upstream.connectionOf('hmi_large');
      const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      up.send(CommandMessage.broadcast('press1.big', 'L'.repeat(3.5 * 1024 * 1024)));
      for (let i = 0; i < 20; i++) up.send(CommandMessage.request(`hmi_large.after${i}`, i));
      await sleep(300);
      socket.resume();
      await vi.waitFor(
        () =>
          expect(c.messages.filter((m) => m.topic.startsWith('hmi_large.after'))).toHaveLength(20),
        {
          timeout: 5000,
        },
      );
      expect(c.messages[c.messages.length - 21]?.topic).toBe('press1.big');
      expect(f.bridge.metrics().closes['1013']).toBeUndefined();
      await stillWorks(c);
    });

    it('closes 1013 at once when messages that cannot be coalesced pile up over the limit', async () => {
      const f = await fx.start({ bridge: { limits: { slowConsumerMs: 60_000 } } });
      const fast = await f.module('hmi_fast');
      const slow = await f.module('hmi_slow');
      const slowUp = await f.upstream.connectionOf('hmi_slow');
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const blob = 'r'.repeat(64 * 1024);
      await flood(slowUp, (i) => CommandMessage.request(`hmi_slow.job${i}`, { blob }), 400);
      await vi.waitFor(
        () =>
          expect(
            f.logs.some((l) => l.event === 'close' && l.code === 1013 && l.name === 'hmi_slow'),
          ).toBe(true),
        { timeout: 8000 },
      );
      expect(f.bridge.metrics().coalesced).toBe(0);
      await stillWorks(fast);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    });
  });

  describe('slow server', () => {
    it('pauses reading from the browser while the TCP side is backed up, and loses nothing', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_a');
      f.upstream.pauseReading();
      const blob = 'u'.repeat(200 * 1024);
      const count = 80;
      for (let i = 0; i < count; i++) {
        c.sendText(
          msg({
            message_type: Broadcast,
            topic: `hmi_a.bulk`,
            transaction_id: 0,
            data: { i, blob },
          }),
        );
      }
      await vi.waitFor(
        () => expect(f.logs.some((l) => l.reason === 'upstream_backpressure')).toBe(true),
        {
          timeout: 5000,
        },
      );
      await sleep(200);
      expect(f.upstream.received.filter((m) => m.topic === 'hmi_a.bulk').length).toBe(0);
      f.upstream.resumeReading();
      await vi.waitFor(
        () =>
          expect(f.upstream.received.filter((m) => m.topic === 'hmi_a.bulk')).toHaveLength(count),
        {
          timeout: 10_000,
        },
      );
      const order = f.upstream.received
        .filter((m) => m.topic === 'hmi_a.bulk')
        .map((m) => (m.data as { i: number }).i);
      expect(order).toEqual([...Array(count).keys()]);
      await stillWorks(c);
    });
  });

  describe('connection lifecycle', () => {
    it('closes the TCP connection when the browser leaves', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_leave');
      const up = await f.upstream.connectionOf('hmi_leave');
      await c.close();
      expect(await up.transport.closed).toBeUndefined();
    });

    it('closes the WebSocket 1000 when the server closes cleanly', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_end');
      const up = await f.upstream.connectionOf('hmi_end');
      up.send(CommandMessage.broadcast('press1.last', 'bye'));
      await up.transport.end();
      expect((await c.closed).code).toBe(1000);
      // What the server sent before closing was delivered first.
      expect(c.messages.some((m) => m.topic === 'press1.last')).toBe(true);
    });

    it('closes the WebSocket 1011 when the server connection fails', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_reset');
      const up = await f.upstream.connectionOf('hmi_reset');
      up.reset();
      expect((await c.closed).code).toBe(1011);
    });

    it('closes the WebSocket 1011 when the server breaks the frame rules', async () => {
      const f = await fx.start();
      const c = await f.module('hmi_garbage');
      const up = await f.upstream.connectionOf('hmi_garbage');
      up.sendRaw(new Uint8Array([5, 0, 0, 0, 99, 1, 2, 3, 4, 5]));
      expect((await c.closed).code).toBe(1011);
      expect(f.logs.some((l) => l.event === 'upstream' && l.reason === 'protocol_error')).toBe(
        true,
      );
    });

    it('closes the WebSocket 1011 when the server cannot be reached', async () => {
      const f = await fx.start();
      const port = f.upstream.port;
      await f.upstream.close();
      const bridge = await createBridge({
        ...testBridgeOptions(`127.0.0.1:${port}`),
        log: () => {},
      });
      fx.defer(() => bridge.close());
      const c = await openClient(bridge.url, { token: TOKEN });
      fx.defer(() => c.close());
      expect((await c.closed).code).toBe(1011);
      expect(bridge.metrics().upstreamErrors).toBe(1);
    });

    it('terminates a browser that stops answering pings', async () => {
      const f = await fx.start({ bridge: { limits: { pingIntervalMs: 100 } } });
      const alive = await f.module('hmi_alive');
      const dead = await f.module('hmi_dead', 'text', { token: TOKEN, autoPong: false });
      expect((await dead.closed).code).toBe(1006);
      expect(
        f.logs.some((l) => l.event === 'limit' && l.reason === 'no_pong' && l.name === 'hmi_dead'),
      ).toBe(true);
      await sleep(300);
      await stillWorks(alive);
    });

    it('closes every connection with 1001 on close() and leaves nothing open', async () => {
      const f = await fx.start();
      const a = await f.module('hmi_a');
      const b = await f.module('hmi_b', 'binary');
      const ua = await f.upstream.connectionOf('hmi_a');
      const ub = await f.upstream.connectionOf('hmi_b');
      await f.bridge.close();
      expect((await a.closed).code).toBe(1001);
      expect((await b.closed).code).toBe(1001);
      expect(ua.transport.isClosed && ub.transport.isClosed).toBe(true);
      expect(f.bridge.metrics().connectionsCurrent).toBe(0);
      await expect(openClient(f.url, { token: TOKEN })).rejects.toThrow();
      await f.bridge.close();
    });
  });
});
