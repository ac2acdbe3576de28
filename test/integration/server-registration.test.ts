import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import type { IpcServerEvents } from '../../src/server/server-events.ts';
import { tokenAuthenticator } from '../../src/server/token-authenticator.node.ts';
import { SDK_VERSION } from '../../src/server/version.ts';
import { TestBed } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const isInitialize = (m: CommandMessage): boolean =>
  m.messageType === MessageType.Control && m.controlType === ControlType.Initialize;

describe('IpcServer registration', () => {
  it('acknowledges a registration with the server data, then sends Initialize', async () => {
    const server = await bed.server({ heartbeatMs: 5000, maxPayload: 1024 * 1024 });
    const events: Array<IpcServerEvents['registered']> = [];
    server.on('registered', (e) => events.push(e));
    const peer = await bed.peer(server);

    const ack = await peer.register('press1', {
      version: '2.1.0',
      capabilities: ['press1.start', 'press1.stop'],
    });
    expect(ack.success).toBe(true);
    expect(ack.messageType).toBe(MessageType.Control);
    expect(ack.controlType).toBe(ControlType.RegisterAck);
    expect(ack.data).toEqual({
      server: 'autocore-ipc',
      version: SDK_VERSION,
      heartbeat_ms: 5000,
      max_payload: 1024 * 1024,
    });

    const init = await peer.expectMessage(isInitialize);
    expect(init.topic).toBe('press1');
    expect(init.transactionId).not.toBe(0);
    expect(events).toEqual([
      {
        name: 'press1',
        version: '2.1.0',
        capabilities: ['press1.start', 'press1.stop'],
        remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown as string,
      },
    ]);
    expect(server.modules()).toMatchObject([
      { name: 'press1', version: '2.1.0', initialized: false },
    ]);
    peer.send(init.intoResponse(null));
    await peer.call(CommandMessage.request('system.ping'));
    expect(server.modules()).toMatchObject([{ name: 'press1', initialized: true }]);
  });

  it('reports the package version by default', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(SDK_VERSION).toBe(pkg.version);
  });

  it('refuses a name already registered and closes that connection only', async () => {
    const server = await bed.server();
    const first = await bed.module(server, 'press1');
    const second = await bed.peer(server);
    const ack = await second.register('press1');
    expect(ack.success).toBe(false);
    expect(ack.errorMessage).toBe('Name already registered: press1');
    await second.waitClosed();
    const pong = await first.call(CommandMessage.request('system.ping'));
    expect(pong.data).toBe('pong');
  });

  it.each(['a.b', '', 'system', 'x*', 'a'.repeat(65), 'sp ace'])(
    'refuses the invalid name %j',
    async (name) => {
      const server = await bed.server();
      const peer = await bed.peer(server);
      const ack = await peer.register(name);
      expect(ack.success).toBe(false);
      expect(ack.errorMessage).toBe(`Invalid module name: ${name}`);
      await peer.waitClosed();
    },
  );

  it('takes the name from data.name, not from the topic', async () => {
    const server = await bed.server();
    const peer = await bed.peer(server);
    const reg = CommandMessage.control(ControlType.Register, 'something-else', {
      name: 'real',
      version: '1',
      capabilities: [],
    });
    const ack = peer.expectMessage((m) => m.controlType === ControlType.RegisterAck);
    peer.send(reg);
    const got = await ack;
    expect(got.success).toBe(true);
    expect(got.topic).toBe('real');
    await peer.expectMessage(isInitialize);
    expect(server.modules().map((m) => m.name)).toEqual(['real']);
  });

  it('answers anything but Register and Heartbeat with "Not registered" before registration', async () => {
    const server = await bed.server();
    const peer = await bed.peer(server);
    for (const msg of [
      CommandMessage.request('system.ping'),
      CommandMessage.subscribe('a.>'),
      CommandMessage.control(ControlType.Status, 'x'),
    ]) {
      const reply = await peer.call(msg);
      expect(reply.success).toBe(false);
      expect(reply.errorMessage).toBe('Not registered');
    }
    peer.send(CommandMessage.heartbeat(4242));
    const beat = await peer.expectMessage(
      (m) => m.messageType === MessageType.Heartbeat && m.transactionId === 4242,
    );
    expect(beat.topic).toBe('');
    expect((await peer.register('late')).success).toBe(true);
  });

  it('refuses a second Register on a registered connection and closes it', async () => {
    const server = await bed.server();
    const peer = await bed.module(server, 'press1');
    const ack = await peer.register('press2');
    expect(ack.success).toBe(false);
    expect(ack.errorMessage).toMatch(/^Already registered as press1/);
    await peer.waitClosed();
    expect(server.modules()).toEqual([]);
  });

  it('closes a connection that does not register in time', async () => {
    const server = await bed.server({ registrationTimeoutMs: 150 });
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const peer = await bed.peer(server);
    const why = await peer.waitClosed(2000);
    expect(why).toBeUndefined(); // from the peer's side it is just closed
    expect(errors.some((e) => e.code === 'ERR_TIMEOUT')).toBe(true);
  });

  it('applies the pre-registration payload limit until the RegisterAck', async () => {
    const server = await bed.server({ preRegistrationMaxPayload: 1024 });
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const big = CommandMessage.control(ControlType.Register, 'press1', {
      name: 'press1',
      pad: 'x'.repeat(2000),
    });
    const early = await bed.peer(server);
    early.send(big);
    await early.waitClosed();
    expect(errors.some((e) => e.code === 'ERR_FRAMING')).toBe(true);

    const late = await bed.module(server, 'press2');
    const reply = await late.call(
      CommandMessage.request('system.ping', { pad: 'x'.repeat(10_000) }),
    );
    expect(reply.data).toBe('pong');
  });

  it('holds requests for a module until it answers Initialize', async () => {
    const server = await bed.server();
    const module = await bed.peer(server, { answerInitialize: false });
    module.serve((m) => m.intoResponse({ served: m.topic }));
    expect((await module.register('press1')).success).toBe(true);
    const init = await module.expectMessage(isInitialize);

    const asker = await bed.module(server, 'hmi');
    const request = CommandMessage.request('press1.start', { rpm: 1 });
    const reply = asker.call(request);
    await new Promise((r) => setTimeout(r, 50));
    expect(module.served).toHaveLength(0);
    module.send(init.intoResponse(null));
    const got = await reply;
    expect(got.success).toBe(true);
    expect(got.data).toEqual({ served: 'press1.start' });
  });

  it('closes a module whose Initialize fails, frees the name and fails held requests', async () => {
    const server = await bed.server();
    const module = await bed.peer(server, { answerInitialize: false });
    await module.register('press1');
    const init = await module.expectMessage(isInitialize);
    const asker = await bed.module(server, 'hmi');
    const reply = asker.call(CommandMessage.request('press1.start'));
    await new Promise((r) => setTimeout(r, 20));
    module.send(init.intoErrorResponse('PLC unreachable'));
    expect((await reply).errorMessage).toBe('Module disconnected: press1');
    await module.waitClosed();
    const again = await bed.peer(server);
    expect((await again.register('press1')).success).toBe(true);
  });

  it('closes a module that does not answer Initialize in time and frees the name', async () => {
    const server = await bed.server({ initializeTimeoutMs: 150 });
    const module = await bed.peer(server, { answerInitialize: false });
    await module.register('press1');
    await module.waitClosed(2000);
    expect(server.modules()).toEqual([]);
    const again = await bed.peer(server);
    expect((await again.register('press1')).success).toBe(true);
  });
});

