/**
 * The one error type of the SDK. Every rejected promise and every reported fault carries an
 * {@link IpcError} whose `code` is stable (safe to switch on) and whose `kind` is the mechutil
 * `IpcError` variant it corresponds to.
 */

/** The error kinds of mechutil's `IpcError` enum. */
export type IpcErrorKind =
  | 'Connection'
  | 'Serialization'
  | 'Framing'
  | 'Timeout'
  | 'InvalidMessage'
  | 'Handler'
  | 'Io'
  | 'Channel'
  | 'ModuleNotFound'
  | 'Shutdown';

/**
 * Stable error codes and the mechutil kind each belongs to.
 *
 * @example
 * ```ts
 * try { await client.request('press1.start', {}); }
 * catch (e) { if (e instanceof IpcError && e.code === 'ERR_TIMEOUT') retryLater(); }
 * ```
 */
export const ERROR_CODES = {
  /** Not connected, connection lost, or the peer closed it. */
  ERR_CONNECTION: 'Connection',
  /** A value could not be turned into JSON (cycles, BigInt, ...). */
  ERR_SERIALIZATION: 'Serialization',
  /** The byte stream broke the frame rules; the connection is closed. */
  ERR_FRAMING: 'Framing',
  /** A message is larger than the receiver's payload limit; only that message fails. */
  ERR_PAYLOAD_TOO_LARGE: 'Framing',
  /** No answer within the deadline. */
  ERR_TIMEOUT: 'Timeout',
  /** A well-framed message whose members are wrong; only that message fails. */
  ERR_INVALID_MESSAGE: 'InvalidMessage',
  /** A handler threw or rejected. */
  ERR_HANDLER: 'Handler',
  /** The peer answered with `success: false`; `response` holds its answer. */
  ERR_REMOTE: 'Handler',
  /** Socket-level failure (write error, slow consumer). */
  ERR_IO: 'Io',
  /** A slow consumer was closed because its outbound queue overflowed or stalled. */
  ERR_SLOW_CONSUMER: 'Io',
  /** The caller aborted through its AbortSignal. */
  ERR_ABORTED: 'Channel',
  /** More requests in flight on this connection than allowed. */
  ERR_TOO_MANY_INFLIGHT: 'Channel',
  /** The buffer for requests made while disconnected is full. */
  ERR_BUFFER_FULL: 'Channel',
  /** No module serves the topic's domain. */
  ERR_MODULE_NOT_FOUND: 'ModuleNotFound',
  /** The client or server is closing or closed. */
  ERR_SHUTDOWN: 'Shutdown',
  /** The server refused the registration (name taken, invalid, authentication). */
  ERR_REGISTRATION: 'Connection',
  /** A topic pattern does not follow the pattern syntax. */
  ERR_INVALID_PATTERN: 'InvalidMessage',
  /** An argument given to an SDK call is not valid. */
  ERR_INVALID_ARGUMENT: 'InvalidMessage',
} as const satisfies Record<string, IpcErrorKind>;

/** One of the stable codes in {@link ERROR_CODES}. */
export type IpcErrorCode = keyof typeof ERROR_CODES;

/** What could still be read of a message that failed validation, so it can be answered. */
export interface InvalidMessageInfo {
  transactionId?: number;
  messageType?: number;
  topic?: string;
}

/** Options of the {@link IpcError} constructor. */
export interface IpcErrorOptions {
  cause?: unknown;
  /** For ERR_REMOTE: the failed Response as received. */
  response?: unknown;
  /** For ERR_INVALID_MESSAGE: what was readable of the offending message. */
  invalid?: InvalidMessageInfo;
}

/**
 * The error every SDK call rejects with.
 *
 * @example
 * ```ts
 * const err = new IpcError('ERR_TIMEOUT', 'no response from press1 within 10000 ms');
 * err.kind; // 'Timeout'
 * ```
 */
export class IpcError extends Error {
  override readonly name = 'IpcError';
  readonly code: IpcErrorCode;
  readonly kind: IpcErrorKind;
  /** For ERR_REMOTE: the failed Response message. */
  declare readonly response?: unknown;
  /** For ERR_INVALID_MESSAGE: fields that could be read of the bad message. */
  declare readonly invalid?: InvalidMessageInfo;

  constructor(code: IpcErrorCode, message: string, options: IpcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = ERROR_CODES[code];
    const self = this as { response?: unknown; invalid?: InvalidMessageInfo };
    if (options.response !== undefined) self.response = options.response;
    if (options.invalid !== undefined) self.invalid = options.invalid;
  }
}

/**
 * True when `e` is an {@link IpcError}, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isIpcError(e, 'ERR_CONNECTION')) showOffline();
 * ```
 */
export function isIpcError(e: unknown, code?: IpcErrorCode): e is IpcError {
  return e instanceof IpcError && (code === undefined || e.code === code);
}

/** Wraps any thrown value as an IpcError of the given code, keeping it as `cause`. */
export function toIpcError(e: unknown, code: IpcErrorCode, prefix?: string): IpcError {
  if (e instanceof IpcError) return e;
  const text = e instanceof Error ? e.message : String(e);
  return new IpcError(code, prefix ? `${prefix}: ${text}` : text, { cause: e });
}
