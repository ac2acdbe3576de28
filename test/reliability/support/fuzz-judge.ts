/**
 * Compares what the code under test produced for a fuzz case with the oracle's verdict
 * (support/fuzz-oracle.ts). Shared by the decoder, server and bridge fuzzers.
 */
import type { FrameCase } from './fuzz-cases.ts';
import {
  asksReply,
  judgeHeader,
  judgePayload,
  sameJson,
  type ExpectedMessage,
  type Verdict,
} from './fuzz-oracle.ts';

/** The oracle's verdict on one frame case for a receiver with this payload limit. */
export function verdictOf(c: FrameCase, maxPayload: number, maxDepth = 64): Verdict {
  const length = c.length ?? c.payload.length;
  return judgeHeader(length, c.type, maxPayload) ?? judgePayload(c.payload, c.type, maxDepth);
}

/** The members of a decoded CommandMessage that the oracle predicts. */
export interface DecodedLike {
  transactionId: number;
  timecode: number;
  topic: string;
  messageType: number;
  controlType: number | undefined;
  data: unknown;
  crc: number;
  success: boolean;
  errorMessage: string;
}

/** Undefined when `got` is the message the oracle expects; else what differs. */
export function diffMessage(want: ExpectedMessage, got: DecodedLike): string | undefined {
  for (const k of [
    'transactionId',
    'timecode',
    'topic',
    'messageType',
    'crc',
    'success',
    'errorMessage',
  ] as const) {
    if (!Object.is(want[k], got[k]) && !(want[k] === got[k])) {
      return `${k}: expected ${JSON.stringify(want[k])}, got ${JSON.stringify(got[k])}`;
    }
  }
  if (want.messageType === 4 && want.controlType !== got.controlType) {
    return `controlType: expected ${want.controlType}, got ${got.controlType}`;
  }
  if (!sameJson(want.data, got.data)) {
    return `data: expected ${JSON.stringify(want.data)?.slice(0, 200)}, got ${JSON.stringify(got.data)?.slice(0, 200)}`;
  }
  return undefined;
}

/** What an `ERR_INVALID_MESSAGE` error says can be read of the bad message. */
export interface InvalidInfoLike {
  transactionId?: number;
  messageType?: number;
  topic?: string;
}

/**
 * Undefined when the info of an invalid-message error allows exactly the answer the spec
 * requires: the right id and topic when one is due, and no answer at all when none is.
 */
export function diffInvalidInfo(
  v: Extract<Verdict, { kind: 'invalid' }>,
  info: InvalidInfoLike | undefined,
): string | undefined {
  const answerable =
    info !== undefined &&
    info.transactionId !== undefined &&
    info.transactionId !== 0 &&
    info.messageType !== undefined &&
    asksReply(info.messageType);
  if (v.reply === undefined) {
    return answerable
      ? `no answer is due, but the error is answerable (${JSON.stringify(info)})`
      : undefined;
  }
  if (!answerable)
    return `an answer to ${v.reply.txid} is due, the error gives no way to send it (${JSON.stringify(info)})`;
  if (info.transactionId !== v.reply.txid)
    return `answer id ${info.transactionId}, expected ${v.reply.txid}`;
  if ((info.topic ?? '') !== v.reply.topic)
    return `answer topic ${JSON.stringify(info.topic)}, expected ${JSON.stringify(v.reply.topic)}`;
  return undefined;
}
