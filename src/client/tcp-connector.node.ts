/**
 * The Node connector of IpcClient: TCP (or TLS) through `connectTcp`.
 */
import { connectTcp, type TcpConnectOptions } from '../transports/tcp.node.ts';
import { parseAddress, type Connector } from '../transports/transport.ts';

/** Options of {@link tcpConnector}: those of `connectTcp` except the per-attempt `signal`. */
export type TcpConnectorOptions = Omit<TcpConnectOptions, 'signal'>;

/**
 * A {@link Connector} that opens a TCP (or, with `tls`, a TLS) connection to `address`
 * (`host:port`) each time the client connects or reconnects. The address is checked at once:
 * throws IpcError ERR_INVALID_ARGUMENT when it is not `host:port`.
 *
 * @example
 * ```ts
 * const client = await IpcClient.connect(tcpConnector('127.0.0.1:9100', { timeoutMs: 3000 }), handler);
 * ```
 */
export function tcpConnector(address: string, options: TcpConnectorOptions = {}): Connector {
  parseAddress(address);
  return ({ signal }) => connectTcp(address, signal ? { ...options, signal } : options);
}
