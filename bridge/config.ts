/**
 * Options of the WebSocket <-> TCP bridge: their types, every default, validation, and the JSON
 * config file the CLI reads. Validation errors are `IpcError` `ERR_INVALID_ARGUMENT` whose message
 * names the bad field (e.g. `tokens[1].subscribe[0]`), so a typo in a config file is found at
 * start-up, never at the first connection.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IpcError, parseAddress, parseTopicPattern } from 'autocore-ipc';
import { isLoopbackHost } from 'autocore-ipc/node';
import { compilePermissions, type CompiledPermissions } from './permissions.ts';

/**
 * What one token (or, without tokens, every connection) may do. Every list defaults to `[]`:
 * a token may do nothing it is not explicitly allowed to. `deny*` lists win over allow lists.
 *
 * @example
 * ```ts
 * const hmi: BridgePermissions = {
 *   names: ['hmi_*'],
 *   request: ['press1.>', 'system.ping'],
 *   subscribe: ['press1.>'],
 *   denyRequest: ['press1.config.>'],
 * };
 * ```
 */
export interface BridgePermissions {
  /**
   * Module names the connection may register, as globs where `*` matches any run (possibly
   * empty) of name characters `[A-Za-z0-9_-]`, e.g. `hmi_*`. Default `[]` (no name: the
   * connection cannot register, so it can do nothing but Heartbeats).
   */
  names?: string[];
  /** Topic patterns (PROTOCOL.md section 6) allowed for Request, Read and Write. Default `[]`. */
  request?: string[];
  /**
   * Topic patterns allowed for Subscribe. A Subscribe pattern is allowed when every topic it can
   * match is matched by one of these (so `press1.>` allows `press1.axis.*`, not `>`). Default `[]`.
   */
  subscribe?: string[];
  /** Topic patterns allowed for Broadcast. Default `[]`. */
  broadcast?: string[];
  /** Topic patterns refused for Request/Read/Write even when allowed above. Default `[]`. */
  denyRequest?: string[];
  /**
   * Topic patterns refused for Subscribe. A Subscribe pattern is refused when it could match any
   * topic one of these matches (`press1.>` is refused by `press1.secret.*`). Default `[]`.
   */
  denySubscribe?: string[];
  /** Topic patterns refused for Broadcast. Default `[]`. */
  denyBroadcast?: string[];
}

/**
 * One accepted token and its permissions.
 *
 * @example
 * ```ts
 * const entry: BridgeToken = { token: process.env.HMI_TOKEN!, id: 'hmi', names: ['hmi_*'], subscribe: ['>'] };
 * ```
 */
export interface BridgeToken extends BridgePermissions {
  /**
   * The secret: at least 16 characters, all of them valid in an HTTP token (letters, digits and
   * `` !#$%&'*+-.^_`|~ ``), because browsers send it as the subprotocol entry `bearer.<token>`.
   * Never logged.
   */
  token: string;
  /** Label of this token in logs and metrics (the token itself never appears). Default `token-<n>` (1-based position). */
  id?: string;
  /** Open connections allowed with this token. Default `limits.maxConnectionsPerToken`. */
  maxConnections?: number;
}

/**
 * Numeric limits (PROTOCOL.md section 8, bridge rows). Every one has a default.
 *
 * @example
 * ```ts
 * const limits: BridgeLimits = { maxConnections: 200, pingIntervalMs: 15_000 };
 * ```
 */
