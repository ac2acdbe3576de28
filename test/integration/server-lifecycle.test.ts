import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { IpcServer } from '../../src/server/ipc-server.node.ts';
import type { IpcServerEvents } from '../../src/server/server-events.ts';
import { RawPeer, TestBed } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const isFinalize = (m: CommandMessage): boolean =>
  m.messageType === MessageType.Control && m.controlType === ControlType.Finalize;

describe('IpcServer lifecycle', () => {
  it('starts with new + start(), reports its address, and refuses start() after close()', async () => {
    const server = new IpcServer({ port: 0 });
    expect(server.port).toBe(0);
    await server.start();
    await server.start(); // idempotent
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    const peer = await RawPeer.connect(server.address);
    expect((await peer.register('m')).success).toBe(true);
    await server.close();
    await peer.waitClosed();
    await expect(server.start()).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    await expect(RawPeer.connect(server.address)).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
  });

  it('sends Finalize to every module on close(), waits for the answers and closes everything', async () => {
    const server = await bed.server();
    const gone: Array<IpcServerEvents['disconnected']> = [];
    server.on('disconnected', (e) => gone.push(e));
    const a = await bed.module(server, 'a');
    const b = await bed.module(server, 'b');
    const unregistered = await bed.peer(server);
    await server.close({ timeoutMs: 5000 });
    expect(a.inbox.some(isFinalize) || a.isClosed).toBe(true);
    await Promise.all([a.waitClosed(), b.waitClosed(), unregistered.waitClosed()]);
    expect(gone.map((e) => e.name ?? '-').sort()).toEqual(['-', 'a', 'b']);
    expect(gone.every((e) => e.error === undefined)).toBe(true);
    expect(server.connectionCount).toBe(0);
  });

  it('bounds the wait for modules that never answer Finalize', async () => {
    const server = await bed.server();
    const mute = await bed.module(server, 'mute', {}, { answerFinalize: false });
    const started = performance.now();
    await server.close({ timeoutMs: 150 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1500);
    await mute.waitClosed();
    expect(mute.inbox.some(isFinalize)).toBe(true);
  });

  it('stops waiting at once when the close signal aborts', async () => {
    const server = await bed.server();
    await bed.module(server, 'mute', {}, { answerFinalize: false });
    const started = performance.now();
    await server.close({ signal: AbortSignal.abort(), timeoutMs: 10_000 });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('fails pending requests with "Shutdown" to askers still connected, and refuses new ones', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    press.serve(() => undefined); // never answers requests, answers Finalize
    const hmi = await bed.module(server, 'hmi', {}, { answerFinalize: false });
    const pending = hmi.call(CommandMessage.request('press1.start'));
    await new Promise((r) => setTimeout(r, 20));
    const closed = server.close({ timeoutMs: 300 });
    const refused = await hmi.call(CommandMessage.request('press1.stop'));
    expect(refused.errorMessage).toBe('Shutdown');
    const failed = await pending;
    expect(failed.success).toBe(false);
    expect(failed.errorMessage).toBe('Shutdown');
    await closed;
    await hmi.waitClosed();
    // New connections are not accepted any more.
    server.accept({
      framing: 'frames',
      remoteAddress: 'test',
      send() {},
      bufferedAmount: 0,
      isClosed: false,
      end: () => Promise.resolve(),
      close(error?: IpcError) {
        expect(error?.code).toBe('ERR_SHUTDOWN');
      },
      closed: Promise.resolve(undefined),
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: true, value: undefined }),
      }),
    });
    expect(server.connectionCount).toBe(0);
  });

  it('leaves nothing behind: the process exits after close()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-server-exit-'));
    const src = (p: string): string =>
      JSON.stringify(fileURLToPath(new URL(`../../src/${p}`, import.meta.url)));
    const script = join(dir, 'exit.mts');
    writeFileSync(
      script,
      `
import { IpcServer } from ${src('server/ipc-server.node.ts')};
import { CommandMessage, ControlType } from ${src('core/message.ts')};
import { encodeFrame } from ${src('core/frame.ts')};
import { connectTcp } from ${src('transports/tcp.node.ts')};
const server = await IpcServer.listen({ port: 0 });
const t = await connectTcp(server.address);
void (async () => { for await (const _ of t) { /* drain */ } })();
t.send(encodeFrame(CommandMessage.control(ControlType.Register, 'm', { name: 'm' })));
t.send(encodeFrame(CommandMessage.subscribe('a.>')));
t.send(encodeFrame(CommandMessage.request('nobody.x')));
t.send(encodeFrame(CommandMessage.request('m.self')));
await new Promise((r) => setTimeout(r, 100));
await server.close({ timeoutMs: 200 });
await t.closed;
console.log('closed', JSON.stringify(process.getActiveResourcesInfo()));
// Anything the server left behind would keep the process alive past this unref'd watchdog.
setTimeout(() => { console.log('still alive'); process.exit(3); }, 3000).unref();
`,
    );
    try {
      const { code, out } = await new Promise<{ code: number | null; out: string }>(
        (resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script], {
            cwd: fileURLToPath(new URL('../..', import.meta.url)),
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`process did not exit after close(): ${out}`));
          }, 15_000);
          child.on('exit', (c) => {
            clearTimeout(timer);
            resolve({ code: c, out });
          });
        },
      );
      expect(out).toContain('closed');
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
