/**
 * Reliability item 1, in-process target: the FrameDecoder and CommandMessage validation of
 * `src/core`, fed random frame sequences split at random points (1-byte chunks, splits inside
 * the header), every length boundary, every type byte, and the regression table. Each frame's
 * outcome is compared with the oracle written from PROTOCOL.md (support/fuzz-oracle.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.ts';
import { FrameDecoder } from '../../src/core/frame-decoder.ts';
import { CommandMessage } from '../../src/core/message.ts';
import { REGRESSION_ROWS } from './regressions/fuzz-cases.ts';
import { byMode, recordFigure } from './support/figures.ts';
import {
  caseRow,
  frameBytes,
  frameCaseArb,
  paddedPayload,
  rowToCase,
  type FrameCase,
} from './support/fuzz-cases.ts';
import { diffInvalidInfo, diffMessage, verdictOf } from './support/fuzz-judge.ts';
import type { Verdict } from './support/fuzz-oracle.ts';
import { fuzz, prototypeSnapshot } from './support/fuzz-run.ts';

/** The decoder's payload limit in these runs: small, so max-1/max/max+1 frames are cheap. */
const MAX = 4096;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits `bytes` at the given cut points (taken modulo its length), or into 1-byte chunks. */
function split(bytes: Uint8Array, cuts: number[] | 'bytes'): Uint8Array[] {
  if (cuts === 'bytes') return Array.from(bytes, (b) => Uint8Array.of(b));
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.slice(from, p));
    from = p;
  }
  out.push(bytes.slice(from));
  return out;
}

function compare(v: Verdict, item: CommandMessage | IpcError | undefined): string | undefined {
  if (item === undefined) return `expected ${v.kind}, the decoder gave nothing`;
  if (v.kind === 'message') {
    if (!(item instanceof CommandMessage))
      return `expected a message, got ${item.code}: ${item.message}`;
    return diffMessage(v.msg, item);
  }
  if (!(item instanceof IpcError)) return `expected ${v.kind} (${v.why}), got a message`;
  if (v.kind === 'close') {
    return item.code === 'ERR_FRAMING'
      ? undefined
      : `expected ERR_FRAMING (${v.why}), got ${item.code}: ${item.message}`;
  }
  if (item.code !== 'ERR_INVALID_MESSAGE')
    return `expected ERR_INVALID_MESSAGE (${v.why}), got ${item.code}: ${item.message}`;
  return diffInvalidInfo(v, item.invalid);
}

let framesJudged = 0;
/** Frames judged per verdict kind, to show the cases reach past the framing checks. */
const kinds = { message: 0, invalid: 0, close: 0 };

/** Feeds `cases` as one stream cut into chunks; undefined when every frame got its verdict. */
function runDecoder(cases: FrameCase[], cuts: number[] | 'bytes'): string | undefined {
  const expected: Verdict[] = [];
  for (const c of cases) {
    const v = verdictOf(c, MAX);
    expected.push(v);
    if (v.kind === 'close') break;
  }
  const decoder = new FrameDecoder({ maxPayload: MAX });
  const out: Array<CommandMessage | IpcError> = [];
  for (const chunk of split(concat(cases.map(frameBytes)), cuts)) {
    try {
      out.push(...decoder.push(chunk));
    } catch (e) {
      return `push() threw ${String(e)}`;
    }
  }
  // A failed decoder repeats its error on every later push: only its first report counts.
  const fatal = out.findIndex((i) => i instanceof IpcError && i.code === 'ERR_FRAMING');
  if (fatal >= 0 && out.slice(fatal).some((i) => i !== out[fatal]))
    return 'output after the framing error';
  const items = fatal >= 0 ? out.slice(0, fatal + 1) : out;
  if (items.length !== expected.length) {
    return `expected ${expected.length} item(s) (${expected.map((v) => v.kind).join(',')}), got ${items.length} (${items.map((i) => (i instanceof IpcError ? i.code : 'message')).join(',')})`;
  }
  for (let i = 0; i < expected.length; i++) {
    const problem = compare(expected[i] as Verdict, items[i]);
    framesJudged++;
    kinds[(expected[i] as Verdict).kind]++;
    if (problem !== undefined) return `frame ${i}: ${problem}`;
  }
  // A header that already says "close" must be reported from the header alone, holding nothing.
  if (expected.at(-1)?.kind === 'close' && decoder.bufferedBytes > 5)
    return `failed decoder still holds ${decoder.bufferedBytes} bytes`;
  return undefined;
}

