/**
 * The floor of the TCP benchmarks: the same topologies as the SDK's (asker -> hub -> responder,
 * publisher -> hub -> subscribers) built from bare `node:net` processes that split frames by
 * their header and relay them without parsing JSON. Each role runs in its own process:
 *   node --import tsx bench/roles/floor.ts hub|responder|asker|publisher|subscriber <port> [n]
 * The hub prints its port as a JSON line; the first byte a peer sends says what it is:
 * 'R' responder, 'A' asker, 'P' publisher, 'S' subscriber. Frames from the asker go to the
 * responder and back; frames from the publisher go to every subscriber, and what subscribers
 * send goes to the publisher (their answers to its sync frames). The asker, publisher and
 * subscribers take the same commands as bench/roles/sdk.ts and send the same bytes.
 *
 * `json` after the hub, responder or asker arguments runs the request/reply topology as a plain
 * JSON implementation instead (the "JSON-only" baseline): the asker builds every request with
 * JSON.stringify (its own transaction id) and parses every answer, matching it by id; the
 * responder parses every request and answers with JSON.stringify; the hub parses every frame
 * before relaying it (a hub must refuse a bad frame itself, or the module it would have reached
 * closes the connection instead of the sender). Nothing else: no message objects, no promises,
 * no deadlines, no heartbeats, no id rewriting (there is one asker).
 */
import net from 'node:net';
import {
  BROADCAST_DATA,
  BROADCAST_TOPIC,
  ECHO_TOPIC,
  REQUEST_DATA,
  emit,
  frameOf,
  onCommands,
  wireJson,
} from '../lib/role-io.ts';
import { num, sequential } from '../lib/drivers.ts';

const role = process.argv[2];
const HEADER = 5;
/** The JSON-only baseline (see the header comment). */
const JSON_ONLY = process.argv.includes('json');
/**
 * Once per tick, the first this many bytes a request/reply socket is sent leave at once, as the
 * SDK's TCP transport does (its EARLY_FLUSH_BYTES): with 64 requests in flight this lets the next
 * process start while this one goes on, which makes this topology 1.3-1.7x faster than one
 * write per tick on a 2-core machine. Fan-out sockets write once per tick, which is faster there.
 */
const EARLY_SEND_BYTES = 4 * 1024;

/** Calls `onFrame` for every whole frame in the stream; no JSON is parsed. */
function frameSplitter(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer | null = null;
  return (chunk) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let at = 0;
    while (buf.length - at >= HEADER) {
      const len = buf.readUInt32LE(at);
      if (buf.length - at < HEADER + len) break;
      onFrame(buf.subarray(at, at + HEADER + len));
      at += HEADER + len;
    }
    if (at < buf.length) pending = Buffer.from(buf.subarray(at));
    buf = Buffer.alloc(0);
  };
}

/**
 * Writes the frames sent in one tick with one syscall; with `earlyBytes`, the first that many
 * bytes of a tick leave at once and the rest at its end (see EARLY_SEND_BYTES).
 */
function batcher(socket: net.Socket, earlyBytes = 0): (frame: Buffer) => void {
  let corked = false;
  let tickBytes = 0;
  let split = false;
  const endTick = (): void => {
    corked = false;
    tickBytes = 0;
    split = false;
    socket.uncork();
  };
  return (frame) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(endTick);
    }
    socket.write(frame);
    tickBytes += frame.length;
    if (earlyBytes > 0 && !split && tickBytes >= earlyBytes) {
      split = true;
      socket.uncork();
      socket.cork();
    }
  };
}

/** The JSON of a frame's payload, parsed (throws on anything but valid JSON). */
function parsePayload(frame: Buffer): { transaction_id: number; topic: string; data: unknown } {
  return JSON.parse(frame.toString('utf8', HEADER)) as {
    transaction_id: number;
    topic: string;
    data: unknown;
  };
}

