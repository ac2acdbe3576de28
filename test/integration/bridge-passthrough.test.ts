/**
 * The bridge's cheap paths must not change what a browser sees: messages from the server are
 * validated and then sent on as the bytes they came in (text form: the payload; binary form: the
 * frame), and permission decisions are remembered per token without ever going stale.
 */
import { CommandMessage, HEADER_SIZE, MessageType } from 'autocore-ipc';
import { describe, expect, it } from 'vitest';
import { compilePermissions } from '../../bridge/permissions.ts';
import { useBridgeFixtures } from '../support/bridge-fixture.ts';

const { Broadcast } = MessageType;

/** A frame whose JSON is spelled by hand: key order, spacing and escapes the SDK never writes. */
function handFrame(json: string, type: number): Buffer {
  const payload = Buffer.from(json, 'utf8');
  const frame = Buffer.alloc(HEADER_SIZE + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame[4] = type;
  payload.copy(frame, HEADER_SIZE);
  return frame;
}

const ODD_JSON =
  '{ "topic":"press1.state", "message_type":3, "transaction_id":0, ' +
  '"data":{"label":"Drücken \\u00e4 🚀","n":1.50}, "success":true }';

describe('bridge pass-through of server messages', () => {
  const fx = useBridgeFixtures();

  for (const mode of ['text', 'binary'] as const) {
    it(`sends a validated server message on byte for byte (${mode})`, async () => {
      const f = await fx.start();
      const c = await f.module(`hmi_pass_${mode}`, mode);
      const up = await f.upstream.connectionOf(`hmi_pass_${mode}`);
      const frame = handFrame(ODD_JSON, Broadcast);
      up.sendRaw(frame);
      const got = await c.next((m) => m.message_type === Broadcast);
      expect(got.data).toEqual({ label: 'Drücken ä 🚀', n: 1.5 });
      const last = c.raw[c.raw.length - 1];
      expect(last?.isBinary).toBe(mode === 'binary');
      // Not re-serialised: the spacing, the escape and `1.50` arrive as the server wrote them.
      expect(
        Buffer.compare(
          last?.data ?? Buffer.alloc(0),
          mode === 'binary' ? frame : frame.subarray(HEADER_SIZE),
        ),
      ).toBe(0);
    });
  }

  for (const mode of ['text', 'binary'] as const) {
    it(`frames a burst of small, medium and large messages in order (${mode})`, async () => {
      const f = await fx.start();
      const c = await f.module(`hmi_burst_${mode}`, mode);
      const up = await f.upstream.connectionOf(`hmi_burst_${mode}`);
      // Header lengths of every kind (7-bit, 16-bit, 64-bit) and messages both copied into the
      // tick's chunk and written on their own, all sent in one tick.
      const sizes = [1, 100, 125, 126, 3000, 20_000, 65_535, 70_000, 10, 200_000, 5];
      for (const [i, n] of sizes.entries()) {
        up.send(CommandMessage.broadcast(`press1.burst${i}`, 'z'.repeat(n)));
      }
      const last = await c.next((m) => m.topic === `press1.burst${sizes.length - 1}`);
      expect(last.data).toBe('z'.repeat(5));
      const got = c.messages.filter((m) => m.topic.startsWith('press1.burst'));
      expect(got.map((m) => m.topic)).toEqual(sizes.map((_, i) => `press1.burst${i}`));
      expect(got.map((m) => (m.data as string).length)).toEqual(sizes);
      expect(c.raw.every((r) => r.isBinary === (mode === 'binary'))).toBe(true);
    });
  }

  it('still drops an invalid server message and relays the valid ones around it (text)', async () => {
    const f = await fx.start();
    const c = await f.module('hmi_pass_bad');
    const up = await f.upstream.connectionOf('hmi_pass_bad');
    // transaction_id of the wrong type: invalid for this message only, so the connection stays.
    up.sendRaw(
      handFrame('{"transaction_id":"x","topic":"press1.bad","message_type":3}', Broadcast),
    );
    up.send(CommandMessage.broadcast('press1.good', 1));
    const good = await c.next((m) => m.topic === 'press1.good');
    expect(good.data).toBe(1);
    expect(c.messages.some((m) => m.topic === 'press1.bad')).toBe(false);
  });
});

describe('remembered permission decisions', () => {
  const perms = compilePermissions({
    names: ['hmi_*'],
    request: ['press1.>'],
    subscribe: ['press1.>'],
    broadcast: ['hmi.>'],
    denyRequest: ['press1.secret.>'],
    denySubscribe: ['press1.secret.>'],
    denyBroadcast: [],
  });

  it('gives the same answers when asked again, past the memo size and for long topics', () => {
    const long = `press1.${'x'.repeat(300)}`;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1500; i++) {
        expect(perms.mayRequest(`press1.axis${i}.pos`)).toBe(true);
        expect(perms.mayRequest(`press1.secret.k${i}`)).toBe(false);
        expect(perms.mayRequest(`press2.axis${i}`)).toBe(false);
      }
      expect(perms.mayRequest(long)).toBe(true);
      expect(perms.mayRequest(`${long}.`)).toBe(false);
      expect(perms.maySubscribe('press1.>')).toBe(false);
      expect(perms.maySubscribe('press1.axis.*')).toBe(true);
      expect(perms.maySubscribe('press1.{bad')).toBe(false);
      expect(perms.mayBroadcast('hmi.status')).toBe(true);
      expect(perms.mayBroadcast('press1.status')).toBe(false);
    }
  });

  it('keeps the checks of each kind apart for the same topic', () => {
    expect(perms.mayRequest('hmi.status')).toBe(false);
    expect(perms.mayBroadcast('hmi.status')).toBe(true);
    expect(perms.mayRequest('press1.a')).toBe(true);
    expect(perms.mayBroadcast('press1.a')).toBe(false);
  });
});
