/**
 * Counters of the bridge, as a snapshot object and as Prometheus text.
 */

/**
 * A snapshot of the bridge's counters.
 *
 * @example
 * ```ts
 * const m = bridge.metrics();
 * console.log(m.connectionsCurrent, m.denials.bad_token ?? 0, m.closes['1008'] ?? 0);
 * ```
 */
export interface BridgeMetrics {
  /** Open WebSocket connections. */
  connectionsCurrent: number;
  /** WebSocket connections accepted since start. */
  connectionsTotal: number;
  /** WebSocket messages received from browsers. */
  messagesIn: number;
  /** WebSocket messages sent to browsers. */
  messagesOut: number;
  /** Payload bytes received from browsers. */
  bytesIn: number;
  /** Payload bytes sent to browsers. */
  bytesOut: number;
  /** Frames relayed to the server. */
  framesUpstream: number;
  /** Refused handshakes by reason (`missing_token`, `bad_token`, `token_in_query`, `origin`, `subprotocol`, `headers`, `connection_limit`, `token_connection_limit`, `bad_request`, `shutting_down`). */
  denials: Record<string, number>;
  /** Closed WebSocket connections by close code (the code the bridge sent when it closed, else the browser's). */
  closes: Record<string, number>;
  /** Messages refused by permissions, by kind (`register`, `request`, `subscribe`, `broadcast`, `not_registered`). */
  forbidden: Record<string, number>;
  /** Messages refused by the rate limit. */
  rateLimited: number;
  /** Invalid messages from browsers (answered or dropped, never relayed). */
  invalidMessages: number;
  /** Superseded Broadcasts dropped towards slow browsers. */
  coalesced: number;
  /** Upstream connections that failed or could not be opened. */
  upstreamErrors: number;
}

/** @internal Mutable counters behind {@link BridgeMetrics}. */
export class MetricsRegistry {
  readonly m: BridgeMetrics = {
    connectionsCurrent: 0,
    connectionsTotal: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesUpstream: 0,
    denials: {},
    closes: {},
    forbidden: {},
    rateLimited: 0,
    invalidMessages: 0,
    coalesced: 0,
    upstreamErrors: 0,
  };

  count(map: 'denials' | 'closes' | 'forbidden', key: string | number): void {
    const table = this.m[map];
    table[key] = (table[key] ?? 0) + 1;
  }

  snapshot(): BridgeMetrics {
    return {
      ...this.m,
      denials: { ...this.m.denials },
      closes: { ...this.m.closes },
      forbidden: { ...this.m.forbidden },
    };
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(): string {
    const m = this.m;
    const out: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    const labelled = (
      name: string,
      help: string,
      label: string,
      table: Record<string, number>,
    ): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const key of Object.keys(table).sort()) {
        out.push(`${name}{${label}="${key.replace(/["\\\n]/g, '_')}"} ${table[key]}`);
      }
    };
    metric(
      'autocore_bridge_connections_current',
      'gauge',
      'Open WebSocket connections.',
      m.connectionsCurrent,
    );
    metric(
      'autocore_bridge_connections_total',
      'counter',
      'WebSocket connections accepted.',
      m.connectionsTotal,
    );
    metric(
      'autocore_bridge_messages_in_total',
      'counter',
      'WebSocket messages received from browsers.',
      m.messagesIn,
    );
    metric(
      'autocore_bridge_messages_out_total',
      'counter',
      'WebSocket messages sent to browsers.',
      m.messagesOut,
    );
    metric(
      'autocore_bridge_bytes_in_total',
      'counter',
      'Payload bytes received from browsers.',
      m.bytesIn,
    );
    metric(
      'autocore_bridge_bytes_out_total',
      'counter',
      'Payload bytes sent to browsers.',
      m.bytesOut,
    );
    metric(
      'autocore_bridge_frames_upstream_total',
      'counter',
      'Frames relayed to the server.',
      m.framesUpstream,
    );
    labelled('autocore_bridge_denials_total', 'Refused handshakes by reason.', 'reason', m.denials);
    labelled(
      'autocore_bridge_closes_total',
      'Closed WebSocket connections by close code.',
      'code',
      m.closes,
    );
    labelled(
      'autocore_bridge_forbidden_total',
      'Messages refused by permissions.',
      'kind',
      m.forbidden,
    );
    metric(
      'autocore_bridge_rate_limited_total',
      'counter',
      'Messages refused by the rate limit.',
      m.rateLimited,
    );
    metric(
      'autocore_bridge_invalid_messages_total',
      'counter',
      'Invalid messages from browsers.',
      m.invalidMessages,
    );
    metric(
      'autocore_bridge_coalesced_total',
      'counter',
      'Superseded Broadcasts dropped towards slow browsers.',
      m.coalesced,
    );
    metric(
      'autocore_bridge_upstream_errors_total',
      'counter',
      'Upstream connections that failed.',
      m.upstreamErrors,
    );
    return `${out.join('\n')}\n`;
  }
}
