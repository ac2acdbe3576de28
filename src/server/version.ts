/**
 * The SDK's version, as in package.json (a unit test keeps the two equal). Kept as a constant so
 * browser-safe code needs no JSON import.
 *
 * @example
 * ```ts
 * SDK_VERSION; // '0.1.0'
 * ```
 */
export const SDK_VERSION = '0.1.0';
