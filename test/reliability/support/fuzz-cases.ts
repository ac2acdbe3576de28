/**
 * Fuzz inputs: fast-check arbitraries that build CommandMessage payloads member by member (so
 * most cases get past the framing checks and reach the member rules), with text-level damage on
 * top (duplicate keys, `__proto__`, numbers JSON.parse rounds, a BOM, invalid UTF-8, truncation),
 * plus the helpers that turn a case into frame bytes and into a row of the regression table.
 */
import fc from 'fast-check';
import { MESSAGE_TYPES } from './fuzz-oracle.ts';

/** One frame to send: its payload bytes, its header type byte, and the header length when it lies. */
export interface FrameCase {
  name?: string;
  payload: Uint8Array;
  type: number;
  /** Header length; default: the payload's length. */
  length?: number;
}

/** A JSON value as the fuzzer writes it: raw number text and objects with duplicate keys allowed. */
export type Jv = null | boolean | number | string | Raw | Jv[] | Obj;
export class Raw {
  constructor(readonly text: string) {}
}
export class Obj {
  constructor(readonly entries: Array<[string, Jv]>) {}
}

/** Writes a {@link Jv} as JSON text (duplicate keys and raw number text kept as they are). */
export function write(v: Jv): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj)
    return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${write(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
  return JSON.stringify(v);
}

const utf8 = new TextEncoder();

/** The frame bytes of a case. */
export function frameBytes(c: FrameCase): Uint8Array {
  const out = new Uint8Array(5 + c.payload.length);
  new DataView(out.buffer).setUint32(0, c.length ?? c.payload.length, true);
  out[4] = c.type;
  out.set(c.payload, 5);
  return out;
}

/** A case as one row of `test/reliability/regressions/fuzz-cases.ts`, ready to paste. */
export function caseRow(c: FrameCase, name = c.name ?? 'shrunk counterexample'): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(c.payload);
  const exact = utf8.encode(text);
  const same = exact.length === c.payload.length && exact.every((b, i) => b === c.payload[i]);
  const body = same
    ? `text: ${JSON.stringify(text)}`
    : `hex: '${Buffer.from(c.payload).toString('hex')}'`;
  const length = c.length === undefined ? '' : `, length: ${c.length}`;
  return `{ name: ${JSON.stringify(name)}, ${body}, type: ${c.type}${length} },`;
}

// ------------------------------------------------------------------------------------------
// Member values

/** Keys that exercise prototype handling. */
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
];

const rawNumbers = fc.constantFrom(
  new Raw('9007199254740993'),
  new Raw('18446744073709551616'),
  new Raw('1e400'),
  new Raw('-0'),
  new Raw('1.0'),
  new Raw('1e0'),
  new Raw('4294967295.0'),
  new Raw('4.294967296e9'),
  new Raw('0.1e1'),
  new Raw('-1e-400'),
);

const oddValue: fc.Arbitrary<Jv> = fc.oneof(
  fc.constantFrom<Jv>(null, true, false, '', '1', -1, 1.5, 2 ** 32, 2 ** 53, -(2 ** 31), []),
  rawNumbers,
  fc.string({ maxLength: 8 }),
  fc.constant(new Obj([])),
);

export const segmentArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'x1', 'press1', 'secret', 'system', 'probe') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '*',
      '>',
      '{a}',
      '{b}',
      '{rest}',
      '{}',
      '{1x}',
      'a*',
      'x{y}',
      '{a',
      '}',
      '**',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'ä', '\u0000', '\ud800') },
);

/** Topics and patterns: wildcards, empty segments, captures, hostile words. */
export const topicArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'system.ping',
      'system.get_domains',
      'system.get_catalog',
      'system.nope',
      'probe.echo',
      'secret.value',
      '',
      '.',
      'a..b',
      'a.',
      '.a',
      '>',
      '*',
      'a.>',
      'a.>.b',
      'secret.>',
      '*.value',
      '{x}.y',
      '__proto__',
      'x'.repeat(300),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.array(segmentArb, { minLength: 1, maxLength: 4 }).map((s) => s.join('.')),
  },
);

const txidArb: fc.Arbitrary<Jv> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }) },
  { weight: 1, arbitrary: fc.constantFrom<Jv>(0, 0xffff_ffff, 2 ** 32, -1, 1.5, '7', null) },
  { weight: 1, arbitrary: rawNumbers },
);