if (role === 'hub') {
  let responder: ((f: Buffer) => void) | null = null;
  let asker: ((f: Buffer) => void) | null = null;
  let publisher: ((f: Buffer) => void) | null = null;
  const subscribers: Array<(f: Buffer) => void> = [];
  const server = net.createServer({ noDelay: true }, (socket) => {
    let send: (f: Buffer) => void = () => {};
    let kind = '';
    const split = frameSplitter((frame) => {
      if (JSON_ONLY) {
        try {
          parsePayload(frame);
        } catch {
          socket.destroy();
          return;
        }
      }
      if (kind === 'A') responder?.(frame);
      else if (kind === 'R') asker?.(frame);
      else if (kind === 'P') for (const s of subscribers) s(frame);
      else if (kind === 'S') publisher?.(frame);
    });
    socket.on('data', (chunk) => {
      if (kind === '') {
        kind = String.fromCharCode(chunk[0]!);
        send = batcher(socket, kind === 'A' || kind === 'R' ? EARLY_SEND_BYTES : 0);
        if (kind === 'R') responder = send;
        else if (kind === 'A') asker = send;
        else if (kind === 'S') subscribers.push(send);
        else if (kind === 'P') publisher = send;
        chunk = chunk.subarray(1);
        if (chunk.length === 0) return;
      }
      split(chunk);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    emit({ ready: true, port: (server.address() as net.AddressInfo).port });
  });
} else if (role === 'responder') {
  const port = Number(process.argv[3]);
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
    socket.write('R');
    emit({ ready: true });
  });
  const send = batcher(socket, EARLY_SEND_BYTES);
  // Answers each frame with the same bytes marked as a Response, as a module would (or, JSON-only,
  // with the JSON of a Response carrying the request's id, topic and data).
  socket.on(
    'data',
    frameSplitter((frame) => {
      if (JSON_ONLY) {
        const request = parsePayload(frame);
        send(frameOf(wireJson(request.transaction_id, request.topic, 2, request.data, true), 2));
        return;
      }
      const reply = Buffer.from(frame);
      reply[4] = 2;
      send(reply);
    }),
  );
  socket.on('error', () => process.exit(0));
  socket.on('close', () => process.exit(0));
} else if (role === 'asker' || role === 'publisher' || role === 'subscriber') {
  peer(role, Number(process.argv[3]));
} else {
  console.error('usage: floor.ts hub|responder|asker|publisher|subscriber <port> [subscribers]');
  process.exit(2);
}

