/**
 * autocore-ipc/node: everything in the browser entry plus the Node-only pieces: the TCP
 * transport and the embedded IpcServer.
 */
export * from './index.ts';
export * from './transports/tcp.node.ts';
export {
  IpcServer,
  isLoopbackHost,
  type IpcServerOptions,
  type IpcServerCloseOptions,
} from './server/ipc-server.node.ts';
export { tokenAuthenticator } from './server/token-authenticator.node.ts';
export { tcpConnector, type TcpConnectorOptions } from './client/tcp-connector.node.ts';
export { loadModuleArgs } from './client/module-args.node.ts';
