/**
 * The checks made on a WebSocket handshake before it is upgraded (PROTOCOL.md section 7): where
 * the token may come from, how it is compared, the Origin allow-list and the subprotocol.
 * Pure functions of the request head, so every rule can be read in one place.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WS_SUBPROTOCOL } from 'autocore-ipc';
import type { ResolvedBridgeOptions, ResolvedToken } from './config.ts';

/** Subprotocol prefix that carries a token from a browser. */
export const BEARER_PREFIX = 'bearer.';
/** Cookie that may carry the token. */
export const TOKEN_COOKIE = 'autocore_token';
/** Query parameters that look like a token; their presence refuses the handshake. */
const QUERY_TOKEN_NAMES = ['token', 'access_token', 'auth', 'bearer', 'autocore_token'];

/** Where the token of an accepted handshake came from. */
export type TokenSource = 'header' | 'subprotocol' | 'cookie' | 'none';

/** The outcome of {@link checkHandshake}. */
export type HandshakeVerdict =
  | { ok: true; token: ResolvedToken; source: TokenSource }
  | { ok: false; status: number; reason: string; message: string };

function refuse(status: number, reason: string, message: string): HandshakeVerdict {
  return { ok: false, status, reason, message };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The Bearer credential of an `Authorization` header, if there is one. */
function bearerFromAuthorization(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  // Another scheme (Basic, ...) is no token: it is treated as absent, then refused as missing.
  return m ? m[1] : '';
}

function tokenFromCookie(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== TOKEN_COOKIE) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}

/** The entries of `Sec-WebSocket-Protocol`, trimmed; empty when the header is absent. */
export function offeredProtocols(req: IncomingMessage): string[] {
  const v = header(req, 'sec-websocket-protocol');
  if (v === undefined) return [];
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Finds the token a configured entry was issued for, in constant time with respect to the
 * secret: both sides are hashed to 32 bytes and every entry is compared (no early exit), so
 * neither the length nor a matching prefix of a guess shows in the timing.
 */
export function findToken(
  candidate: string,
  tokens: readonly ResolvedToken[],
): ResolvedToken | undefined {
  const hash = createHash('sha256').update(candidate, 'utf8').digest();
  let found: ResolvedToken | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(hash, t.hash) && found === undefined) found = t;
  }
  return found;
}

/** True when the URL's query string has a parameter named like a token. */
function queryHasToken(url: string | undefined): boolean {
  if (url === undefined) return false;
  const q = url.indexOf('?');
  if (q < 0) return false;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of params.keys()) {
    if (QUERY_TOKEN_NAMES.includes(name.toLowerCase())) return true;
  }
  return false;
}

/**
 * Decides a handshake: Origin, then token. Connection limits are checked by the caller, which
 * owns the counters.
 *
 * Rules:
 * - a query parameter named like a token (`token`, `access_token`, ...) -> 401, even next to a
 *   valid token elsewhere: URLs end up in access logs and browser history;
 * - a subprotocol list that does not offer `autocore-ipc.v1` -> 400;
 * - an `Origin` header that is not exactly one of `origins` (`null` included) -> 403; no
 *   `Origin` header -> allowed (not a browser);
 * - token from, in this order, `Authorization: Bearer`, the subprotocol entry `bearer.<token>`,
 *   the cookie `autocore_token`; the first one present is the one checked. Missing -> 401,
 *   not configured -> 401. Without configured tokens every connection is anonymous.
 */
export function checkHandshake(
  req: IncomingMessage,
  options: ResolvedBridgeOptions,
): HandshakeVerdict {
  if (queryHasToken(req.url)) {
    return refuse(401, 'token_in_query', 'Tokens are not accepted in the query string');
  }

  const protocols = offeredProtocols(req);
  if (protocols.length > 0 && !protocols.includes(WS_SUBPROTOCOL)) {
    return refuse(400, 'subprotocol', `Offer the subprotocol ${WS_SUBPROTOCOL}`);
  }

  const origin = header(req, 'origin');
  if (origin !== undefined && !options.origins.has(origin)) {
    return refuse(403, 'origin', 'Origin not allowed');
  }

  if (options.tokens.length === 0) return { ok: true, token: options.anonymous, source: 'none' };

  let candidate: string | undefined;
  let source: TokenSource = 'none';
  const fromHeader = bearerFromAuthorization(header(req, 'authorization'));
  if (fromHeader) {
    candidate = fromHeader;
    source = 'header';
  } else {
    const entry = protocols.find((p) => p.startsWith(BEARER_PREFIX));
    if (entry !== undefined) {
      candidate = entry.slice(BEARER_PREFIX.length);
      source = 'subprotocol';
    } else {
      const fromCookie = tokenFromCookie(header(req, 'cookie'));
      if (fromCookie) {
        candidate = fromCookie;
        source = 'cookie';
      }
    }
  }
  if (candidate === undefined || candidate === '') {
    return refuse(401, 'missing_token', 'Token required');
  }
  const token = findToken(candidate, options.tokens);
  if (token === undefined) return refuse(401, 'bad_token', 'Invalid token');
  return { ok: true, token, source };
}
