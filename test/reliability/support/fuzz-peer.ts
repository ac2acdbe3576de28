/**
 * A raw TCP peer for the server fuzzer: sends bytes exactly as given (whole, or one byte per
 * event-loop turn), collects every message the server writes back, answers Control/Initialize
 * (so a registration it makes completes) and reports when the server closes the connection.
 * That answer never cuts into a frame being trickled: it waits until the frame is whole, as any
 * real sender keeps its frames whole on the stream.
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
  /** True while {@link trickle} is part-way through a frame. */
  private trickling = false;
  /** The peer's own answers held back meanwhile, sent once the frame is whole. */
  private readonly held: Uint8Array[] = [];

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

  /**
   * Sends one frame, `bytes`, one byte per event-loop turn, so the server reads it one byte at a
   * time. An Initialize answer due meanwhile follows the frame's last byte.
   */
  async trickle(bytes: Uint8Array): Promise<void> {
    this.trickling = true;
    try {
      for (const b of bytes) {
        if (this.closed) return;
        this.transport.send(Uint8Array.of(b));
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.trickling = false;
      for (const frame of this.held.splice(0)) this.send(frame);
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
          // Written mid-frame it would become part of the trickled frame's header or payload
          // (seed 944331263: the server then waited, rightly, for a 34 KB frame).
          const answer = encodeFrame(item.intoResponse(null));
          if (this.trickling) this.held.push(answer);
          else this.send(answer);
          continue;
        }
        this.inbox.push(item);
      }
      this.wake?.();
    }
  }
}
