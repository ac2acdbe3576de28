/**
 * The transport-agnostic core: messages, frames, routing, handlers, errors. Web APIs only.
 */
export * from './errors.ts';
export { nextTransactionId, currentTimecode } from './ids.ts';
export * from './message.ts';
export * from './frame.ts';
export * from './frame-decoder.ts';
export * from './topic-pattern.ts';
export * from './topic-trie.ts';
export * from './topic-router.ts';
export * from './module-handler.ts';