export interface BridgeLimits {
  /** Largest WebSocket message from a browser, whole (the 5-byte header counts in binary). Over it: close 1009. Default 262 144 (256 KiB). */
  maxMessageBytes?: number;
  /** Largest message before the connection's registration succeeded (the server's own pre-registration limit). Over it: close 1009. Default 65 536. */
  maxPreRegistrationBytes?: number;
  /** JSON nesting limit of a message (the envelope is depth 1). Default 64. */
  maxDepth?: number;
  /** Open WebSocket connections in total; more are refused with HTTP 503 before the upgrade. Default 1024. */
  maxConnections?: number;
  /** Open connections per token (or in total without tokens); more are refused with HTTP 429. Default 64. */
  maxConnectionsPerToken?: number;
  /** Most request headers a handshake may carry; more: HTTP 431. Default 64. */
  maxHeadersCount?: number;
  /** Largest request head (request line + headers) in bytes; more: HTTP 431. Default 16 384. */
  maxHeaderBytes?: number;
  /** Token bucket size per connection: the burst of messages accepted at once. Default 1000. */
  rateCapacity?: number;
  /** Tokens added per second to each connection's bucket. Default 200. */
  rateRefillPerSecond?: number;
  /** Close 1008 when a connection keeps exceeding its rate this long. Default 2000 ms. */
  rateExcessCloseMs?: number;
  /** Bytes queued towards a browser above which Broadcasts are coalesced (newest per topic). Default 1 048 576 (1 MiB). */
  maxBufferedBytes?: number;
  /** Bytes queued towards a browser (queue + coalesced Broadcasts) above which it is closed 1013. Default 2 097 152 (2 MiB). */
  closeBufferedBytes?: number;
  /** Close 1013 when the queue towards a browser stays over `maxBufferedBytes` this long without shrinking. Default 10 000 ms. */
  slowConsumerMs?: number;
  /** Bytes queued towards the server above which reading from the browser pauses. Default 1 048 576 (1 MiB). */
  upstreamPauseBytes?: number;
  /** Largest frame payload exchanged with the server. Default 4 194 304 (4 MiB). */
  upstreamMaxPayload?: number;
  /** Give up connecting to the server after this long (then close 1011). Default 5000 ms. */
  upstreamConnectTimeoutMs?: number;
  /** Ping every browser this often; one that has not answered the previous ping is terminated. 0 disables. Default 30 000 ms. */
  pingIntervalMs?: number;
  /** After sending a close frame, wait this long for the browser's before dropping the socket. Default 2000 ms. */
  closeGraceMs?: number;
}

/** One structured log line. Never holds a token or any message content. */
export interface BridgeLogEntry {
  /** ISO 8601 time. */
  time: string;
  level: 'info' | 'warn' | 'error';
  /** `listen`, `connect`, `deny`, `register`, `forbidden`, `invalid`, `limit`, `upstream`, `close`, `stop`. */
  event: string;
  /** Connection number (1-based, per bridge). */
  conn?: number;
  /** The browser's address. */
  remote?: string;
  /** Label of the token used (see {@link BridgeToken.id}). */
  tokenId?: string;
  /** Registered module name. */
  name?: string;
  /** Why (a short fixed word, e.g. `bad_token`). */
  reason?: string;
  /** HTTP status of a refused handshake. */
  status?: number;
  /** WebSocket close code. */
  code?: number;
  [key: string]: unknown;
}

/**
 * Options of `createBridge`. Every member is optional.
 *
 * @example
 * ```ts
 * const bridge = await createBridge({
 *   port: 9101,
 *   upstream: '127.0.0.1:9100',
 *   origins: ['http://localhost:5173'],
 *   tokens: [{ token: process.env.HMI_TOKEN!, names: ['hmi_*'], request: ['press1.>'], subscribe: ['press1.>'] }],
 * });
 * ```
 */
export interface BridgeOptions {
  /** Interface to listen on. Default `127.0.0.1`. A non-loopback host needs `tokens` (or `insecure: true`). */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 9101. */
  port?: number;
  /** The IPC server every browser is relayed to, `host:port`. Default `127.0.0.1:9100`. */
  upstream?: string;
  /**
   * Accepted tokens and their permissions. Default `[]`: authentication is OFF and every
   * connection gets `anonymous` permissions, which is only allowed on a loopback host (or with
   * `insecure: true`).
   */
  tokens?: BridgeToken[];
  /** Permissions of every connection when `tokens` is empty. Default: everything (`names: ['*']`, all topics `>`). Ignored when tokens are configured. */
  anonymous?: BridgePermissions;
  /**
   * Browser origins allowed to connect, compared exactly (scheme, host, port), e.g.
   * `http://localhost:5173`. A handshake without an Origin header (not a browser) is allowed;
   * any other origin, `null` included, is refused with 403. Default `[]` (no browser origin).
   */
  origins?: string[];
  /** Allow a non-loopback `host` without tokens. Default false. */
  insecure?: boolean;
  /** Limits; see {@link BridgeLimits} for each default. */
  limits?: BridgeLimits;
  /** Receives one structured entry per event. Default: one JSON line on stderr. */
  log?: (entry: BridgeLogEntry) => void;
}