const typeValue = (t: number): fc.Arbitrary<Jv> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant<Jv>(t) },
    { weight: 2, arbitrary: fc.constant<Jv>(MESSAGE_TYPES[t] as string) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Jv>(
        (MESSAGE_TYPES[t] as string).toLowerCase(),
        String(t),
        t + 0.5,
        10,
        255,
        -1,
        '__proto__',
        'constructor',
        'toString',
        new Raw(`${t}.0`),
        new Raw(`${t}e0`),
        null,
      ),
    },
  );

const controlValue: fc.Arbitrary<Jv> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 6 }) },
  { weight: 2, arbitrary: fc.constantFrom<Jv>('Register', 'Finalize', 'Status', 'Initialize') },
  { weight: 1, arbitrary: fc.constantFrom<Jv>(7, 255, -1, 'register', '3', null, 2.5) },
);

/** Nesting `n` levels deep (arrays or objects). */
export function nested(n: number, objects = false): Raw {
  return new Raw(
    objects ? `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` : `${'['.repeat(n)}${']'.repeat(n)}`,
  );
}

const dataArb: fc.Arbitrary<Jv> = fc.letrec<{ v: Jv }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Jv>(null, true, 0, -1.5, 'x', ''),
    rawNumbers,
    fc.string({ maxLength: 10 }),
    fc.array(tie('v'), { maxLength: 3 }),
    fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(...HOSTILE_KEYS, 'name', 'message_type'),
            fc.string({ maxLength: 4 }),
          ),
          tie('v'),
        ),
        { maxLength: 3 },
      )
      .map((e) => new Obj(e)),
    // Around the depth limit: data sits at depth 2, so n arrays reach depth n + 1.
    fc.integer({ min: 30, max: 70 }).chain((n) => fc.boolean().map((o) => nested(n, o))),
  ),
})).v;

const registrationData: fc.Arbitrary<Jv> = fc
  .record({
    name: fc.oneof(
      fc.constantFrom<Jv>('fzreg', 'fz_1', 'system', 'other', '', 'a.b', 'x'.repeat(65), 7, null),
      fc.stringMatching(/^fz[A-Za-z0-9_-]{0,6}$/),
    ),
    version: fc.oneof(fc.constant<Jv>('1.0.0'), oddValue),
    capabilities: fc.oneof(fc.constant<Jv>([]), fc.constant<Jv>(['fz.x']), oddValue),
  })
  .map((r) => new Obj(Object.entries(r) as Array<[string, Jv]>));

/** A message whose members are mostly right, sometimes wrong, missing, repeated or hostile. */
export const envelopeArb: fc.Arbitrary<{ obj: Obj; type: number }> = fc
  .integer({ min: 0, max: 9 })
  .chain((t) =>
    fc
      .record({
        transaction_id: fc.option(txidArb, { freq: 12, nil: undefined }),
        timecode: fc.option(
          fc.oneof(
            { weight: 8, arbitrary: fc.constant<Jv>(1_700_000_000_000) },
            { weight: 1, arbitrary: oddValue },
          ),
          { freq: 8, nil: undefined },
        ),
        topic: fc.option(
          fc.oneof({ weight: 9, arbitrary: topicArb }, { weight: 1, arbitrary: oddValue }),
          { freq: 20, nil: undefined },
        ),
        message_type: fc.option(typeValue(t), { freq: 30, nil: undefined }),
        data: fc.option(t === 4 ? fc.oneof(registrationData, dataArb) : dataArb, {
          freq: 8,
          nil: undefined,
        }),
        crc: fc.option(
          fc.oneof(
            { weight: 8, arbitrary: fc.constant<Jv>(0) },
            { weight: 1, arbitrary: oddValue },
          ),
          { freq: 6, nil: undefined },
        ),
        success: fc.option(
          fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: oddValue }),
          { freq: 6, nil: undefined },
        ),
        error_message: fc.option(
          fc.oneof(
            { weight: 8, arbitrary: fc.constant<Jv>('') },
            { weight: 1, arbitrary: oddValue },
          ),
          { freq: 6, nil: undefined },
        ),
        control_type:
          t === 4 ? fc.option(controlValue, { freq: 10, nil: undefined }) : fc.constant(undefined),
        extra: fc.array(
          fc.tuple(
            fc.constantFrom(...HOSTILE_KEYS, 'message_type', 'transaction_id', 'topic', 'zz'),
            fc.oneof(oddValue, typeValue(t), txidArb),
          ),
          { maxLength: 2 },
        ),
        shuffle: fc.boolean(),
      })
      .map((r) => {
        const entries: Array<[string, Jv]> = [];
        for (const key of [
          'transaction_id',
          'timecode',
          'topic',
          'message_type',
          'data',
          'crc',
          'success',
          'error_message',
          'control_type',
        ] as const) {
          const v = r[key];
          if (v !== undefined) entries.push([key, v]);
        }
        // Extra members, hostile keys and duplicates of known ones (JSON.parse keeps the last).
        entries.push(...r.extra);
        if (r.shuffle) entries.reverse();
        return { obj: new Obj(entries), type: t };
      }),
  );

