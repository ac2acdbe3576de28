/**
 * The autocore-ipc WebSocket <-> TCP bridge: lets browsers be modules of an IPC server.
 *
 * @example
 * ```ts
 * import { createBridge, loadBridgeConfig } from './bridge/index.ts';
 * const bridge = await createBridge(await loadBridgeConfig('bridge.json'));
 * console.log(`listening on ${bridge.url}`);
 * ```
 */
export { createBridge, type Bridge } from './bridge.ts';
export {
  DEFAULT_BRIDGE_HOST,
  DEFAULT_BRIDGE_LIMITS,
  DEFAULT_BRIDGE_PORT,
  DEFAULT_BRIDGE_UPSTREAM,
  MIN_TOKEN_LENGTH,
  loadBridgeConfig,
  parseBridgeConfig,
  type BridgeLimits,
  type BridgeLogEntry,
  type BridgeOptions,
  type BridgePermissions,
  type BridgeToken,
} from './config.ts';
export type { BridgeMetrics } from './metrics.ts';
