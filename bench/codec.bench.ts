/**
 * Wire codec throughput: encode + decode of three realistic messages, against the FLOOR of what
 * any JSON-over-bytes codec must do on the same objects:
 *
 *   floor: JSON.stringify(wire) -> TextEncoder.encode -> TextDecoder.decode -> JSON.parse
 *   ours:  encodeFrame(msg) -> FrameDecoder.push(frame) -> CommandMessage (validated)
 *
 *   node --import tsx bench/codec.bench.ts      (npm run bench:codec)
 *
 * `wire` is `msg.toJSON()`, computed once. Each case is warmed up, then measured in ROUNDS
 * time-boxed rounds with floor and ours interleaved (so drift hits both alike); the table shows
 * medians. Target: ours/floor >= 0.85. A last row feeds a 256 KiB frame one byte at a time and
 * reports the time and the most bytes the decoder held, to show memory stays ~ payload size.
 */
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { encodeFrame } from '../src/core/frame.ts';
import { FrameDecoder } from '../src/core/frame-decoder.ts';
import { CommandMessage, MessageType } from '../src/core/message.ts';
import { prng } from './lib/prng.ts';
import { writeSummary } from './lib/summary.ts';

// --smoke (CI, through `npm run bench -- --smoke`): tiny rounds, only to check that it runs.
const SMOKE = process.argv.includes('--smoke');
const QUICK = SMOKE || process.argv.includes('--quick');
const ROUNDS = SMOKE ? 3 : QUICK ? 5 : 9;
const ROUND_MS = SMOKE ? 10 : 100;
const WARMUP_MS = SMOKE ? 30 : QUICK ? 200 : 400;
const TARGET_RATIO = 0.85;

// ------------------------------------------------------------------------------------------
// The three messages
// ------------------------------------------------------------------------------------------

function smallRequest(): CommandMessage {
  return new CommandMessage({
    transactionId: 184467,
    timecode: 1732530000123,
    topic: 'press1.axis.3.move_absolute',
    messageType: MessageType.Request,
    data: { position: 125.75, velocity: 50, acceleration: 500, unit: 'mm', relative: false },
  });
}

/** A TwinCAT-like `stData` struct: ~100 mixed fields, a few nested structs and small arrays. */
function plcStruct(): CommandMessage {
  const rnd = prng(7);
  const num = (scale: number): number => Math.round(rnd() * scale * 1000) / 1000;
  const states = ['IDLE', 'RUNNING', 'HOMING', 'ERROR', 'STOPPED', 'JOG'];
  const data: Record<string, unknown> = {};
  for (let i = 0; i < 24; i++) data[`fAnalog${i}`] = num(1000);
  for (let i = 0; i < 20; i++) data[`bDigital${i}`] = rnd() < 0.5;
  for (let i = 0; i < 16; i++) data[`nCounter${i}`] = Math.floor(rnd() * 1_000_000);
  for (let i = 0; i < 10; i++) data[`sState${i}`] = states[Math.floor(rnd() * states.length)];
  for (let a = 0; a < 6; a++) {
    data[`stAxis${a}`] = {
      fActPos: num(500),
      fActVel: num(100),
      fSetPos: num(500),
      bBusy: rnd() < 0.5,
      bError: false,
      nErrorId: 0,
      sMode: 'ABS',
    };
  }
  for (let i = 0; i < 8; i++) data[`aTemp${i}`] = [num(90), num(90), num(90), num(90)];
  data.sRecipe = 'Bracket-42B rev.3';
  data.sOperator = 'shift-b';
  data.nCycle = 918273;
  data.fCycleTime = 2.375;
  while (JSON.stringify(data).length < 3800) data[`fPad${Object.keys(data).length}`] = num(10);
  return new CommandMessage({
    transactionId: 0,
    timecode: 1732530000456,
    topic: 'ads.plc1.GM.stData',
    messageType: MessageType.Broadcast,
    data,
    success: true,
  });
}

/** system.get_catalog answer: an array of topic strings, ~256 KiB of JSON. */
function catalog(): CommandMessage {
  const verbs = ['start', 'stop', 'reset', 'status', 'set_speed', 'get_position', 'home', 'jog'];
  const topics: string[] = [];
  let size = 0;
  for (let i = 0; size < 256 * 1024 - 200; i++) {
    const t = `module${i >> 6}.axis${(i >> 3) & 7}.${verbs[i & 7]}`;
    topics.push(t);
    size += t.length + 3;
  }
  return new CommandMessage({
    transactionId: 99,
    timecode: 1732530000789,
    topic: 'system.get_catalog',
    messageType: MessageType.Response,
    data: topics,
    success: true,
  });
}