describe('IpcServer authentication', () => {
  it('accepts the right token and refuses a wrong or missing one with "Authentication failed"', async () => {
    const secret = 's3cret-token-value';
    const server = await bed.server({ authenticate: tokenAuthenticator(secret) });
    const logged: string[] = [];
    server.on('*', (_type, e) =>
      logged.push(JSON.stringify(e, (_k, v: unknown) => (v instanceof Error ? v.message : v))),
    );

    const good = await bed.peer(server);
    expect((await good.register('press1', { token: secret })).success).toBe(true);

    for (const token of ['wrong', undefined, secret + 'x']) {
      const bad = await bed.peer(server);
      const ack = await bad.register(`m${logged.length}`, token === undefined ? {} : { token });
      expect(ack.success).toBe(false);
      expect(ack.errorMessage).toBe('Authentication failed');
      await bad.waitClosed();
    }
    expect(logged.join('\n')).not.toContain(secret);
  });

  it('awaits an async hook, keeps the name reserved meanwhile, and treats a throw as a refusal', async () => {
    let release!: (ok: boolean) => void;
    const server = await bed.server({
      authenticate: (reg, peer) => {
        expect(peer.remoteAddress).toMatch(/^127\.0\.0\.1:/);
        if (reg.name === 'boom') throw new Error('hook failed');
        return new Promise<boolean>((resolve) => (release = resolve));
      },
    });
    const slow = await bed.peer(server);
    const ack = slow.register('press1');
    await new Promise((r) => setTimeout(r, 30));
    const rival = await bed.peer(server);
    expect((await rival.register('press1')).errorMessage).toBe('Name already registered: press1');
    release(true);
    expect((await ack).success).toBe(true);

    const boom = await bed.peer(server);
    expect((await boom.register('boom')).errorMessage).toBe('Authentication failed');
  });

  it('tokenAuthenticator refuses an empty secret', () => {
    expect(() => tokenAuthenticator('')).toThrow(IpcError);
    const auth = tokenAuthenticator('abc');
    expect(
      auth({ name: 'a', version: '', capabilities: [], token: 'abc' }, { remoteAddress: '' }),
    ).toBe(true);
    expect(
      auth({ name: 'a', version: '', capabilities: [], token: 'abcd' }, { remoteAddress: '' }),
    ).toBe(false);
    expect(auth({ name: 'a', version: '', capabilities: [] }, { remoteAddress: '' })).toBe(false);
  });
});
