/**
 * What the page and the connection worker say to each other. The worker owns the WebSocket,
 * the IpcClient and the tab's module, so a flood of messages never lands on the page's main
 * thread; it sends the page batches (tap entries, newest values, chart points) a few dozen
 * times a second, and the page renders them at its own pace.
 */
import type { ConnectSettings } from './config.ts';

/** `idle` before the first connect; the others mirror IpcClient's states. */
export type ConnectionPhase = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** A kind of outgoing call from the request panel. */
export type CallKind = 'request' | 'read' | 'write';

/** Connection state, as the header shows it. */
export interface ConnectionStatus {
  phase: ConnectionPhase;
  /** Try number of the current (re)connection cycle, 1-based (0: none yet). */
  attempt: number;
  /** Delay before that try, when it is a retry. */
  delayMs: number | undefined;
  /** Last error text and when it happened (epoch ms). */
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** The settings in use (or last used). The token is never sent back to the page. */
  url: string | undefined;
  name: string | undefined;
  /** Requests this tab's module has answered. */
  served: number;
  /** Subscription patterns wanted, and whether the server has accepted each. */
  subscriptions: { pattern: string; active: boolean }[];
}

/** The state before the first connect. */
export function initialStatus(): ConnectionStatus {
  return {
    phase: 'idle',
    attempt: 0,
    delayMs: undefined,
    lastError: undefined,
    lastErrorAt: undefined,
    url: undefined,
    name: undefined,
    served: 0,
    subscriptions: [],
  };
}

/** A Response as the page sees it. */
export interface CallReply {
  success: boolean;
  data: unknown;
  errorMessage: string;
  transactionId: number;
  /** Round trip measured in the worker around the SDK call, ms. */
  rttMs: number;
}

/** One message seen by the tap (the page numbers them). */
export interface TapRecord {
  time: number;
  dir: 'in' | 'out';
  /** MessageType number; -1 when the unit could not be parsed. */
  type: number;
  /** ControlType number on Control messages, else -1. */
  control: number;
  topic: string;
  txid: number;
  /** Bytes on the wire. */
  size: number;
  success: boolean;
  error: string;
  /** The JSON text (clipped). */
  raw: string;
}

/** The newest value of one topic and how many messages it has had in total. */
export interface ValueUpdate {
  topic: string;
  value: unknown;
  count: number;
}

/** What the charted topic did during one flush window. */
export interface ChartPoint {
  time: number;
  min: number;
  max: number;
  last: number;
}

/** Page -> worker. `id` (when present) is answered by one `result`. */
export type WorkerCommand =
  | { op: 'connect'; id: number; settings: ConnectSettings }
  | { op: 'disconnect'; id: number }
  | { op: 'call'; id: number; kind: CallKind; topic: string; data: unknown; timeoutMs: number }
  | { op: 'broadcast'; id: number; topic: string; data: unknown }
  | { op: 'subscribe'; id: number; pattern: string }
  | { op: 'unsubscribe'; id: number; pattern: string }
  | { op: 'chart'; topic: string | undefined }
  | { op: 'tap'; paused: boolean };

/** Worker -> page. */
export type WorkerEvent =
  | { ev: 'result'; id: number; ok: true; value: unknown }
  | { ev: 'result'; id: number; ok: false; error: string }
  | { ev: 'status'; status: ConnectionStatus }
  | {
      ev: 'batch';
      /** New tap records, oldest first. */
      tap: TapRecord[];
      /** Records the worker dropped because the page did not keep up (bounded memory). */
      tapDropped: number;
      totals: { in: number; out: number; bytes: number };
      /** Topics that received broadcasts since the last batch. */
      values: ValueUpdate[];
      /** Points of the charted topic since the last batch. */
      chart: ChartPoint[];
      chartTopic: string | undefined;
    };
