/**
 * autocore-ipc: the browser-safe entry. Core (messages, frames, routing, handlers, errors),
 * the transport contract, the WebSocket transport and IpcClient. Node-only pieces (TCP,
 * IpcServer) live in `autocore-ipc/node`.
 */
export * from './core/index.ts';
export type { Transport, TransportFraming, TransportOptions, Connector } from './transports/transport.ts';
export { parseAddress, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_DRAIN_TIMEOUT_MS } from './transports/transport.ts';
export * from './transports/websocket.ts';
export {
  IpcClient,
  IpcClientBuilder,
  BroadcastSender,
  type IpcClientOptions,
  type IpcClientConfig,
  type IpcClientEvents,
  type IpcClientListeners,
  type IpcClientState,
  type OfflineBufferOptions,
  type ServerFinalizeAction,
  type RequestOptions,
  type CloseOptions,
} from './client/ipc-client.ts';
export { Subscription, type SubscriptionHandler, type SubscribeOptions } from './client/subscription.ts';
export { DEFAULT_RECONNECT, type ReconnectOptions } from './client/backoff.ts';
export {
  ModuleArgs,
  parseModuleArgs,
  DEFAULT_IPC_ADDRESS,
  type ModuleArgsParseOptions,
} from './client/module-args.ts';
export {
  IpcHub,
  type IpcHubOptions,
  type Authenticator,
  type ModuleConnection,
  type HubCloseOptions,
} from './server/ipc-hub.ts';
export { redactError, redactText } from './server/redact.ts';
export type { IpcServerEvents, ServerEvent } from './server/server-events.ts';
export { SDK_VERSION } from './server/version.ts';
