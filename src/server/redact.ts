/**
 * What the hub and the bridge put in events and logs about a bad message: never its content.
 * Decoder and validator texts quote a piece of the offending value (`topic must be a string (got
 * number 5)`, JSON.parse's `Unexpected token 'c', "canary..." is not valid JSON`); a log that
 * keeps them can leak a token or a process value. The sender's own `Invalid message` answer
 * keeps the full detail; only what is reported locally is redacted.
 */
import { IpcError } from '../core/errors.ts';

/**
 * The text with every quoted fragment (double or single quotes) replaced by `"…"`, clipped to
 * 200 characters.
 *
 * @example
 * ```ts
 * redactText('payload is not JSON: Unexpected token \'c\', "canary" is not valid JSON');
 * // 'payload is not JSON: Unexpected token \'…\', "…" is not valid JSON'
 * ```
 */
export function redactText(text: string): string {
  const out = text.replace(/"(?:[^"\\]|\\.)*"?/g, '"…"').replace(/'[^']*'?/g, "'…'");
  return out.length > 200 ? `${out.slice(0, 200)}…` : out;
}

/**
 * A decoding fault (`ERR_FRAMING`, `ERR_INVALID_MESSAGE`) as it may be reported: the message
 * redacted by {@link redactText}, and without `cause` (the parser's own error quotes the payload
 * too). Other errors are returned as they are.
 *
 * @example
 * ```ts
 * server.events.on('error', ({ error }) => log(redactError(error).message));
 * ```
 */
export function redactError(err: IpcError): IpcError {
  if (err.code !== 'ERR_FRAMING' && err.code !== 'ERR_INVALID_MESSAGE') return err;
  const message = redactText(err.message);
  if (message === err.message && err.cause === undefined) return err;
  return new IpcError(err.code, message, err.invalid === undefined ? {} : { invalid: err.invalid });
}