/** Connects to the floor hub as `role`; resolves the socket and a frame sender once connected. */
function peer(kind: string, port: number): void {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
    socket.write(kind === 'asker' ? 'A' : kind === 'publisher' ? 'P' : 'S');
    emit({ ready: true });
  });
  socket.on('error', () => process.exit(0));
  socket.on('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  const send = batcher(socket, kind === 'asker' ? EARLY_SEND_BYTES : 0);
  let onFrame: (frame: Buffer) => void = () => {};
  socket.on(
    'data',
    frameSplitter((frame) => onFrame(frame)),
  );

  if (kind === 'asker') {
    // The bytes an SDK asker would send for the same request (the floor never parses them); the
    // JSON-only asker encodes each request itself and parses each answer, matched by its id.
    const fixed = frameOf(wireJson(1, ECHO_TOPIC, 1, REQUEST_DATA), 1);
    const waiting = new Set<number>();
    let lastId = 0;
    const request = (): Buffer => {
      if (!JSON_ONLY) return fixed;
      lastId = lastId >= 0xffff_ffff ? 1 : lastId + 1;
      waiting.add(lastId);
      return frameOf(wireJson(lastId, ECHO_TOPIC, 1, REQUEST_DATA), 1);
    };
    /** Takes one answer; false for one that answers nothing in flight. */
    const answer = (frame: Buffer): boolean =>
      !JSON_ONLY || waiting.delete(parsePayload(frame).transaction_id);
    let answered: (() => void) | null = null;
    const sequentialAnswer = (frame: Buffer): void => {
      if (answer(frame)) answered?.();
    };
    onFrame = sequentialAnswer;
    const roundTrip = (): Promise<void> =>
      new Promise<void>((resolve) => {
        answered = resolve;
        send(request());
      });
    onCommands(async (cmd) => {
      if (cmd.cmd === 'seq') {
        emit({ seq: await sequential(roundTrip, num(cmd.warmup, 500), num(cmd.n, 5000)) });
      } else if (cmd.cmd === 'pipe') {
        // Callbacks, not promises: the floor pays nothing per request but the bytes.
        const inflight = num(cmd.inflight, 64);
        const warmupMs = num(cmd.warmupMs, 300);
        const ms = num(cmd.ms, 2000);
        let count = 0;
        let all = 0;
        let measuring = false;
        let stop = false;
        let outstanding = 0;
        let drained: (() => void) | null = null;
        onFrame = (frame) => {
          if (!answer(frame)) return;
          outstanding--;
          all++;
          if (measuring) count++;
          if (!stop) {
            outstanding++;
            send(request());
          } else if (outstanding === 0) drained?.();
        };
        for (let i = 0; i < inflight; i++) {
          outstanding++;
          send(request());
        }
        await new Promise((r) => setTimeout(r, warmupMs));
        measuring = true;
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, ms));
        measuring = false;
        const elapsed = performance.now() - t0;
        stop = true;
        await new Promise<void>((resolve) => (drained = resolve));
        onFrame = sequentialAnswer;
        emit({ pipe: { count, all, ms: elapsed, rate: (count / elapsed) * 1000 } });
      }
    });
  } else if (kind === 'subscriber') {
    // Type 3 frames are counted; 1 (sync), 5 (start mark) and 6 (end mark) are answered, the
    // end mark with the count since the start mark as its payload.
    let count = 0;
    let base = 0;
    onFrame = (frame) => {
      const type = frame[4];
      if (type === 3) {
        count++;
        return;
      }
      if (type === 5) base = count;
      send(frameOf(type === 6 ? String(count - base) : '0', type ?? 0));
    };
    onCommands(() => {});
  } else {
    const subscribers = Number(process.argv[4] ?? 10);
    const broadcast = frameOf(wireJson(0, BROADCAST_TOPIC, 3, BROADCAST_DATA, true), 3);
    const syncFrame = (type: number): Buffer => frameOf(wireJson(1, 'sync', type, null), type);
    const sync1 = syncFrame(1);
    // Answers per sync generation; a sync is done when every subscriber has answered it.
    let answers = 0;
    let counted = 0;
    let waiter: { need: number; resolve: () => void } | null = null;
    onFrame = (frame) => {
      answers++;
      if (frame[4] === 6) counted += Number(frame.subarray(5).toString());
      if (waiter !== null && answers >= waiter.need) {
        const w = waiter;
        waiter = null;
        w.resolve();
      }
    };
    let syncs = 0;
    /** Sends a sync frame; resolves when all subscribers answered it (and the ones before). */
    const sync = (frame: Buffer): (() => Promise<void>) => {
      send(frame);
      const need = ++syncs * subscribers;
      return () =>
        answers >= need
          ? Promise.resolve()
          : new Promise<void>((resolve) => (waiter = { need, resolve }));
    };
    let allSent = 0;
    const runFor = async (ms: number, burst: number): Promise<number> => {
      const end = performance.now() + ms;
      let sent = 0;
      let prev: (() => Promise<void>) | undefined;
      while (performance.now() < end) {
        for (let i = 0; i < burst; i++) send(broadcast);
        sent += burst;
        allSent += burst;
        const s = sync(sync1);
        if (prev !== undefined) await prev();
        prev = s;
      }
      if (prev !== undefined) await prev();
      return sent;
    };
    onCommands(async (cmd) => {
      if (cmd.cmd !== 'fan') return;
      const burst = typeof cmd.burst === 'number' ? cmd.burst : 200;
      await runFor(typeof cmd.warmupMs === 'number' ? cmd.warmupMs : 300, burst);
      await sync(syncFrame(5))();
      counted = 0;
      const t0 = performance.now();
      const sent = await runFor(typeof cmd.ms === 'number' ? cmd.ms : 2000, burst);
      await sync(syncFrame(6))();
      const elapsed = performance.now() - t0;
      emit({
        fan: {
          sent,
          delivered: counted,
          all: allSent * subscribers,
          ms: elapsed,
          rate: (counted / elapsed) * 1000,
        },
      });
      allSent = 0;
    });
  }
}
