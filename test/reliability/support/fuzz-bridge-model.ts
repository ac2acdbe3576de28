/**
 * What the bridge must do with one WebSocket message from a browser (PROTOCOL.md section 7 and
 * the bridge rules of the "Browsers as modules" issue), for the bridge fuzzer: close with a
 * given code, answer with a failed Response, relay (and then carry the server's answer back),
 * or drop. Written from the spec; imports nothing from `src/` or `bridge/`.
 *
 * The fuzz token is allowed names `fz*`, and `>` for request, subscribe and broadcast, with
 * `secret.>` denied for all three, so both the allow and the deny side of every check are hit.
 */
import {
  C,
  T,
  asksReply,
  isRegistration,
  isValidUtf8,
  judgeHeader,
  judgePayload,
  lengthAt,
  patternValidity,
  type ExpectedMessage,
  type Verdict,
} from './fuzz-oracle.ts';

export interface BridgeLimitsModel {
  maxMessageBytes: number;
  maxPreRegistrationBytes: number;
}

/** One browser connection as the model sees it. */
export interface BrowserModel {
  form: 'text' | 'binary' | undefined;
  /** Name acknowledged by the server. */
  registered: string | undefined;
  /** Name of a Register relayed and not yet answered (the server drops one with id 0). */
  pending: string | undefined;
}

/** The bridge's duty for one message. */
export type BridgeStep =
  | { kind: 'close'; code: number; why: string }
  | {
      kind: 'answer';
      txid: number;
      error: string;
      /** A failed RegisterAck (then close 1008) rather than a failed Response. */
      registerAck?: boolean;
    }
  | {
      kind: 'relay';
      msg: ExpectedMessage;
      reply: 'Response' | 'Heartbeat' | 'RegisterAck' | undefined;
    }
  /** The spec leaves the outcome open (see patternValidity): relayed, or refused with "Not allowed". */
  | { kind: 'relay-or-refuse'; msg: ExpectedMessage }
  | { kind: 'drop' };

/** A concrete topic the fuzz token may request or broadcast on. */
export function topicAllowed(topic: string): boolean {
  const segs = topic.split('.');
  if (topic === '' || segs.some((s) => s === '')) return false; // matches no pattern
  return !(segs.length >= 2 && segs[0] === 'secret');
}

/** A Subscribe pattern the fuzz token may use: valid, and no topic of it is under `secret.>`. */
export function subscribeAllowed(pattern: string): boolean | 'either' {
  const valid = patternValidity(pattern);
  if (valid === false) return false;
  const segs = pattern.split('.');
  const first = segs[0] as string;
  const wild = first === '*' || (first.startsWith('{') && first.endsWith('}'));
  const overlaps = first === '>' || ((first === 'secret' || wild) && segs.length >= 2);
  if (overlaps) return false;
  return valid;
}

function nameAllowed(name: string): boolean {
  return /^fz[A-Za-z0-9_-]*$/.test(name);
}

/** The verdict of the message itself (section 7: binary = exactly one frame; text = bare JSON). */
export function browserVerdict(unit: Uint8Array, form: 'text' | 'binary'): Verdict {
  if (form === 'text') {
    if (!isValidUtf8(unit)) return { kind: 'close', why: 'text message is not UTF-8' };
    return judgePayload(new TextDecoder('utf-8', { ignoreBOM: true }).decode(unit), -1);
  }
  if (unit.length < 5) return { kind: 'close', why: 'shorter than a frame header' };
  const length = lengthAt(unit, 0);
  if (length !== unit.length - 5) return { kind: 'close', why: 'not exactly one frame' };
  return (
    judgeHeader(length, unit[4] as number, Infinity) ??
    judgePayload(unit.subarray(5), unit[4] as number)
  );
}

/** The bridge's duty for `unit`, and the model updated as the spec says. */
export function bridgeStep(
  b: BrowserModel,
  unit: Uint8Array,
  form: 'text' | 'binary',
  limits: BridgeLimitsModel,
): BridgeStep {
  // WebSocket-level rules come first (RFC 6455): the message limit, then UTF-8 of a text message.
  if (unit.length > limits.maxMessageBytes)
    return { kind: 'close', code: 1009, why: 'over the message limit' };
  if (form === 'text' && !isValidUtf8(unit))
    return { kind: 'close', code: 1007, why: 'text message is not UTF-8' };
  if (b.form !== undefined && b.form !== form)
    return { kind: 'close', code: 1003, why: 'mixed forms' };
  b.form = form;
  if (b.registered === undefined && unit.length > limits.maxPreRegistrationBytes) {
    return { kind: 'close', code: 1009, why: 'over the limit before registration' };
  }
  const v = browserVerdict(unit, form);
  if (v.kind === 'close') return { kind: 'close', code: 1007, why: v.why };
  if (v.kind === 'invalid') {
    return v.reply === undefined
      ? { kind: 'drop' }
      : { kind: 'answer', txid: v.reply.txid, error: 'Invalid message: ' };
  }
  const m = v.msg;
  const id = m.transactionId;
  const refuse = (error: string): BridgeStep =>
    id !== 0 && asksReply(m.messageType) ? { kind: 'answer', txid: id, error } : { kind: 'drop' };
  switch (m.messageType) {
    case T.NoOp:
      return { kind: 'drop' };
    case T.Heartbeat:
      return { kind: 'relay', msg: m, reply: id === 0 ? undefined : 'Heartbeat' };
    default:
      break;
  }
  if (m.messageType === T.Control && m.controlType === C.Register) {
    // Identity is stamped by the bridge: one name per connection, from data.name, allowed by the token.
    const held = b.registered ?? b.pending;
    if (held !== undefined)
      return {
        kind: 'answer',
        txid: id,
        error: `Already registered as ${held}`,
        registerAck: true,
      };
    const name = (m.data as { name?: unknown } | null)?.name;
    if (!isRegistration(m.data) || typeof name !== 'string')
      return { kind: 'answer', txid: id, error: '', registerAck: true };
    if (!nameAllowed(name))
      return { kind: 'answer', txid: id, error: `Not allowed: ${name}`, registerAck: true };
    b.pending = name;
    return { kind: 'relay', msg: m, reply: id === 0 ? undefined : 'RegisterAck' };
  }
  if (b.registered === undefined) return refuse('Not registered');
  switch (m.messageType) {
    case T.Request:
    case T.Read:
    case T.Write:
      if (!topicAllowed(m.topic)) return refuse(`Not allowed: ${m.topic}`);
      return { kind: 'relay', msg: m, reply: id === 0 ? undefined : 'Response' };
    case T.Subscribe: {
      const ok = subscribeAllowed(m.topic);
      if (ok === false) return refuse(`Not allowed: ${m.topic}`);
      if (ok === 'either') return { kind: 'relay-or-refuse', msg: m };
      return { kind: 'relay', msg: m, reply: id === 0 ? undefined : 'Response' };
    }
    case T.Broadcast:
      return topicAllowed(m.topic) ? { kind: 'relay', msg: m, reply: undefined } : { kind: 'drop' };
    case T.Unsubscribe:
      return { kind: 'relay', msg: m, reply: id === 0 ? undefined : 'Response' };
    default:
      // Response and Control other than Register pass once registered; the server answers them.
      return { kind: 'relay', msg: m, reply: undefined };
  }
}