// ------------------------------------------------------------------------------------------
// Measurement
// ------------------------------------------------------------------------------------------

/** A unit of work; returns a number so the JIT cannot drop it. */
type Op = () => number;

let sink = 0;

/** Runs `op` `iterations` times, returns messages per second. */
function timeOps(op: Op, iterations: number): number {
  const t0 = performance.now();
  let acc = 0;
  for (let i = 0; i < iterations; i++) acc += op();
  const ms = performance.now() - t0;
  sink += acc;
  return (iterations * 1000) / ms;
}

/** How many iterations of `op` fit in `ms` (after running it for that long). */
function calibrate(op: Op, ms: number): number {
  let n = 1;
  let total = 0;
  let count = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < n; i++) total += op();
    count += n;
    n = Math.min(n * 2, 1 << 16);
  }
  sink += total;
  const perMs = count / (performance.now() - t0);
  return Math.max(1, Math.round(perMs * ROUND_MS));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median rates (msgs/s) of `floor` and `ours`, and the median of their per-round ratios. */
interface Pair {
  floor: number;
  ours: number;
  ratio: number;
  /** Per-round rates, for the summary of `npm run bench`. */
  floors: number[];
  ourses: number[];
}

/**
 * Measures two ops in paired, interleaved rounds. The ratio is the median of the per-round
 * ratios: a burst of load from another process hits both halves of a pair alike, so the ratio
 * stays meaningful on a busy machine even when the absolute rates move.
 */
function compare(floorOp: Op, oursOp: Op): Pair {
  const floorN = calibrate(floorOp, WARMUP_MS);
  const oursN = calibrate(oursOp, WARMUP_MS);
  const floors: number[] = [];
  const ourses: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so neither op always runs right after the other's garbage.
    let f: number;
    let o: number;
    if (r % 2 === 0) {
      f = timeOps(floorOp, floorN);
      o = timeOps(oursOp, oursN);
    } else {
      o = timeOps(oursOp, oursN);
      f = timeOps(floorOp, floorN);
    }
    floors.push(f);
    ourses.push(o);
    ratios.push(o / f);
  }
  return { floor: median(floors), ours: median(ourses), ratio: median(ratios), floors, ourses };
}

// ------------------------------------------------------------------------------------------
// Cases
// ------------------------------------------------------------------------------------------

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

interface Row {
  name: string;
  payloadBytes: number;
  roundTrip: Pair;
  encode: Pair;
  decode: Pair;
}

function measure(name: string, msg: CommandMessage): Row {
  const wire = msg.toJSON();
  const decoder = new FrameDecoder();
  const frame = encodeFrame(msg);
  const payloadBytes = frame.length - 5;
  const floorBytes = textEncoder.encode(JSON.stringify(wire));

  // Sanity: both paths give back the same value.
  const back = decoder.push(frame)[0];
  if (!(back instanceof CommandMessage)) throw new Error(`${name}: decode failed: ${String(back)}`);
  if (JSON.stringify(back) !== JSON.stringify(wire)) throw new Error(`${name}: round trip differs`);
  if (floorBytes.length !== payloadBytes) throw new Error(`${name}: floor encodes other bytes`);

  const floorRoundTrip: Op = () => {
    const bytes = textEncoder.encode(JSON.stringify(wire));
    const value = JSON.parse(textDecoder.decode(bytes)) as { transaction_id: number };
    return value.transaction_id + bytes.length;
  };
  const oursRoundTrip: Op = () => {
    const f = encodeFrame(msg);
    const out = decoder.push(f);
    return (out[0] as CommandMessage).transactionId + f.length;
  };
  const floorEncode: Op = () => textEncoder.encode(JSON.stringify(wire)).length;
  const oursEncode: Op = () => encodeFrame(msg).length;
  const floorDecode: Op = () =>
    (JSON.parse(textDecoder.decode(floorBytes)) as { transaction_id: number }).transaction_id;
  const oursDecode: Op = () => (decoder.push(frame)[0] as CommandMessage).transactionId;

  return {
    name,
    payloadBytes,
    roundTrip: compare(floorRoundTrip, oursRoundTrip),
    encode: compare(floorEncode, oursEncode),
    decode: compare(floorDecode, oursDecode),
  };
}

