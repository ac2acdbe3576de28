import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import { CommandMessage } from '../../../src/core/message.ts';
import {
  DELIVER,
  END,
  Subscription,
  type SubscriptionOwner,
} from '../../../src/client/subscription.ts';

function owner(): SubscriptionOwner & { released: Subscription[]; errors: IpcError[] } {
  const o = {
    released: [] as Subscription[],
    errors: [] as IpcError[],
    release: (s: Subscription) => {
      o.released.push(s);
      return Promise.resolve();
    },
    reportError: (e: IpcError) => void o.errors.push(e),
  };
  return o;
}

const msg = (n: number) => CommandMessage.broadcast(`a.${n}`, n);

describe('Subscription', () => {
  it('yields broadcasts in order to one iterator', async () => {
    const sub = new Subscription(owner(), 'a.*', undefined);
    sub[DELIVER](msg(1));
    sub[DELIVER](msg(2));
    const it = sub[Symbol.asyncIterator]();
    expect((await it.next()).value?.data).toBe(1);
    expect((await it.next()).value?.data).toBe(2);
    const pending = it.next();
    sub[DELIVER](msg(3));
    expect((await pending).value?.data).toBe(3);
  });

  it('drops the oldest when the consumer lags, and counts them', async () => {
    const sub = new Subscription(owner(), 'a.*', undefined, 3);
    for (let i = 1; i <= 10; i++) sub[DELIVER](msg(i));
    expect(sub.dropped).toBe(7);
    expect(sub.received).toBe(10);
    expect(sub.buffered).toBe(3);
    const got: unknown[] = [];
    const it = sub[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) got.push((await it.next()).value?.data);
    expect(got).toEqual([8, 9, 10]);
  });

  it('unsubscribes once when the loop breaks, and ends a pending next()', async () => {
    const o = owner();
    const sub = new Subscription(o, 'a.*', undefined);
    sub[DELIVER](msg(1));
    for await (const m of sub) {
      expect(m.data).toBe(1);
      break;
    }
    expect(o.released).toEqual([sub]);
    expect(sub.isClosed).toBe(true);
    await sub.unsubscribe();
    expect(o.released).toHaveLength(1);

    const sub2 = new Subscription(o, 'b', undefined);
    const it = sub2[Symbol.asyncIterator]();
    const waiting = it.next();
    await sub2.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
  });

  it('yields what is buffered after the client closed, then ends', async () => {
    const o = owner();
    const sub = new Subscription(o, 'a.*', undefined);
    sub[DELIVER](msg(1));
    sub[END]();
    sub[DELIVER](msg(2));
    const seen: unknown[] = [];
    for await (const m of sub) seen.push(m.data);
    expect(seen).toEqual([1]);
    expect(o.released).toHaveLength(0);
  });

  it('calls a handler instead, reporting its throws and rejections', async () => {
    const o = owner();
    const seen: unknown[] = [];
    const sub = new Subscription(o, 'a.*', (m) => {
      seen.push(m.data);
      if (m.data === 2) throw new Error('boom');
      if (m.data === 3) return Promise.reject(new Error('async boom'));
    });
    for (let i = 1; i <= 4; i++) sub[DELIVER](msg(i));
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(o.errors.map((e) => e.code)).toEqual(['ERR_HANDLER', 'ERR_HANDLER']);
    expect(o.errors[0]?.message).toContain('boom');
    expect(() => sub[Symbol.asyncIterator]()).toThrow(/has a handler/);
  });

  it('allows one iterator at a time', () => {
    const sub = new Subscription(owner(), 'a', undefined);
    sub[Symbol.asyncIterator]();
    expect(() => sub[Symbol.asyncIterator]()).toThrow(/already being iterated/);
  });

  it('unsubscribes at the end of an await using block', async () => {
    const o = owner();
    {
      await using sub = new Subscription(o, 'a', undefined);
      expect(sub.isClosed).toBe(false);
    }
    expect(o.released).toHaveLength(1);
  });
});