/** Defaults of {@link BridgeLimits}. */
export const DEFAULT_BRIDGE_LIMITS: Readonly<Required<BridgeLimits>> = Object.freeze({
  maxMessageBytes: 256 * 1024,
  maxPreRegistrationBytes: 64 * 1024,
  maxDepth: 64,
  maxConnections: 1024,
  maxConnectionsPerToken: 64,
  maxHeadersCount: 64,
  maxHeaderBytes: 16 * 1024,
  rateCapacity: 1000,
  rateRefillPerSecond: 200,
  rateExcessCloseMs: 2000,
  maxBufferedBytes: 1024 * 1024,
  closeBufferedBytes: 2 * 1024 * 1024,
  slowConsumerMs: 10_000,
  upstreamPauseBytes: 1024 * 1024,
  upstreamMaxPayload: 4 * 1024 * 1024,
  upstreamConnectTimeoutMs: 5000,
  pingIntervalMs: 30_000,
  closeGraceMs: 2000,
});

/** Default listening host. */
export const DEFAULT_BRIDGE_HOST = '127.0.0.1';
/** Default listening port. */
export const DEFAULT_BRIDGE_PORT = 9101;
/** Default upstream server. */
export const DEFAULT_BRIDGE_UPSTREAM = '127.0.0.1:9100';

/** @internal A validated token. */
export interface ResolvedToken {
  readonly id: string;
  /** sha256 of the token; only this is kept. */
  readonly hash: Buffer;
  readonly maxConnections: number;
  readonly permissions: CompiledPermissions;
}

/** @internal Options after validation, with every default filled in. */
export interface ResolvedBridgeOptions {
  readonly host: string;
  readonly port: number;
  readonly upstream: string;
  /** Empty: authentication off. */
  readonly tokens: readonly ResolvedToken[];
  /** The pseudo-token every connection uses when `tokens` is empty. */
  readonly anonymous: ResolvedToken;
  readonly origins: ReadonlySet<string>;
  readonly insecure: boolean;
  readonly limits: Readonly<Required<BridgeLimits>>;
  readonly log: (entry: BridgeLogEntry) => void;
  /**
   * The configured tokens in clear, used for one thing only: scrubbing them out of any log
   * value a client could have chosen (path, origin, topic), as a second line of defence.
   */
  readonly secrets: readonly string[];
}

const ALLOW_ALL: BridgePermissions = {
  names: ['*'],
  request: ['>'],
  subscribe: ['>'],
  broadcast: ['>'],
};

/** Characters of an HTTP token (RFC 9110 `tchar`): what a subprotocol entry may hold. */
const TOKEN_CHARS = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Shortest accepted token. */
export const MIN_TOKEN_LENGTH = 16;
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

