/**
 * The SDK's own cost of a round trip, without sockets: asker IpcClient -> IpcHub -> responder
 * IpcClient (`b.echo`) -> back, all in ONE process over an in-memory transport that hands each
 * tick's units to the other side as one chunk on the next turn of the event loop (as a socket
 * read would). What is left is our code, V8's JSON and the garbage collector: no system calls,
 * no scheduling, no second core.
 *
 *   npm run bench:stack              (5 runs of 1.5 s)
 *   npm run bench:stack -- --quick   (1 run)
 *
 * Baseline, measured in the same run: the JSON work no JSON-over-bytes implementation of this
 * round trip can skip, on the same messages: the request and the response each encoded once
 * (JSON.stringify + TextEncoder) and decoded twice (TextDecoder + JSON.parse: by the hub and by
 * the receiver). Ours/baseline says how much the rest of the stack costs on top of that.
 * This is where the benchmark's CPU per round trip in `bench:tcp` comes from, minus the kernel.
 */
import { BaseModuleHandler, IpcClient, IpcHub, type Transport } from '../src/index.ts';
import { InboundQueue } from '../src/transports/transport.ts';
import { pipelined } from './lib/drivers.ts';
import { benchArgs, machineInfo, median, table, withSpread } from './lib/harness.ts';
import { ECHO_TOPIC, REQUEST_DATA, wireJson } from './lib/role-io.ts';

const { quick, runs } = benchArgs(5);
const WINDOW_MS = quick ? 500 : 1500;
const WARMUP_MS = quick ? 200 : 400;
const INFLIGHT = 64;

/** One end of an in-memory connection. */
class MemoryTransport implements Transport {
  readonly framing = 'frames' as const;
  readonly remoteAddress = 'memory';
  readonly bufferedAmount = 0;
  readonly closed: Promise<undefined>;
  peer!: MemoryTransport;
  isClosed = false;
  private readonly inbound = new InboundQueue<Uint8Array>();
  private tick: Uint8Array[] = [];
  private tickBytes = 0;
  private resolveClosed!: (v: undefined) => void;

  constructor() {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  static pair(): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport();
    const b = new MemoryTransport();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  send(data: Uint8Array | string): void {
    if (this.isClosed) return;
    const unit = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (this.tick.length === 0) process.nextTick(this.flush);
    this.tick.push(unit);
    this.tickBytes += unit.length;
  }

  /** The tick's units as one chunk, delivered on the next turn of the loop (like a read). */
  private readonly flush = (): void => {
    const chunk = new Uint8Array(this.tickBytes);
    let at = 0;
    for (const unit of this.tick) {
      chunk.set(unit, at);
      at += unit.length;
    }
    this.tick = [];
    this.tickBytes = 0;
    const peer = this.peer;
    setImmediate(() => peer.inbound.push(chunk));
  };

  end(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbound.finish();
    this.resolveClosed(undefined);
    this.peer.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.inbound;
  }
}

/** CPU microseconds of this process per operation while `fn` runs. */
async function cpuPer<T extends Record<string, number>>(
  fn: () => Promise<T>,
): Promise<{ res: T; cpuUs: number }> {
  const c0 = process.cpuUsage();
  const res = await fn();
  const c = process.cpuUsage(c0);
  return { res, cpuUs: (c.user + c.system) / (res.all as number) };
}

/**
 * The JSON a round trip cannot skip, for `ms`: 2 encodes (JSON.stringify, then UTF-8 into a
 * reused buffer) and 4 decodes (UTF-8 to text, JSON.parse) of the same messages.
 */
function jsonBaseline(ms: number): Record<string, number> {
  const request: unknown = JSON.parse(wireJson(184467, ECHO_TOPIC, 1, REQUEST_DATA));
  const response: unknown = JSON.parse(wireJson(184467, ECHO_TOPIC, 2, REQUEST_DATA, true));
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  const scratch = new Uint8Array(4096);
  const encode = (value: unknown): Uint8Array =>
    scratch.subarray(0, enc.encodeInto(JSON.stringify(value), scratch).written);
  const decode = (bytes: Uint8Array): number =>
    (JSON.parse(dec.decode(bytes)) as { transaction_id: number }).transaction_id;
  let all = 0;
  let sink = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      const req = encode(request);
      sink += decode(req) + decode(req);
      const res = encode(response);
      sink += decode(res) + decode(res);
    }
    all += 100;
  }
  if (sink === -1) console.log(sink);
  return { all };
}

async function main(): Promise<void> {
  const hub = new IpcHub();
  const connector = () => (): Promise<Transport> => {
    const [moduleSide, hubSide] = MemoryTransport.pair();
    hub.accept(hubSide);
    return Promise.resolve(moduleSide);
  };
  const options = { reconnect: false as const, retryFirstConnect: false };
  const responder = await IpcClient.connect(
    connector(),
    new BaseModuleHandler('b').route(ECHO_TOPIC, ({ message }) =>
      message.intoResponse(message.data),
    ),
    options,
  );
  const asker = await IpcClient.connect(connector(), new BaseModuleHandler('a'), options);
  const echo = (): Promise<unknown> => asker.request(ECHO_TOPIC, REQUEST_DATA);

  const rates: number[] = [];
  const ours: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const stack = await cpuPer(() => pipelined(echo, INFLIGHT, WARMUP_MS, WINDOW_MS));
      const json = await cpuPer(async () => jsonBaseline(WINDOW_MS));
      rates.push(stack.res.rate as number);
      ours.push(stack.cpuUs);
      base.push(json.cpuUs);
      ratios.push(stack.cpuUs / json.cpuUs);
    }
  } finally {
    await asker.close();
    await responder.close();
    await hub.close();
  }
  const fmt = (x: number): string => x.toFixed(2);
  console.log(`\n### The stack in one process, no sockets, ${runs} run(s)\n`);
  console.log(`${machineInfo()}\n`);
  console.log(
    table(
      ['workload', 'ours: median (range)', 'JSON baseline: median (range)', 'ours/baseline'],
      [
        [
          'CPU per round trip (us)',
          withSpread(ours, fmt),
          withSpread(base, fmt),
          `${fmt(median(ratios))}x`,
        ],
        [
          'round trips/s, 64 in flight, one thread',
          withSpread(rates, (x) => Math.round(x).toLocaleString('en-US')),
          '-',
          '-',
        ],
      ],
    ),
  );
}

await main();
