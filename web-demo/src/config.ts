/**
 * Where the console connects. `npm start` serves `/config.json` next to the console
 * (`{ bridgeUrl, token, moduleNames }`); without it (e.g. `vite web-demo`) the console shows a
 * connect form and remembers the URL and name in localStorage (the token only for the session).
 */

/** What `/config.json` holds. */
export interface ConsoleConfig {
  /** `ws://host:port` of the bridge. */
  bridgeUrl: string;
  /** Bridge token (offered as the `bearer.<token>` subprotocol). */
  token?: string;
  /** Module names the token may register, as globs (`console_*`). */
  moduleNames: string[];
}

/** What one connection uses. */
export interface ConnectSettings {
  url: string;
  token: string;
  name: string;
}

/** Default name pattern when nothing says otherwise. */
export const DEFAULT_NAME_PATTERN = 'console_*';
const MODULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Fetches `config.json` from the console's own origin. Undefined when there is none, when it is
 * not JSON (a dev server's HTML fallback) or when it lacks `bridgeUrl`.
 */
export async function loadConfig(signal?: AbortSignal): Promise<ConsoleConfig | undefined> {
  let res: Response;
  try {
    res = await fetch(new URL('config.json', document.baseURI), {
      cache: 'no-store',
      signal: signal ?? null,
    });
  } catch {
    return undefined;
  }
  if (!res.ok) return undefined;
  let body: unknown;
  try {
    // Not res.json(): whatever the content type, only a JSON object counts (a dev server
    // answers unknown paths with its index.html).
    body = JSON.parse(await res.text());
  } catch {
    return undefined;
  }
  return parseConfig(body);
}

/** Validates a parsed `config.json`; undefined when it is unusable. */
export function parseConfig(body: unknown): ConsoleConfig | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.bridgeUrl !== 'string' || !/^wss?:\/\//.test(b.bridgeUrl)) return undefined;
  const names = Array.isArray(b.moduleNames)
    ? b.moduleNames.filter((n): n is string => typeof n === 'string' && n !== '')
    : [];
  const config: ConsoleConfig = {
    bridgeUrl: b.bridgeUrl,
    moduleNames: names.length > 0 ? names : [DEFAULT_NAME_PATTERN],
  };
  if (typeof b.token === 'string') config.token = b.token;
  return config;
}

/** Four random characters of `[a-z0-9]`. */
export function randomSuffix(length = 4): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** A concrete module name from a glob: every `*` becomes 4 random characters. */
export function nameFromPattern(pattern: string): string {
  const name = pattern.replace(/\*/g, () => randomSuffix());
  return MODULE_NAME.test(name) ? name : `console_${randomSuffix()}`;
}

/** True when `name` is a valid module name matched by one of the globs. */
export function nameAllowed(name: string, patterns: readonly string[]): boolean {
  if (!MODULE_NAME.test(name)) return false;
  return patterns.some((p) => {
    const re = new RegExp(
      `^${p
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
        .join('[A-Za-z0-9_-]*')}$`,
    );
    return re.test(name);
  });
}

const STORE_URL = 'autocore-console.url';
const STORE_NAME = 'autocore-console.name';
const STORE_TOKEN = 'autocore-console.token';

/** Settings remembered from the last manual connect, with defaults. */
export function rememberedSettings(): ConnectSettings {
  const get = (s: Storage | undefined, k: string): string | null => {
    try {
      return s?.getItem(k) ?? null;
    } catch {
      return null;
    }
  };
  return {
    url: get(globalThis.localStorage, STORE_URL) ?? 'ws://127.0.0.1:9101',
    token: get(globalThis.sessionStorage, STORE_TOKEN) ?? '',
    name: get(globalThis.localStorage, STORE_NAME) ?? nameFromPattern(DEFAULT_NAME_PATTERN),
  };
}

/** Remembers manual settings: URL and name in localStorage, the token only in sessionStorage. */
export function rememberSettings(s: ConnectSettings): void {
  try {
    localStorage.setItem(STORE_URL, s.url);
    localStorage.setItem(STORE_NAME, s.name);
    sessionStorage.setItem(STORE_TOKEN, s.token);
  } catch {
    // Storage can be disabled; the form still works without it.
  }
}
