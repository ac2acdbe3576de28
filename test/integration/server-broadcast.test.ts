import { afterEach, describe, expect, it } from 'vitest';
import { CommandMessage, MessageType } from '../../src/core/message.ts';
import { TestBed, type RawPeer } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const isBroadcast = (m: CommandMessage): boolean => m.messageType === MessageType.Broadcast;
const broadcastsOf = (peer: RawPeer): CommandMessage[] => peer.inbox.filter(isBroadcast);

/** Sends a ping and waits for the pong: everything the server sent this peer before is in. */
async function sync(peer: RawPeer): Promise<void> {
  await peer.call(CommandMessage.request('system.ping'));
}

describe('IpcServer subscriptions', () => {
  it('answers Subscribe and Unsubscribe by the rules', async () => {
    const server = await bed.server({ maxSubscriptionsPerConnection: 3 });
    const hmi = await bed.module(server, 'hmi');

    const first = await hmi.subscribe('press1.*.pos');
    expect(first).toMatchObject({
      messageType: MessageType.Response,
      success: true,
      topic: 'press1.*.pos',
    });
    expect((await hmi.subscribe('press1.*.pos')).success).toBe(true); // idempotent

    const invalid = await hmi.subscribe('press1.>.pos');
    expect(invalid.success).toBe(false);
    expect(invalid.errorMessage).toMatch(
      /Invalid topic pattern "press1\.>\.pos": '>' must be the last segment/,
    );

    expect((await hmi.subscribe('a.b')).success).toBe(true);
    expect((await hmi.subscribe('a.{x}')).success).toBe(true);
    const over = await hmi.subscribe('a.c');
    expect(over.success).toBe(false);
    expect(over.errorMessage).toBe('Too many subscriptions (limit 3)');
    expect((await hmi.subscribe('a.b')).success).toBe(true); // already held: not a new one

    const notHeld = await hmi.call(CommandMessage.unsubscribe('x.y'));
    expect(notHeld.success).toBe(false);
    expect(notHeld.errorMessage).toBe('Not subscribed: x.y');
    expect((await hmi.call(CommandMessage.unsubscribe('a.b'))).success).toBe(true);
    expect((await hmi.call(CommandMessage.unsubscribe('a.b'))).errorMessage).toBe(
      'Not subscribed: a.b',
    );
    expect((await hmi.subscribe('a.c')).success).toBe(true); // a slot was freed
  });

  it('delivers a broadcast once to each matching connection, never to its sender', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const both = await bed.module(server, 'both');
    const wild = await bed.module(server, 'wild');
    const other = await bed.module(server, 'other');
    await both.subscribe('press1.axis.*.pos');
    await both.subscribe('press1.>'); // two matching patterns: still one delivery
    await wild.subscribe('*.axis.{n}.pos');
    await other.subscribe('press2.>');
    await press.subscribe('press1.>'); // the sender subscribes too

    press.send(CommandMessage.broadcast('press1.axis.3.pos', { mm: 12.5 }));
    press.send(CommandMessage.broadcast('press1.state', 'running'));
    await sync(press); // the server has read, and forwarded, both broadcasts
    await Promise.all([sync(both), sync(wild), sync(other)]); // each subscriber has read them

    expect(broadcastsOf(both).map((m) => [m.topic, m.data])).toEqual([
      ['press1.axis.3.pos', { mm: 12.5 }],
      ['press1.state', 'running'],
    ]);
    expect(broadcastsOf(wild).map((m) => m.topic)).toEqual(['press1.axis.3.pos']);
    expect(broadcastsOf(other)).toEqual([]);
    expect(broadcastsOf(press)).toEqual([]);
  });

  it('forwards the broadcast as sent (members and transaction id kept)', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const hmi = await bed.module(server, 'hmi');
    await hmi.subscribe('press1.>');
    const sent = CommandMessage.broadcast('press1.speed', [1, 2, { deep: 'x' }]);
    sent.crc = 12345;
    press.send(sent);
    const got = await hmi.expectMessage(isBroadcast);
    expect(got.toJSON()).toEqual(sent.toJSON());
  });

  it('stops delivering after Unsubscribe and when the subscriber leaves', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const a = await bed.module(server, 'a');
    const b = await bed.module(server, 'b');
    await a.subscribe('press1.>');
    await b.subscribe('press1.>');
    press.send(CommandMessage.broadcast('press1.x', 1));
    await a.expectMessage(isBroadcast);
    await b.expectMessage(isBroadcast);

    await a.call(CommandMessage.unsubscribe('press1.>'));
    await b.close();
    press.send(CommandMessage.broadcast('press1.x', 2));
    await a.expectNoMessage(isBroadcast, 80);
  });

  it('fans one broadcast out to many subscribers', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    const subs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => bed.module(server, `s${i}`)),
    );
    await Promise.all(subs.map((s, i) => s.subscribe(i % 2 === 0 ? 'press1.>' : 'press1.*')));
    for (let i = 0; i < 50; i++) press.send(CommandMessage.broadcast('press1.v', i));
    for (const s of subs) {
      const last = await s.expectMessage((m) => isBroadcast(m) && m.data === 49);
      expect(last.topic).toBe('press1.v');
      expect(broadcastsOf(s).map((m) => m.data)).toEqual(Array.from({ length: 49 }, (_, i) => i));
    }
  });
});
