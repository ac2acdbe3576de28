/**
 * A raw TCP peer for the server fuzzer: sends bytes exactly as given (whole, or one byte per
 * event-loop turn), collects every message the server writes back, answers Control/Initialize
 * (so a registration it makes completes) and reports when the server closes the connection.
 * Unlike test/support/raw-peer.ts it never answers Heartbeats, so a Heartbeat the fuzzer sends
 * cannot start a ping-pong.
 */
import { IpcError } from '../../../src/core/errors.ts';
import { FrameDecoder } from '../../../src/core/frame-decoder.ts';
import { encodeFrame } from '../../../src/core/frame.ts';
import { CommandMessage, ControlType, MessageType } from '../../../src/core/message.ts';
import { connectTcp, type TcpTransport } from '../../../src/transports/tcp.node.ts';

export class FuzzPeer {
  readonly inbox: CommandMessage[] = [];
  readonly decodeErrors: IpcError[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder({ maxPayload: 64 * 1024 * 1024 });
  private wake: (() => void) | undefined;

  private constructor(readonly transport: TcpTransport) {
    void this.read();
    void transport.closed.then(() => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async connect(address: string): Promise<FuzzPeer> {
    return new FuzzPeer(await connectTcp(address, { timeoutMs: 2000 }));
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.transport.send(bytes);
  }

  sendMessage(msg: CommandMessage): void {
    this.send(encodeFrame(msg));
  }

  /** Sends `bytes` one byte per event-loop turn, so the server reads them one at a time. */
  async trickle(bytes: Uint8Array): Promise<void> {
    for (const b of bytes) {
      if (this.closed) return;
      this.transport.send(Uint8Array.of(b));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Resolves true once `done()` holds, false when `timeoutMs` passes or the connection closes first. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (this.closed) return done();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return true;
  }

  /** Resolves true once the server has closed the connection, false after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    await this.until(() => this.closed, timeoutMs);
    return this.closed;
  }

  close(): Promise<unknown> {
    this.transport.close();
    return this.transport.closed;
  }

  private async read(): Promise<void> {
    for await (const chunk of this.transport) {
      for (const item of this.decoder.push(chunk as Uint8Array)) {
        if (item instanceof IpcError) {
          this.decodeErrors.push(item);
          continue;
        }
        if (
          item.messageType === MessageType.Control &&
          item.controlType === ControlType.Initialize
        ) {
          this.sendMessage(item.intoResponse(null));
          continue;
        }
        this.inbox.push(item);
      }
      this.wake?.();
    }
  }
}
