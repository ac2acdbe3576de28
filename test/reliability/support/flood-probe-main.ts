/**
 * The child side of {@link ProbeProcess} (flood-probe-process.ts): a healthy module pair on the
 * server, or a healthy browser-side module through the bridge, measuring round trips in a process
 * of its own, so the latency it reports is the server's and not the attacking test process's.
 *
 *   node --conditions=source --import tsx flood-probe-main.ts '{"kind":"pair","address":"127.0.0.1:9100"}'
 *   node --conditions=source --import tsx flood-probe-main.ts '{"kind":"ws","url":"ws://...","name":"hmi_x"}'
 *
 * JSON lines: `{"ready":true}` once registered, then one answer per command on stdin:
 * `{"cmd":"once"}` -> `{"ms"}`, `{"cmd":"measure","ms","gapMs"}` -> `{"summary"}`,
 * `{"cmd":"start","gapMs"}` -> `{"started":true}`, `{"cmd":"stop"}` -> `{"summary"}`.
 * Closes its modules and exits when stdin ends.
 */
import { HealthyPair, healthyWs, measureFor, probeLoop, type Probe } from './flood-probe.ts';
import { readLines, writeLine as out } from './json-lines.ts';

type Target = { kind: 'pair'; address: string } | { kind: 'ws'; url: string; name: string };

const target = JSON.parse(process.argv[2] ?? '{}') as Target;

let roundTrip: () => Promise<number>;
let close: () => Promise<void>;
if (target.kind === 'pair') {
  const pair = await HealthyPair.start(target.address);
  roundTrip = () => pair.roundTrip();
  close = () => pair.close();
} else {
  const ws = await healthyWs(target.url, target.name);
  roundTrip = () => ws.roundTrip();
  close = () => ws.client.close();
}
// The server must have read the Initialize answer before anything is measured.
await roundTrip();
out({ ready: true });

let running: Probe | undefined;
let chain = Promise.resolve();
readLines<{ cmd: string; ms?: number; gapMs?: number }>(process.stdin, (cmd) => {
  chain = chain.then(() => run(cmd)).catch((e: unknown) => out({ error: String(e) }));
});
process.stdin.on('end', () => {
  void chain.then(async () => {
    await running?.stop();
    await close();
    process.exit(0);
  });
});

async function run(cmd: { cmd: string; ms?: number; gapMs?: number }): Promise<void> {
  if (cmd.cmd === 'once') out({ ms: await roundTrip() });
  else if (cmd.cmd === 'measure')
    out({ summary: await measureFor(roundTrip, cmd.ms ?? 1000, cmd.gapMs) });
  else if (cmd.cmd === 'start') {
    running = probeLoop(roundTrip, cmd.gapMs);
    out({ started: true });
  } else if (cmd.cmd === 'stop') {
    const summary = await running?.stop();
    running = undefined;
    out({ summary });
  }
}
