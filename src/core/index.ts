/**
 * The transport-agnostic core: messages, frames, routing, handlers, errors. Web APIs only.
 */
export * from './errors.ts';
export { nextTransactionId, currentTimecode } from './ids.ts';
export * from './message.ts';
export {
  HEADER_SIZE,
  DEFAULT_MAX_PAYLOAD,
  PRE_REGISTRATION_MAX_PAYLOAD,
  encodePayload,
  patchTransactionId,
  withTransactionId,
  encodeFrame,
  frameFromJson,
  sharedFrameFromJson,
  writeHeader,
  readLength,
  decodePayload,
  decodeJson,
  checkHeader,
} from './frame.ts';
export * from './frame-decoder.ts';
export { scanEnvelope, type ScannedEnvelope } from './frame-scan.ts';
export * from './topic-pattern.ts';
export * from './topic-trie.ts';
export {
  TopicRouter,
  TopicRouterBuilder,
  type RouteContext,
  type RouteHandler,
  type RouteMatch,
  type RouteResult,
} from './topic-router.ts';
export { BaseModuleHandler, handleModuleMessage, type ModuleHandler } from './module-handler.ts';
