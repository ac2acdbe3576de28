/**
 * What the server must answer to one judged message (PROTOCOL.md sections 1, 4 and 5), for the
 * server fuzzer: a model of one connection (registered or not, its subscriptions) and the
 * answers each message calls for. Written from the spec; imports nothing from `src/`.
 */
import { C, T, asksReply, isRegistration, patternValidity, type Verdict } from './fuzz-oracle.ts';

/** One message the server must send back. */
export interface Want {
  kind: 'Response' | 'Heartbeat' | 'RegisterAck';
  txid: number;
  /** Required outcome; undefined when the spec leaves it open. */
  success?: boolean;
  /** Required start of `error_message`. */
  error?: string;
  /** Required topic. */
  topic?: string;
  /** Applied to the model once the answer is seen (for outcomes the spec leaves open). */
  onSeen?: (success: boolean) => void;
}

/** The connection as the model sees it. */
export interface PeerModel {
  name: string | undefined;
  subs: Set<string>;
}

/** What one message does: the answers due, and whether the server then closes. */
export interface Step {
  wants: Want[];
  close: 'none' | 'framing' | 'clean';
  /** The name this message registers, when it does. */
  registers?: string;
}

/** Facts about the rest of the server the model needs. */
export interface ServerFacts {
  /** True when `name` is registered by another connection. */
  taken(name: string): boolean;
  /** Domains served by healthy modules (they answer every request with success). */
  modules: ReadonlySet<string>;
  maxSubscriptions: number;
}

const NONE: Step = { wants: [], close: 'none' };

function failed(txid: number, error: string, topic?: string): Want {
  return {
    kind: 'Response',
    txid,
    success: false,
    error,
    ...(topic === undefined ? {} : { topic }),
  };
}

/** The server's duty for one unit the oracle judged, on a connection in state `peer`. */
export function serverStep(peer: PeerModel, v: Verdict, facts: ServerFacts): Step {
  if (v.kind === 'close') return { wants: [], close: 'framing' };
  if (v.kind === 'invalid') {
    return v.reply === undefined
      ? NONE
      : { wants: [failed(v.reply.txid, 'Invalid message: ')], close: 'none' };
  }
  const m = v.msg;
  const id = m.transactionId;
  if (m.messageType === T.NoOp) return NONE;
  if (m.messageType === T.Heartbeat)
    return id === 0 ? NONE : { wants: [{ kind: 'Heartbeat', txid: id }], close: 'none' };

  if (peer.name === undefined) {
    if (m.messageType === T.Control && m.controlType === C.Register) {
      if (id === 0) return NONE; // section 5: cannot be answered, dropped
      const name = (m.data as { name?: unknown } | null)?.name;
      const refuse: Step = {
        wants: [{ kind: 'RegisterAck', txid: id, success: false }],
        close: 'clean',
      };
      if (!isRegistration(m.data) || typeof name !== 'string') return refuse;
      if (facts.taken(name) || facts.modules.has(name)) return refuse;
      return {
        wants: [{ kind: 'RegisterAck', txid: id, success: true }],
        close: 'none',
        registers: name,
      };
    }
    // Section 4: before the RegisterAck only Register and Heartbeat are served.
    if (asksReply(m.messageType) && id !== 0)
      return { wants: [failed(id, 'Not registered')], close: 'none' };
    return NONE;
  }

  switch (m.messageType) {
    case T.Request:
    case T.Read:
    case T.Write: {
      if (id === 0) return NONE;
      const dot = m.topic.indexOf('.');
      const domain = dot < 0 ? m.topic : m.topic.slice(0, dot);
      if (domain === 'system') {
        if (['system.ping', 'system.get_domains', 'system.get_catalog'].includes(m.topic)) {
          return { wants: [{ kind: 'Response', txid: id, success: true }], close: 'none' };
        }
        return { wants: [failed(id, `Not implemented: ${m.topic}`)], close: 'none' };
      }
      // A healthy module answers (possibly with a failure, e.g. when its answer is too large).
      if (facts.modules.has(domain))
        return { wants: [{ kind: 'Response', txid: id }], close: 'none' };
      if (domain === peer.name)
        throw new Error(`fuzz case routes to the fuzz peer itself (${m.topic})`);
      return { wants: [failed(id, `Module not found: ${domain}`)], close: 'none' };
    }
    case T.Response:
    case T.Broadcast:
      return NONE; // an unsolicited Response is dropped; a Broadcast never returns to its sender
    case T.Subscribe: {
      if (id === 0) return NONE;
      const pattern = m.topic;
      if (peer.subs.has(pattern))
        return { wants: [{ kind: 'Response', txid: id, success: true }], close: 'none' };
      const valid = patternValidity(pattern);
      if (valid === false || peer.subs.size >= facts.maxSubscriptions) {
        return { wants: [{ kind: 'Response', txid: id, success: false }], close: 'none' };
      }
      if (valid === true) {
        peer.subs.add(pattern);
        return { wants: [{ kind: 'Response', txid: id, success: true }], close: 'none' };
      }
      return {
        wants: [
          { kind: 'Response', txid: id, onSeen: (ok) => void (ok && peer.subs.add(pattern)) },
        ],
        close: 'none',
      };
    }
    case T.Unsubscribe: {
      if (id === 0) return NONE;
      if (peer.subs.delete(m.topic))
        return { wants: [{ kind: 'Response', txid: id, success: true }], close: 'none' };
      return { wants: [failed(id, `Not subscribed: ${m.topic}`)], close: 'none' };
    }
    case T.Control: {
      if (m.controlType === C.Finalize) {
        // Section 4.6: the server answers a module that leaves, then closes.
        return {
          wants: id === 0 ? [] : [{ kind: 'Response', txid: id, success: true }],
          close: 'clean',
        };
      }
      if (id === 0) return NONE;
      if (m.controlType === C.Register) {
        // Section 4.2: a second Register is refused like a first one, then the server closes.
        return { wants: [{ kind: 'RegisterAck', txid: id, success: false }], close: 'clean' };
      }
      // Configure/Status get a failed Response (section 4.6); for the other control types the
      // spec only says a Control asks for a reply (section 1), so just one Response is required.
      const refused = m.controlType === 5 || m.controlType === 6;
      return {
        wants: [{ kind: 'Response', txid: id, ...(refused ? { success: false } : {}) }],
        close: 'none',
      };
    }
    default:
      return NONE;
  }
}
