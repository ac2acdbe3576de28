/**
 * The real IpcHub behind a listener this test owns, so the "server" can be killed like a
 * crashed process (listener gone, every socket destroyed, no Finalize, no last words) and
 * started again on the same port.
 */
import { IpcHub, type IpcHubOptions } from '../../src/server/ipc-hub.ts';
import { listenTcp, type TcpListener } from '../../src/transports/tcp.node.ts';
import type { Transport } from '../../src/transports/transport.ts';

export class KillableServer implements AsyncDisposable {
  private hub: IpcHub | undefined;
  private listener: TcpListener | undefined;
  private readonly transports = new Set<Transport>();
  private portValue = 0;

  private constructor(private readonly options: IpcHubOptions) {}

  /** Starts a hub on 127.0.0.1 (port 0 by default). */
  static async start(options: IpcHubOptions = {}, port = 0): Promise<KillableServer> {
    const s = new KillableServer(options);
    await s.restart(port);
    return s;
  }

  get port(): number {
    return this.portValue;
  }

  get address(): string {
    return `127.0.0.1:${this.portValue}`;
  }

  /** The running hub (throws when killed). */
  get server(): IpcHub {
    if (!this.hub) throw new Error('the server is down');
    return this.hub;
  }

  get isUp(): boolean {
    return this.hub !== undefined;
  }

  /** Starts a fresh hub on the same port (or `port`). */
  async restart(port = this.portValue): Promise<void> {
    if (this.hub) return;
    const hub = new IpcHub(this.options);
    this.listener = await listenTcp({ host: '127.0.0.1', port }, (t) => {
      this.transports.add(t);
      void t.closed.then(() => this.transports.delete(t));
      hub.accept(t);
    });
    this.hub = hub;
    this.portValue = this.listener.port;
  }

  /** Kills it: stops listening and destroys every connection at once, saying nothing. */
  async kill(): Promise<void> {
    const hub = this.hub;
    const listener = this.listener;
    this.hub = undefined;
    this.listener = undefined;
    const closing = listener?.close();
    const all = [...this.transports];
    for (const t of all) t.close();
    await Promise.all(all.map((t) => t.closed));
    await closing;
    // Only to release the dead hub's timers: its connections are already gone.
    await hub?.close({ signal: AbortSignal.abort() });
  }

  /** Graceful shutdown (Finalize to every module first). */
  async close(timeoutMs = 500): Promise<void> {
    const hub = this.hub;
    const listener = this.listener;
    this.hub = undefined;
    this.listener = undefined;
    // net.Server#close resolves only once every connection has ended: do not wait for it first.
    const closing = listener?.close();
    await hub?.close({ timeoutMs });
    for (const t of this.transports) t.close();
    await closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close(100);
  }
}