describe('fuzz: frame decoder and message validation (in-process)', () => {
  const before = prototypeSnapshot();

  it('gives every regression case its specified outcome, whole, split in the header and byte by byte', () => {
    const started = performance.now();
    const problems: string[] = [];
    for (const row of REGRESSION_ROWS) {
      const c = rowToCase(row, MAX);
      // Large rows are fed whole and in a few cuts; byte-by-byte only for small ones.
      const splits: Array<number[] | 'bytes'> = [[], [1], [3, 4], [5, 6]];
      if (c.payload.length < 8192) splits.push('bytes');
      for (const cuts of splits) {
        const p = runDecoder([c], cuts);
        if (p !== undefined)
          problems.push(
            `${row.name} (${cuts === 'bytes' ? '1-byte chunks' : `cuts ${cuts.join(',')}`}): ${p}`,
          );
      }
    }
    expect(problems).toEqual([]);
    expect(prototypeSnapshot()).toBe(before);
    recordFigure({
      item: 1,
      name: 'decoder: regression table',
      tried:
        'hand-picked edges (lengths 0/1/max-1/max/max+1/2^31-1/2^31/2^32-1, UTF-8, BOM, nesting 33/10^4/10^6, 60,000 keys, __proto__, duplicates, > 2^53) and shrunk failures, whole and split',
      times: `${REGRESSION_ROWS.length} rows x up to 5 splits`,
      figure: `${problems.length} wrong outcomes in ${Math.round(performance.now() - started)} ms`,
      target: 'every case gets the specified error',
      ok: problems.length === 0,
    });
  });

  it('rejects every type byte 10-255 from the header and decodes 0-9, in the first or a later frame', () => {
    const problems: string[] = [];
    for (let type = 0; type <= 255; type++) {
      const c: FrameCase = {
        payload: new TextEncoder().encode(
          `{"transaction_id":7,"topic":"a.b","message_type":${type}}`,
        ),
        type,
      };
      const lead: FrameCase = { payload: paddedPayload(3, 100, 0), type: 3 };
      for (const seq of [[c], [lead, c]]) {
        const p = runDecoder(seq, type % 2 === 0 ? 'bytes' : [2]);
        if (p !== undefined) problems.push(`type ${type}: ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives random frame sequences, split anywhere, the outcome PROTOCOL.md specifies', async () => {
    const runs = byMode(4000, 40_000);
    const startFrames = framesJudged;
    const startKinds = { ...kinds };
    const arb = fc.tuple(
      fc.array(frameCaseArb, { minLength: 1, maxLength: 4 }),
      fc.oneof(
        { weight: 9, arbitrary: fc.array(fc.nat(), { maxLength: 6 }) },
        { weight: 1, arbitrary: fc.constant('bytes' as const) },
      ),
    );
    const outcome = await fuzz('decoder', arb, ([cases, cuts]) => runDecoder(cases, cuts), {
      numRuns: runs,
      rows: ([cases]) => cases.map((c) => caseRow(c)),
    });
    const frames = framesJudged - startFrames;
    const protoOk = prototypeSnapshot() === before;
    recordFigure({
      item: 1,
      name: 'decoder: random frames',
      tried: `random frame sequences split at random points or into 1-byte chunks (fast-check seed ${outcome.seed})`,
      times: `${outcome.runs} sequences, ${frames} frames (${kinds.message - startKinds.message} valid, ${kinds.invalid - startKinds.invalid} invalid, ${kinds.close - startKinds.close} closing)`,
      figure: `${outcome.failure === undefined ? 0 : 1} failures, 0 throws, Object.prototype ${protoOk ? 'unchanged' : 'CHANGED'}, ${Math.round(outcome.ms)} ms`,
      target: 'every frame gets the specified outcome; no crash; Object.prototype unchanged',
      ok: outcome.failure === undefined && protoOk,
    });
    expect(outcome.failure).toBeUndefined();
    expect(protoOk).toBe(true);
  });

  it('reports an oversized announcement from the 5 header bytes alone, before any payload arrives', () => {
    for (const length of [MAX + 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const decoder = new FrameDecoder({ maxPayload: MAX });
      const header = new Uint8Array(5);
      new DataView(header.buffer).setUint32(0, length, true);
      header[4] = 1;
      expect(decoder.push(header.subarray(0, 4))).toEqual([]);
      const out = decoder.push(header.subarray(4));
      expect(out).toHaveLength(1);
      expect((out[0] as IpcError).code).toBe('ERR_FRAMING');
      expect(decoder.bufferedBytes).toBe(0);
    }
  });
});
