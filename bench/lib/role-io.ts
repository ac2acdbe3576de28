/**
 * The child side of bench/lib/harness.ts: JSON lines out on stdout, commands in on stdin, and
 * the payloads every role sends, so the SDK roles and the floor carry the same bytes.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { memoryUsage } from 'node:process';

/** Prints one JSON line for the orchestrator. */
export function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

let session: Session | undefined;

/**
 * `prof-start` / `prof-stop {file}`: a CPU profile of just the measured window (node's own
 * `--cpu-prof` would mostly show tsx compiling at start-up). Open the file in Chrome DevTools.
 */
async function profile(cmd: Record<string, unknown>): Promise<boolean> {
  if (cmd.cmd === 'prof-start') {
    session ??= new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    emit({ profiling: true });
    return true;
  }
  if (cmd.cmd === 'prof-stop' && session !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(String(cmd.file), JSON.stringify(profile));
    session.disconnect();
    emit({ profiled: String(cmd.file) });
    return true;
  }
  return false;
}

/**
 * Calls `handler` for each JSON command line on stdin (after the profiler commands, which every
 * role understands); exits when stdin closes.
 */
export function onCommands(handler: (cmd: Record<string, unknown>) => Promise<void> | void): void {
  let partial = '';
  let chain: Promise<void> = Promise.resolve();
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (line === '') continue;
      const cmd = JSON.parse(line) as Record<string, unknown>;
      // Commands run one after the other, in order.
      chain = chain
        .then(async () => {
          if (!(await profile(cmd))) await handler(cmd);
        })
        .catch((e: unknown) => emit({ error: e instanceof Error ? e.stack ?? e.message : String(e) }));
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

/** RSS and heap of this process, after a full GC when `--expose-gc` is on. */
export function memory(): { rss: number; heapUsed: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

/**
 * `data` of the benchmark request: a move command with a few fields, so the whole JSON payload
 * (envelope included) is about 200 bytes.
 */
export const REQUEST_DATA = {
  axis: 3,
  position: 125.75,
  velocity: 50,
  acceleration: 500,
  unit: 'mm',
  relative: false,
};

/** `data` of the benchmark broadcast: an axis status, about 200 bytes of JSON with the envelope. */
export const BROADCAST_DATA = {
  axis: 3,
  actPos: 125.748,
  actVel: 49.97,
  busy: true,
  error: false,
  errorId: 0,
  mode: 'ABS',
};

/** Topic served by the benchmark responder. */
export const ECHO_TOPIC = 'b.echo';
/** Topic the benchmark publisher broadcasts on (subscribers subscribe to `bench.>`). */
export const BROADCAST_TOPIC = 'bench.axis3.status';

/** The wire JSON of one message as the SDK's encoder writes it (the floor sends these bytes). */
export function wireJson(
  transactionId: number,
  topic: string,
  messageType: number,
  data: unknown,
  success = false,
): string {
  return JSON.stringify({
    transaction_id: transactionId,
    timecode: Date.now(),
    topic,
    message_type: messageType,
    data,
    crc: 0,
    success,
    error_message: '',
  });
}

/** A frame (5-byte header + UTF-8 of `json`), in one allocation from Node's buffer pool. */
export function frameOf(json: string, type: number): Buffer {
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(5 + length);
  frame.writeUInt32LE(length, 0);
  frame[4] = type;
  frame.write(json, 5);
  return frame;
}
