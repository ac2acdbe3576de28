import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import { CommandMessage, MessageType } from '../../../src/core/message.ts';
import {
  TopicRouter,
  TopicRouterBuilder,
  type RouteContext,
  type RouteHandler,
} from '../../../src/core/topic-router.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof IpcError ? e.code : 'not an IpcError';
  }
  return undefined;
}

/** A handler that answers with the pattern it was registered under. */
const tag =
  (name: string): RouteHandler<unknown> =>
  () =>
    name;

describe('TopicRouter', () => {
  describe('route', () => {
    it('returns the router so calls chain', () => {
      const router = new TopicRouter<unknown>();
      expect(router.route('a', tag('a')).route('b', tag('b'))).toBe(router);
      expect(router.size).toBe(2);
    });

    it('rejects an invalid pattern with ERR_INVALID_PATTERN at registration', () => {
      const router = new TopicRouter<unknown>();
      for (const bad of [
        '',
        'a..b',
        'a.>.b',
        'a*',
        'x{id}',
        '{a}b',
        'a.{}',
        '{x}.{x}',
        '{rest}.>',
        'a.{1}',
      ]) {
        expect(
          codeOf(() => router.route(bad, tag(bad))),
          bad,
        ).toBe('ERR_INVALID_PATTERN');
      }
      expect(router.size).toBe(0);
    });

    it('names the pattern and the fault in the error message', () => {
      try {
        new TopicRouter().route('press1.>.pos', () => undefined);
        expect.unreachable();
      } catch (e) {
        expect((e as Error).message).toContain('"press1.>.pos"');
        expect((e as Error).message).toContain("'>' must be the last segment");
      }
    });

    it('rejects a handler that is not a function with ERR_INVALID_ARGUMENT', () => {
      const router = new TopicRouter();
      expect(codeOf(() => router.route('a', 42 as unknown as RouteHandler))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
    });

    it('replaces the handler of a pattern registered again and keeps its tie position', () => {
      const router = new TopicRouter<unknown>()
        .route('a.*', tag('old'))
        .route('a.{x}', tag('capture'));
      router.route('a.*', tag('new'));
      expect(router.size).toBe(2);
      expect(router.patterns()).toEqual(['a.*', 'a.{x}']);
      expect(router.match('a.b')?.pattern).toBe('a.*');
      expect(router.match('a.b')?.handler({} as RouteContext)).toBe('new');
    });
  });

  describe('match', () => {
    const ranked = ['press1.axis.3.pos', 'press1.axis.{n}.pos', 'press1.*.3.pos', 'press1.>'];
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
      [3, 0, 2, 1],
    ];

    it('prefers press1.axis.3.pos > press1.axis.{n}.pos > press1.*.3.pos > press1.> whatever the registration order', () => {
      for (const order of orders) {
        const router = new TopicRouter<unknown>();
        for (const i of order) router.route(ranked[i] as string, tag(ranked[i] as string));
        for (const expected of ranked) {
          expect(router.match('press1.axis.3.pos')?.pattern, order.join(',')).toBe(expected);
          expect(router.remove(expected)).toBe(true);
        }
        expect(router.match('press1.axis.3.pos')).toBeUndefined();
      }
    });

    it('gives a full tie to the route registered first', () => {
      expect(
        new TopicRouter()
          .route('a.*', () => undefined)
          .route('a.{x}', () => undefined)
          .match('a.b')?.pattern,
      ).toBe('a.*');
      expect(
        new TopicRouter()
          .route('a.{x}', () => undefined)
          .route('a.*', () => undefined)
          .match('a.b')?.pattern,
      ).toBe('a.{x}');
    });

    it('captures {name} segments', () => {
      const m = new TopicRouter()
        .route('{plc}.axis.{n}.pos', () => undefined)
        .match('plc1.axis.3.pos');
      expect(m?.params).toEqual({ plc: 'plc1', n: '3' });
      expect(m?.pattern).toBe('{plc}.axis.{n}.pos');
    });

    it('captures the rest after > joined with dots', () => {
      const m = new TopicRouter().route('press1.>', () => undefined).match('press1.axis.3.pos');
      expect(m?.params).toEqual({ rest: 'axis.3.pos' });
    });

    it('returns undefined when no route matches', () => {
      const router = new TopicRouter().route('press1.start', () => undefined);
      expect(router.match('press1.stop')).toBeUndefined();
      expect(router.match('press1..start')).toBeUndefined();
      expect(router.match('')).toBeUndefined();
    });

    it('finds the right route among thousands', () => {
      const router = new TopicRouter<unknown>();
      for (let plc = 0; plc < 100; plc++) {
        for (let axis = 0; axis < 30; axis++)
          router.route(`plc${plc}.axis.${axis}.pos`, tag('lit'));
        router.route(`plc${plc}.axis.{n}.pos`, tag('cap'));
        router.route(`plc${plc}.GM.*.stData`, tag('gm'));
        router.route(`plc${plc}.>`, tag('rest'));
      }
      expect(router.size).toBe(100 * 33);
      expect(router.match('plc42.axis.7.pos')?.pattern).toBe('plc42.axis.7.pos');
      expect(router.match('plc42.axis.77.pos')?.params).toEqual({ n: '77' });
      expect(router.match('plc99.GM.motor.stData')?.pattern).toBe('plc99.GM.*.stData');
      expect(router.match('plc0.anything.else')?.params).toEqual({ rest: 'anything.else' });
      expect(router.match('plc100.axis.1.pos')).toBeUndefined();
    });
  });

  describe('remove, patterns, size', () => {
    it('removes a route by its exact pattern', () => {
      const router = new TopicRouter().route('a.*', () => undefined).route('a.>', () => undefined);
      expect(router.remove('a.{x}')).toBe(false);
      expect(router.remove('a.*')).toBe(true);
      expect(router.remove('a.*')).toBe(false);
      expect(router.has('a.*')).toBe(false);
      expect(router.has('a.>')).toBe(true);
      expect(router.size).toBe(1);
      expect(router.match('a.b')?.pattern).toBe('a.>');
    });

    it('lists patterns in registration order', () => {
      const router = new TopicRouter()
        .route('b', () => undefined)
        .route('a.>', () => undefined)
        .route('c.*', () => undefined);
      expect(router.patterns()).toEqual(['b', 'a.>', 'c.*']);
      router.remove('a.>');
      expect(router.patterns()).toEqual(['b', 'c.*']);
    });
  });

  describe('dispatch', () => {
    it('passes the message, params and pattern to the handler', async () => {
      let seen: RouteContext | undefined;
      const router = new TopicRouter().route('press1.axis.{n}.pos', (ctx) => {
        seen = ctx;
        return undefined;
      });
      const msg = CommandMessage.request('press1.axis.3.pos', { x: 1 });
      expect(await router.dispatch(msg)).toBeUndefined();
      expect(seen?.message).toBe(msg);
      expect(seen?.params).toEqual({ n: '3' });
      expect(seen?.pattern).toBe('press1.axis.{n}.pos');
    });

    it('returns a CommandMessage from the handler as is', async () => {
      const router = new TopicRouter().route('a.b', ({ message }) =>
        message.intoResponse('custom'),
      );
      const msg = CommandMessage.request('a.b');
      const reply = await router.dispatch(msg);
      expect(reply).toBeInstanceOf(CommandMessage);
      expect(reply?.data).toBe('custom');
      expect(reply?.transactionId).toBe(msg.transactionId);
    });

    it('wraps plain data with intoResponse', async () => {
      const router = new TopicRouter<unknown>().route('press1.axis.{n}.pos', ({ params }) => ({
        axis: Number(params.n),
      }));
      const msg = CommandMessage.read('press1.axis.3.pos');
      const reply = await router.dispatch(msg);
      expect(reply?.messageType).toBe(MessageType.Response);
      expect(reply?.success).toBe(true);
      expect(reply?.data).toEqual({ axis: 3 });
      expect(reply?.transactionId).toBe(msg.transactionId);
      expect(reply?.topic).toBe('press1.axis.3.pos');
    });

    it('wraps null, false, 0 and empty strings as data', async () => {
      for (const value of [null, false, 0, '']) {
        const router = new TopicRouter<unknown>().route('a', () => value);
        const reply = await router.dispatch(CommandMessage.request('a'));
        expect(reply?.success).toBe(true);
        expect(reply?.data).toBe(value);
      }
    });

    it('awaits an async handler', async () => {
      const router = new TopicRouter<unknown>().route('a.{x}', async ({ params }) => {
        await new Promise((r) => setTimeout(r, 5));
        return `async ${params.x}`;
      });
      const reply = await router.dispatch(CommandMessage.request('a.b'));
      expect(reply?.data).toBe('async b');
    });

    it('resolves undefined when the async handler resolves undefined', async () => {
      const router = new TopicRouter().route('a', async () => undefined);
      expect(await router.dispatch(CommandMessage.request('a'))).toBeUndefined();
    });

    it('resolves undefined when no route matches', async () => {
      const router = new TopicRouter().route('a', () => undefined);
      expect(await router.dispatch(CommandMessage.request('b'))).toBeUndefined();
    });

    it('turns a throwing handler into an error response', async () => {
      const router = new TopicRouter().route('press1.start', () => {
        throw new Error('motor fault');
      });
      const msg = CommandMessage.request('press1.start');
      const reply = await router.dispatch(msg);
      expect(reply?.success).toBe(false);
      expect(reply?.errorMessage).toBe('motor fault');
      expect(reply?.messageType).toBe(MessageType.Response);
      expect(reply?.transactionId).toBe(msg.transactionId);
      expect(reply?.topic).toBe('press1.start');
    });

    it('turns a rejecting handler into an error response', async () => {
      const router = new TopicRouter().route('a', async () => {
        await Promise.resolve();
        throw new IpcError('ERR_HANDLER', 'async failure');
      });
      const reply = await router.dispatch(CommandMessage.request('a'));
      expect(reply?.success).toBe(false);
      expect(reply?.errorMessage).toBe('async failure');
    });

    it('describes thrown values that are not errors', async () => {
      const cases: [unknown, string][] = [
        ['plain string', 'plain string'],
        [42, 'Handler failed: 42'],
        [undefined, 'Handler failed: undefined'],
        [new TypeError(''), 'TypeError'],
      ];
      for (const [thrown, text] of cases) {
        const router = new TopicRouter().route('a', () => {
          throw thrown;
        });
        const reply = await router.dispatch(CommandMessage.request('a'));
        expect(reply?.success).toBe(false);
        expect(reply?.errorMessage).toBe(text);
      }
    });

    it('dispatches to the best route only', async () => {
      const calls: string[] = [];
      const router = new TopicRouter<unknown>()
        .route('press1.>', () => void calls.push('rest'))
        .route('press1.axis.{n}.pos', () => void calls.push('cap'));
      await router.dispatch(CommandMessage.request('press1.axis.1.pos'));
      expect(calls).toEqual(['cap']);
    });
  });
});

describe('TopicRouterBuilder', () => {
  it('builds a router with the routes in order', async () => {
    const router = TopicRouter.builder<unknown>()
      .route('a.*', tag('star'))
      .route('a.{x}', tag('capture'))
      .route('a.b', tag('literal'))
      .build();
    expect(router).toBeInstanceOf(TopicRouter);
    expect(router.patterns()).toEqual(['a.*', 'a.{x}', 'a.b']);
    expect((await router.dispatch(CommandMessage.request('a.b')))?.data).toBe('literal');
    expect((await router.dispatch(CommandMessage.request('a.c')))?.data).toBe('star');
  });

  it('rejects an invalid pattern when the route is added', () => {
    const builder = new TopicRouterBuilder();
    expect(codeOf(() => builder.route('a.>.b', () => undefined))).toBe('ERR_INVALID_PATTERN');
    expect(builder.build().size).toBe(0);
  });

  it('builds independent routers', () => {
    const builder = TopicRouter.builder().route('a', () => undefined);
    const one = builder.build();
    const two = builder.build();
    one.remove('a');
    expect(two.has('a')).toBe(true);
  });
});
