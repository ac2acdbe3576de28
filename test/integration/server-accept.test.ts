import { afterEach, describe, expect, it } from 'vitest';
import type { IpcError } from '../../src/core/errors.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { decodeJson } from '../../src/core/frame.ts';
import { InboundQueue, type Transport } from '../../src/transports/transport.ts';
import { TestBed } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

/** An in-memory transport in the WebSocket text form ('json' framing), as a bridge would hand over. */
class MemoryTransport implements Transport {
  readonly framing = 'json' as const;
  readonly remoteAddress = 'memory:1';
  readonly bufferedAmount = 0;
  isClosed = false;
  readonly closed: Promise<IpcError | undefined>;
  private readonly inbound = new InboundQueue<string>();
  private readonly outbox: CommandMessage[] = [];
  private waiters: Array<{
    predicate: (m: CommandMessage) => boolean;
    resolve: (m: CommandMessage) => void;
  }> = [];
  private resolveClosed!: (e: IpcError | undefined) => void;

  constructor() {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  send(data: Uint8Array | string): void {
    if (this.isClosed) return;
    expect(typeof data).toBe('string');
    const msg = decodeJson(data as string);
    if (msg.messageType === MessageType.Control && msg.controlType === ControlType.Initialize) {
      this.deliver(msg.intoResponse(null));
    }
    const i = this.waiters.findIndex((w) => w.predicate(msg));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(msg);
    else this.outbox.push(msg);
  }

  end(): Promise<void> {
    this.close();
    return this.closed.then(() => undefined);
  }

  close(error?: IpcError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbound.finish();
    this.resolveClosed(error);
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.inbound;
  }

  /** The test side sends a message to the server. */
  deliver(msg: CommandMessage): void {
    this.inbound.push(JSON.stringify(msg));
  }

  expect(predicate: (m: CommandMessage) => boolean): Promise<CommandMessage> {
    const i = this.outbox.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.outbox.splice(i, 1)[0] as CommandMessage);
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }
}

describe('IpcServer.accept', () => {
  it('serves any Transport, here one in the JSON text form, next to TCP peers', async () => {
    const server = await bed.server();
    const press = await bed.module(server, 'press1');
    press.serve((m) => m.intoResponse(`served ${m.topic}`));
    const tcpSub = await bed.module(server, 'tcpsub');
    await tcpSub.subscribe('web.>');

    const mem = new MemoryTransport();
    server.accept(mem);
    const reg = CommandMessage.control(ControlType.Register, 'web', {
      name: 'web',
      version: '1',
      capabilities: [],
    });
    mem.deliver(reg);
    const ack = await mem.expect((m) => m.controlType === ControlType.RegisterAck);
    expect(ack.success).toBe(true);

    const sub = CommandMessage.subscribe('press1.>');
    mem.deliver(sub);
    expect((await mem.expect((m) => m.transactionId === sub.transactionId)).success).toBe(true);

    // TCP -> JSON: a framed broadcast arrives as text.
    press.send(CommandMessage.broadcast('press1.speed', 1200));
    expect((await mem.expect((m) => m.messageType === MessageType.Broadcast)).data).toBe(1200);

    // JSON -> TCP: a text broadcast is framed once and delivered.
    mem.deliver(CommandMessage.broadcast('web.click', { x: 1 }));
    expect(
      (await tcpSub.expectMessage((m) => m.messageType === MessageType.Broadcast)).data,
    ).toEqual({ x: 1 });

    // Requests route both ways.
    const req = CommandMessage.request('press1.start');
    mem.deliver(req);
    const reply = await mem.expect(
      (m) => m.messageType === MessageType.Response && m.transactionId === req.transactionId,
    );
    expect(reply.data).toBe('served press1.start');

    await server.close({ timeoutMs: 200 });
    expect(mem.isClosed).toBe(true);
  });
});
