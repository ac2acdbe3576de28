/**
 * Shared-secret authentication of module registrations, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { IpcError } from '../core/errors.ts';
import type { Authenticator } from './ipc-hub.ts';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * An {@link Authenticator} that accepts a registration whose `token` equals `token`. Both sides
 * are hashed (SHA-256) first, so the comparison takes the same time whatever the length or
 * content of the token offered; the token is never logged.
 *
 * @example
 * ```ts
 * const server = await IpcServer.listen({ authenticate: tokenAuthenticator(process.env.IPC_TOKEN!) });
 * // the module sends Control/Register with data { name, version, capabilities, token }
 * ```
 */
export function tokenAuthenticator(token: string): Authenticator {
  if (typeof token !== 'string' || token.length === 0) {
    throw new IpcError('ERR_INVALID_ARGUMENT', 'tokenAuthenticator needs a non-empty token string');
  }
  const expected = digest(token);
  return (registration) => {
    const offered = typeof registration.token === 'string' ? registration.token : '';
    // Hash even an absent token, so "no token" takes as long as a wrong one.
    const same = timingSafeEqual(digest(offered), expected);
    return same && offered.length > 0;
  };
}