function bad(field: string, why: string): IpcError {
  return new IpcError('ERR_INVALID_ARGUMENT', `Invalid bridge option ${field}: ${why}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(field, 'must be an array of strings');
  v.forEach((s, i) => {
    if (typeof s !== 'string') throw bad(`${field}[${i}]`, 'must be a string');
  });
  return v as string[];
}

function patternList(v: unknown, field: string): string[] {
  const list = stringList(v, field);
  list.forEach((p, i) => {
    try {
      parseTopicPattern(p);
    } catch (e) {
      throw bad(`${field}[${i}]`, (e as Error).message);
    }
  });
  return list;
}

const NAME_GLOB = /^[A-Za-z0-9_*-]{1,64}$/;

function nameGlobList(v: unknown, field: string): string[] {
  const list = stringList(v, field);
  list.forEach((g, i) => {
    if (!NAME_GLOB.test(g)) {
      throw bad(
        `${field}[${i}]`,
        `"${g}" is not a name glob (1-64 characters of [A-Za-z0-9_-] and *)`,
      );
    }
  });
  return list;
}

function positiveInt(v: unknown, field: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || (!allowZero && v === 0)) {
    throw bad(
      field,
      `must be a ${allowZero ? 'non-negative' : 'positive'} integer (got ${JSON.stringify(v)})`,
    );
  }
  return v;
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw bad(
        field ? `${field}.${k}` : k,
        `unknown option (expected one of: ${allowed.join(', ')})`,
      );
    }
  }
}

const PERMISSION_KEYS = [
  'names',
  'request',
  'subscribe',
  'broadcast',
  'denyRequest',
  'denySubscribe',
  'denyBroadcast',
] as const;
const TOKEN_KEYS = ['token', 'id', 'maxConnections', ...PERMISSION_KEYS] as const;
const LIMIT_KEYS = Object.keys(DEFAULT_BRIDGE_LIMITS) as (keyof BridgeLimits)[];
const OPTION_KEYS = [
  'host',
  'port',
  'upstream',
  'tokens',
  'anonymous',
  'origins',
  'insecure',
  'limits',
  'log',
];

function resolvePermissions(v: unknown, field: string): CompiledPermissions {
  if (!isPlainObject(v)) throw bad(field, 'must be an object');
  return compilePermissions({
    names: nameGlobList(v.names, `${field}.names`),
    request: patternList(v.request, `${field}.request`),
    subscribe: patternList(v.subscribe, `${field}.subscribe`),
    broadcast: patternList(v.broadcast, `${field}.broadcast`),
    denyRequest: patternList(v.denyRequest, `${field}.denyRequest`),
    denySubscribe: patternList(v.denySubscribe, `${field}.denySubscribe`),
    denyBroadcast: patternList(v.denyBroadcast, `${field}.denyBroadcast`),
  });
}

/**
 * Normalises a browser origin as the bridge compares it: `scheme://host[:port]`, lower case,
 * default port dropped. Undefined for anything that is not a bare http(s) origin.
 */
export function normalizeOrigin(origin: string): string | undefined {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    return undefined;
  }
  // A bare origin has no path; `new URL` adds "/" so only an explicit path can reach here.
  if (/^[a-z]+:\/\/[^/]+\/./i.test(origin)) return undefined;
  return u.origin;
}

/** Writes one JSON line to stderr: the default `log`. */
export function stderrLog(entry: BridgeLogEntry): void {
  process.stderr.write(`${JSON.stringify(entry)}\n`);
}

/**
 * Validates options and fills in every default. Throws `IpcError` `ERR_INVALID_ARGUMENT` naming
 * the bad field.
 * @internal
 */
export function resolveBridgeOptions(options: BridgeOptions): ResolvedBridgeOptions {
  if (!isPlainObject(options)) throw bad('options', 'must be an object');
  checkKeys(options as Record<string, unknown>, OPTION_KEYS, '');

  const host = options.host ?? DEFAULT_BRIDGE_HOST;
  if (typeof host !== 'string' || host === '') throw bad('host', 'must be a non-empty string');
  const port = options.port ?? DEFAULT_BRIDGE_PORT;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad('port', `must be an integer 0-65535 (got ${JSON.stringify(port)})`);
  }
  const upstream = options.upstream ?? DEFAULT_BRIDGE_UPSTREAM;
  if (typeof upstream !== 'string') throw bad('upstream', 'must be a "host:port" string');
  try {
    parseAddress(upstream);
  } catch (e) {
    throw bad('upstream', (e as Error).message);
  }
  const insecure = options.insecure ?? false;
  if (typeof insecure !== 'boolean') throw bad('insecure', 'must be a boolean');
  const rawLog: unknown = options.log ?? stderrLog;
  if (typeof rawLog !== 'function') throw bad('log', 'must be a function');
  const log = rawLog as (entry: BridgeLogEntry) => void;

  const rawLimits: unknown = options.limits ?? {};
  if (!isPlainObject(rawLimits)) throw bad('limits', 'must be an object');
  checkKeys(rawLimits, LIMIT_KEYS, 'limits');
  const limits = { ...DEFAULT_BRIDGE_LIMITS };
  for (const key of LIMIT_KEYS) {
    const v = rawLimits[key];
    if (v !== undefined) limits[key] = positiveInt(v, `limits.${key}`, key === 'pingIntervalMs');
  }
  if (limits.closeBufferedBytes < limits.maxBufferedBytes) {
    throw bad('limits.closeBufferedBytes', 'must not be smaller than limits.maxBufferedBytes');
  }
  if (limits.maxPreRegistrationBytes > limits.maxMessageBytes) {
    throw bad('limits.maxPreRegistrationBytes', 'must not be larger than limits.maxMessageBytes');
  }

  const rawTokens: unknown = options.tokens ?? [];
  if (!Array.isArray(rawTokens)) throw bad('tokens', 'must be an array');
  const seen = new Set<string>();
  const ids = new Set<string>();
  const tokens = rawTokens.map((t: unknown, i): ResolvedToken => {
    const field = `tokens[${i}]`;
    if (!isPlainObject(t)) throw bad(field, 'must be an object');
    checkKeys(t, TOKEN_KEYS, field);
    const secret = t.token;
    if (typeof secret !== 'string') throw bad(`${field}.token`, 'must be a string');
    if (secret.length < MIN_TOKEN_LENGTH) {
      throw bad(`${field}.token`, `must be at least ${MIN_TOKEN_LENGTH} characters long`);
    }
    if (!TOKEN_CHARS.test(secret)) {
      throw bad(
        `${field}.token`,
        "may only hold letters, digits and !#$%&'*+-.^_`|~ (browsers send it as a WebSocket subprotocol)",
      );
    }
    if (seen.has(secret)) throw bad(`${field}.token`, 'is the same as an earlier token');
    seen.add(secret);
    const id = t.id ?? `token-${i + 1}`;
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
      throw bad(`${field}.id`, 'must be 1-64 characters of [A-Za-z0-9_.:-]');
    }
    if (ids.has(id)) throw bad(`${field}.id`, `"${id}" is used twice`);
    ids.add(id);
    const maxConnections =
      t.maxConnections === undefined
        ? limits.maxConnectionsPerToken
        : positiveInt(t.maxConnections, `${field}.maxConnections`);
    return {
      id,
      hash: createHash('sha256').update(secret, 'utf8').digest(),
      maxConnections,
      permissions: resolvePermissions(t, field),
    };
  });

  if (isPlainObject(options.anonymous)) checkKeys(options.anonymous, PERMISSION_KEYS, 'anonymous');
  const anonymous: ResolvedToken = {
    id: 'anonymous',
    hash: Buffer.alloc(32),
    maxConnections: limits.maxConnectionsPerToken,
    permissions: resolvePermissions(options.anonymous ?? ALLOW_ALL, 'anonymous'),
  };

  const rawOrigins: unknown = options.origins ?? [];
  const origins = new Set<string>();
  stringList(rawOrigins, 'origins').forEach((o, i) => {
    const norm = normalizeOrigin(o);
    if (norm === undefined) {
      throw bad(
        `origins[${i}]`,
        `"${o}" is not an origin like http://localhost:5173 (scheme, host, optional port, nothing else)`,
      );
    }
    origins.add(norm);
  });

  if (tokens.length === 0 && !isLoopbackHost(host) && !insecure) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Refusing to listen on non-loopback host ${host} without tokens: anyone who can reach it could act as a module. Configure tokens, or set insecure: true (--insecure) to accept this.`,
    );
  }

  return {
    host,
    port,
    upstream,
    tokens,
    anonymous,
    origins,
    insecure,
    limits,
    log,
    secrets: [...seen],
  };
}

/** The snake_case spelling of a camelCase key (`maxConnections` -> `max_connections`). */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function fromSnake(
  o: Record<string, unknown>,
  keys: readonly string[],
  field: string,
): Record<string, unknown> {
  const byFileName = new Map(keys.map((k) => [snake(k), k]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const key = byFileName.get(k);
    if (key === undefined) {
      const where = field ? `${field}.${k}` : k;
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `Invalid bridge config ${where}: unknown field (expected one of: ${[...byFileName.keys()].join(', ')})`,
      );
    }
    out[key] = v;
  }
  return out;
}

/**
 * Turns the parsed JSON of a config file into {@link BridgeOptions}. The file uses snake_case
 * (`deny_request`, `max_connections`, `limits.ping_interval_ms`, ...) and every member is
 * optional; unknown members are errors, so a misspelt limit is never silently ignored. The
 * result is validated like `createBridge` validates its options.
 *
 * ```json
 * {
 *   "host": "0.0.0.0", "port": 9101, "upstream": "127.0.0.1:9100",
 *   "origins": ["https://hmi.example.com"],
 *   "tokens": [{ "id": "hmi", "token": "change-me-0123456789",
 *                "names": ["hmi_*"], "request": ["press1.>"], "subscribe": ["press1.>"],
 *                "deny_request": ["press1.config.>"] }],
 *   "limits": { "max_connections": 200 }
 * }
 * ```
 *
 * @example
 * ```ts
 * const options = parseBridgeConfig(JSON.parse(text));
 * const bridge = await createBridge(options);
 * ```
 */
export function parseBridgeConfig(json: unknown): BridgeOptions {
  if (!isPlainObject(json)) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      'Invalid bridge config: the file must hold a JSON object',
    );
  }
  const top = fromSnake(
    json,
    OPTION_KEYS.filter((k) => k !== 'log'),
    '',
  );
  const options: BridgeOptions = top as BridgeOptions;
  if (top.tokens !== undefined) {
    if (!Array.isArray(top.tokens)) throw bad('tokens', 'must be an array');
    options.tokens = top.tokens.map((t: unknown, i) =>
      isPlainObject(t)
        ? (fromSnake(t, TOKEN_KEYS, `tokens[${i}]`) as unknown as BridgeToken)
        : (t as BridgeToken),
    );
  }
  if (isPlainObject(top.anonymous)) {
    options.anonymous = fromSnake(top.anonymous, PERMISSION_KEYS, 'anonymous') as BridgePermissions;
  }
  if (isPlainObject(top.limits)) {
    options.limits = fromSnake(top.limits, LIMIT_KEYS, 'limits') as BridgeLimits;
  }
  try {
    resolveBridgeOptions(options);
  } catch (e) {
    // Name the field as the file spells it.
    const m = /^Invalid bridge option ([^:]+): ([\s\S]*)$/.exec((e as Error).message);
    if (!m) throw e;
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Invalid bridge config ${snake(m[1] ?? '')}: ${m[2] ?? ''}`,
      {
        cause: e,
      },
    );
  }
  return options;
}

/**
 * Reads and validates a JSON config file (see {@link parseBridgeConfig} for its shape).
 * Rejects with `IpcError` `ERR_INVALID_ARGUMENT` naming the file and the bad field.
 *
 * @example
 * ```ts
 * const bridge = await createBridge(await loadBridgeConfig('bridge.json'));
 * ```
 */
export async function loadBridgeConfig(path: string): Promise<BridgeOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Cannot read bridge config ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Bridge config ${path} is not valid JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  try {
    return parseBridgeConfig(json);
  } catch (e) {
    const err = e as IpcError;
    throw new IpcError(err.code ?? 'ERR_INVALID_ARGUMENT', `${path}: ${err.message}`, { cause: e });
  }
}
