/**
 * A minimal module speaking TCP frames directly, for end-to-end bridge tests against the real
 * IpcServer: it registers, answers Initialize, serves Requests with a handler and broadcasts.
 */
import {
  CommandMessage,
  ControlType,
  FrameDecoder,
  IpcError,
  MessageType,
  encodeFrame,
} from 'autocore-ipc';
import { connectTcp, type TcpTransport } from 'autocore-ipc/node';

/** A connected, registered and initialized TCP module. */
export interface TcpModule {
  readonly transport: TcpTransport;
  readonly received: CommandMessage[];
  broadcast(topic: string, data: unknown): void;
  close(): Promise<void>;
}

/**
 * Connects `name` to the server at `address`. `serve` answers Requests/Reads/Writes for its
 * domain: a value is sent back as a successful Response, `undefined` sends nothing (the request
 * stays in flight).
 */
export async function startTcpModule(
  address: string,
  name: string,
  serve: (req: CommandMessage) => unknown = (req) => req.data,
): Promise<TcpModule> {
  const transport = await connectTcp(address, { timeoutMs: 5000 });
  const received: CommandMessage[] = [];
  const send = (m: CommandMessage): void => transport.send(encodeFrame(m));
  let initialized!: () => void;
  let failed!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    initialized = resolve;
    failed = reject;
  });
  const decoder = new FrameDecoder();
  void (async () => {
    for await (const chunk of transport) {
      for (const item of decoder.push(chunk as Uint8Array)) {
        if (item instanceof IpcError) continue;
        received.push(item);
        const t = item.messageType;
        if (
          t === MessageType.Control &&
          item.controlType === ControlType.RegisterAck &&
          !item.success
        ) {
          failed(new Error(item.errorMessage));
        } else if (t === MessageType.Control && item.controlType === ControlType.Initialize) {
          send(item.intoResponse(null));
          initialized();
        } else if (t === MessageType.Control && item.controlType === ControlType.Finalize) {
          send(item.intoResponse(null));
        } else if (t === MessageType.Request || t === MessageType.Read || t === MessageType.Write) {
          const value = serve(item);
          if (value !== undefined) send(item.intoResponse(value));
        } else if (t === MessageType.Heartbeat && item.transactionId !== 0) {
          send(CommandMessage.heartbeat(item.transactionId));
        }
      }
    }
    failed(new Error('connection closed before Initialize'));
  })();
  send(
    CommandMessage.control(ControlType.Register, name, {
      name,
      version: '1.0.0',
      capabilities: [],
    }),
  );
  await ready;
  return {
    transport,
    received,
    broadcast: (topic, data) => send(CommandMessage.broadcast(topic, data)),
    close: async () => {
      transport.close();
      await transport.closed;
    },
  };
}