const INVALID_UTF8 = [
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xf0, 0x9f, 0x98],
];

/** Damage applied to the payload bytes: none mostly. */
const damageArb = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bom' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('utf8' as const),
      at: fc.nat(),
      bytes: fc.constantFrom(...INVALID_UTF8),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'space' as const }) },
);

type Damage =
  | { kind: 'none' | 'bom' | 'space' }
  | { kind: 'utf8'; at: number; bytes: number[] }
  | { kind: 'cut'; at: number };

function damage(bytes: Uint8Array, d: Damage): Uint8Array {
  switch (d.kind) {
    case 'none':
      return bytes;
    case 'bom':
      return Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]);
    case 'space':
      return Uint8Array.from([0x20, 0x0a, ...bytes, 0x09, 0x0d]);
    case 'utf8': {
      const at = bytes.length === 0 ? 0 : d.at % bytes.length;
      return Uint8Array.from([...bytes.subarray(0, at), ...d.bytes, ...bytes.subarray(at)]);
    }
    case 'cut':
      return bytes.subarray(0, bytes.length === 0 ? 0 : d.at % bytes.length);
  }
}

/** Whole payloads that are not envelopes at all. */
const otherPayloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 40 }),
  fc
    .constantFrom('[]', 'null', '1', '"x"', '{}', '{"message_type":1}', 'true', ' ', '{')
    .map((s) => utf8.encode(s)),
  fc.json({ maxDepth: 2 }).map((s) => utf8.encode(s)),
);

/** Payload bytes plus the header type the sender claims for them. */
export const frameCaseArb: fc.Arbitrary<FrameCase> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(
        envelopeArb,
        damageArb,
        fc.oneof(
          { weight: 19, arbitrary: fc.constant(-1) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
        ),
      )
      .map(([e, d, header]) => ({
        payload: damage(utf8.encode(write(e.obj)), d),
        type: header < 0 ? e.type : header,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(otherPayloadArb, fc.integer({ min: 0, max: 12 }))
      .map(([payload, type]) => ({ payload, type })),
  },
);

/** The text form (WebSocket text message) of an envelope. */
export const textCaseArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(envelopeArb, fc.constantFrom('', '\ufeff', ' '))
      .map(([e, pre]) => pre + write(e.obj)),
  },
  { weight: 1, arbitrary: fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 20 })) },
);

/** A message of `type` with every member valid, padded with `data` so its payload is exactly `size` bytes. */
export function paddedPayload(type: number, size: number, txid = 1): Uint8Array {
  const head = `{"transaction_id":${txid},"timecode":0,"topic":"probe.pad","message_type":${type},"data":"`;
  const tail = `"${type === 4 ? ',"control_type":0' : ''}}`;
  const fill = size - head.length - tail.length;
  if (fill < 0) throw new Error(`paddedPayload: ${size} bytes is too small`);
  return utf8.encode(`${head}${'x'.repeat(fill)}${tail}`);
}

/** A row of the regression table as a frame case, for a receiver whose payload limit is `maxPayload`. */
export function rowToCase(
  row: {
    name: string;
    text?: string;
    hex?: string;
    build?: () => string;
    type: number;
    length?: number;
    size?: number;
  },
  maxPayload: number,
): FrameCase {
  let payload: Uint8Array;
  if (row.size !== undefined) payload = paddedPayload(row.type, maxPayload + row.size, 41);
  else if (row.hex !== undefined) payload = Uint8Array.from(Buffer.from(row.hex, 'hex'));
  else payload = utf8.encode(row.build ? row.build() : (row.text ?? ''));
  return {
    name: row.name,
    payload,
    type: row.type,
    ...(row.length === undefined ? {} : { length: row.length }),
  };
}
