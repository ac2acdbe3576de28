import { describe, expect, it } from 'vitest';
import { CommandMessage, ControlType, MessageType } from '../../../src/core/message.ts';
import {
  BaseModuleHandler,
  answerMessage,
  handleModuleMessage,
  type ModuleHandler,
} from '../../../src/core/module-handler.ts';

const request = (topic: string, data: unknown = null): CommandMessage => {
  const msg = CommandMessage.request(topic, data);
  msg.transactionId = 41;
  return msg;
};

const control = (controlType: ControlType, data: unknown = null): CommandMessage => {
  const msg = new CommandMessage({ transactionId: 7, topic: 'press1', messageType: MessageType.Control, data });
  msg.controlType = controlType;
  return msg;
};

describe('answerMessage', () => {
  it('answers a route that returns a value at once, without a promise', () => {
    const handler = new BaseModuleHandler('press1').route('press1.speed', () => 1200);
    const reply = answerMessage(handler, request('press1.speed'));
    expect(reply).toBeInstanceOf(CommandMessage);
    const msg = reply as CommandMessage;
    expect(msg.data).toBe(1200);
    expect(msg.success).toBe(true);
    expect(msg.transactionId).toBe(41);
    expect(msg.messageType).toBe(MessageType.Response);
  });

  it('answers a route that returns a CommandMessage at once, with the request id forced on it', () => {
    const handler = new BaseModuleHandler('press1').route('press1.raw', () =>
      new CommandMessage({ transactionId: 999, topic: 'other', messageType: MessageType.Broadcast, data: 'x' }),
    );
    const reply = answerMessage(handler, request('press1.raw')) as CommandMessage;
    expect(reply.transactionId).toBe(41);
    expect(reply.messageType).toBe(MessageType.Response);
    expect(reply.data).toBe('x');
  });

  it('answers a synchronous throw with a failed Response at once', () => {
    const handler = new BaseModuleHandler('press1').route('press1.bad', () => {
      throw new Error('axis not homed');
    });
    const reply = answerMessage(handler, request('press1.bad')) as CommandMessage;
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toBe('axis not homed');
  });

  it('answers unrouted topics and get_catalog at once', () => {
    const handler = new BaseModuleHandler('press1').route('press1.speed', () => 1);
    const missing = answerMessage(handler, request('press1.nothing')) as CommandMessage;
    expect(missing.errorMessage).toBe('Function not implemented: press1.nothing');
    const catalog = answerMessage(handler, request('press1.get_catalog')) as CommandMessage;
    expect(catalog.data).toEqual(['press1.speed']);
  });

  it('waits for a route that returns a promise, and for a rejection', async () => {
    const handler = new BaseModuleHandler('press1')
      .route('press1.slow', async () => 'later')
      .route('press1.fails', () => Promise.reject(new Error('timeout on the PLC')));
    const slow = answerMessage(handler, request('press1.slow'));
    expect(slow).toBeInstanceOf(Promise);
    expect((await slow).data).toBe('later');
    const fails = await answerMessage(handler, request('press1.fails'));
    expect(fails.success).toBe(false);
    expect(fails.errorMessage).toBe('timeout on the PLC');
  });

  it('waits for a thenable that is not a Promise', async () => {
    const thenable = { then: (ok: (v: unknown) => void) => ok({ pos: 3 }) };
    const handler = new BaseModuleHandler('press1').route('press1.pos', () => thenable);
    const reply = await answerMessage(handler, request('press1.pos'));
    expect(reply.data).toEqual({ pos: 3 });
  });

  it('asks a subclass through its own handleMessage override', async () => {
    class Audited extends BaseModuleHandler {
      seen: string[] = [];
      override async handleMessage(msg: CommandMessage): Promise<CommandMessage> {
        this.seen.push(msg.topic);
        return super.handleMessage(msg);
      }
    }
    const handler = new Audited('press1').route('press1.speed', () => 5);
    const reply = await answerMessage(handler, request('press1.speed'));
    expect(reply.data).toBe(5);
    expect(handler.seen).toEqual(['press1.speed']);
  });

  it('answers a plain ModuleHandler that returns something other than a CommandMessage with a failure', async () => {
    const handler: ModuleHandler = {
      domain: 'press1',
      handleMessage: () => ({ not: 'a message' }) as unknown as CommandMessage,
    };
    const reply = (await answerMessage(handler, request('press1.speed'))) as CommandMessage;
    expect(reply.success).toBe(false);
    expect(reply.errorMessage).toBe('Handler for press1.speed returned no CommandMessage');
  });

  it('runs the lifecycle hooks for Control messages and turns their failures into failed Responses', async () => {
    const calls: string[] = [];
    const handler: ModuleHandler = {
      domain: 'press1',
      handleMessage: (msg) => msg.intoResponse(null),
      onInitialize: () => {
        calls.push('init');
      },
      onConfigure: () => {
        throw new Error('bad config');
      },
      status: () => ({ ok: true }),
    };
    expect((await answerMessage(handler, control(ControlType.Initialize))).success).toBe(true);
    const configured = await answerMessage(handler, control(ControlType.Configure, { a: 1 }));
    expect(configured.errorMessage).toBe('bad config');
    expect((await answerMessage(handler, control(ControlType.Status))).data).toEqual({ ok: true });
    expect(calls).toEqual(['init']);
  });
});

describe('handleModuleMessage', () => {
  it('always resolves with a Response, also for a handler that answers at once', async () => {
    const handler = new BaseModuleHandler('press1').route('press1.speed', () => 1200);
    const pending = handleModuleMessage(handler, request('press1.speed'));
    expect(pending).toBeInstanceOf(Promise);
    expect((await pending).data).toBe(1200);
  });

  it('keeps BaseModuleHandler.handleMessage a promise for its callers', async () => {
    const handler = new BaseModuleHandler('press1').route('press1.speed', () => 1200);
    const pending = handler.handleMessage(request('press1.speed'));
    expect(pending).toBeInstanceOf(Promise);
    expect((await pending).data).toBe(1200);
  });
});