/** Feeds a 256 KiB frame one byte at a time; returns median ms and the most bytes held. */
function measureBytewise(): { frameBytes: number; ms: number; maxBuffered: number } {
  const msg = new CommandMessage({
    transactionId: 1,
    timecode: 0,
    topic: 'big.blob',
    messageType: MessageType.Broadcast,
    data: 'b'.repeat(256 * 1024 - 120),
  });
  const frame = encodeFrame(msg);
  const times: number[] = [];
  let maxBuffered = 0;
  for (let r = 0; r < 5; r++) {
    const decoder = new FrameDecoder();
    let decoded = 0;
    const t0 = performance.now();
    for (let i = 0; i < frame.length; i++) {
      decoded += decoder.push(frame.subarray(i, i + 1)).length;
      const held = decoder.bufferedBytes;
      if (held > maxBuffered) maxBuffered = held;
    }
    times.push(performance.now() - t0);
    if (decoded !== 1) throw new Error('bytewise decode did not yield one message');
  }
  return { frameBytes: frame.length, ms: median(times.slice(1)), maxBuffered };
}

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMB = (rate: number, bytes: number): string => ((rate * bytes) / 1e6).toFixed(1);
const fmtSize = (bytes: number): string =>
  bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;

function main(): void {
  const started = performance.now();
  const cpu = cpus();
  console.log('# autocore-ipc codec benchmark\n');
  console.log(
    `- CPU: ${cpu[0]?.model ?? 'unknown'} (${cpu.length} logical cores), ${platform()} ${release()} ${arch()}`,
  );
  console.log(`- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}`);
  console.log(
    `- Load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (numbers are only comparable on an idle machine)`,
  );
  console.log(
    `- ${ROUNDS} paired rounds of ~${ROUND_MS} ms per op after ${WARMUP_MS} ms warm-up. ` +
      'Rates are medians; ratio = median of per-round ours/floor. MB/s counts JSON payload bytes (10^6).\n',
  );

  const rows = [
    measure('small request', smallRequest()),
    measure('PLC struct', plcStruct()),
    measure('catalog', catalog()),
  ];

  const mark = (ratio: number): string =>
    `${ratio.toFixed(2)}${ratio >= TARGET_RATIO ? '' : ` (< ${TARGET_RATIO})`}`;

  console.log('## Encode + decode round trip (floor = stringify/encode/decode/parse)\n');
  console.log(
    '| message | payload | floor msgs/s | floor MB/s | ours msgs/s | ours MB/s | ratio |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const { name, payloadBytes, roundTrip: p } of rows) {
    console.log(
      `| ${name} | ${fmtSize(payloadBytes)} | ${fmtInt(p.floor)} | ${fmtMB(p.floor, payloadBytes)} | ` +
        `${fmtInt(p.ours)} | ${fmtMB(p.ours, payloadBytes)} | ${mark(p.ratio)} |`,
    );
  }

  console.log('\n## Split: encode alone and decode alone (msgs/s)\n');
  console.log(
    '| message | floor encode | ours encode | ratio | floor decode | ours decode (validated) | ratio |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const { name, encode: e, decode: d } of rows) {
    console.log(
      `| ${name} | ${fmtInt(e.floor)} | ${fmtInt(e.ours)} | ${e.ratio.toFixed(2)} | ` +
        `${fmtInt(d.floor)} | ${fmtInt(d.ours)} | ${d.ratio.toFixed(2)} |`,
    );
  }

  writeSummary(
    rows.map(({ name, payloadBytes, roundTrip: p }) => ({
      bench: 'codec',
      workload: `encode + decode, ${name} (${fmtSize(payloadBytes)})`,
      unit: 'msgs/s',
      higherIsBetter: true,
      ours: p.ourses,
      floor: p.floors,
      baselineName: 'JSON.stringify + parse',
      target: `>= ${TARGET_RATIO}x floor`,
      met: p.ratio >= TARGET_RATIO,
    })),
  );

  const b = measureBytewise();
  console.log('\n## 256 KiB frame fed in 1-byte chunks\n');
  console.log('| frame | chunks | time (median) | max bytes held (bufferedBytes) | held / frame |');
  console.log('|---:|---:|---:|---:|---:|');
  console.log(
    `| ${fmtInt(b.frameBytes)} B | ${fmtInt(b.frameBytes)} | ${b.ms.toFixed(1)} ms | ` +
      `${fmtInt(b.maxBuffered)} B | ${(b.maxBuffered / b.frameBytes).toFixed(4)} |`,
  );

  console.log(
    `\n_total ${((performance.now() - started) / 1000).toFixed(1)} s (checksum ${sink % 1000})_`,
  );
}

main();
