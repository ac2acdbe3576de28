/**
 * The peers of the comparison benchmark, started by the benchmark itself from Debian's packages:
 *
 * - `nats-server`: TCP listener and a WebSocket listener (`no_tls: true`), both on 127.0.0.1,
 *   from a config file generated in a temp dir;
 * - `mosquitto`: one MQTT listener (MQTT 3.1.1 and 5) on 127.0.0.1, anonymous, no persistence.
 *
 * Ports are picked free by binding port 0 first. A missing binary is installed with apt-get
 * when running as root; otherwise the broker is reported as not available (with the command
 * that installs it) and its rows say "not run".
 *
 * Each broker runs under a small shell guard that kills it when the guard's stdin closes, so a
 * broker never outlives the benchmark, even one killed with SIGKILL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The Debian package and binary of each peer. */
const PACKAGES = { 'nats-server': 'nats-server', mosquitto: 'mosquitto' } as const;
/** A peer broker's binary name. */
export type BrokerBinary = keyof typeof PACKAGES;

/** Where a binary is looked for besides PATH (Debian puts both brokers in /usr/sbin). */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];

/** Absolute path of `name` on PATH or in the sbin dirs; undefined when absent. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Makes sure the binaries are present: installs the missing ones with apt-get when root.
 * Returns, per binary, its path or why it is unavailable (with the command to install it).
 */
export function ensureBinaries(
  names: readonly BrokerBinary[],
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Map<BrokerBinary, { path: string } | { missing: string }> {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length > 0) {
    const pkgs = missing.map((n) => PACKAGES[n]);
    const how = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
    if (process.getuid?.() === 0 && findBinary('apt-get') !== undefined) {
      log(`installing ${pkgs.join(', ')}: ${how}`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      const install =
        update.status === 0
          ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
              stdio: 'inherit',
              env,
            })
          : update;
      if (install.status !== 0) log(`apt-get failed (exit ${String(install.status)})`);
    } else {
      log(`${pkgs.join(', ')} not installed; as root: ${how}`);
    }
  }
  const out = new Map<BrokerBinary, { path: string } | { missing: string }>();
  for (const n of names) {
    const path = findBinary(n);
    out.set(n, path !== undefined ? { path } : { missing: `${n} not installed (apt-get install ${PACKAGES[n]})` });
  }
  return out;
}

/** A free TCP port on 127.0.0.1: bound with port 0, then released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
async function waitForPort(port: number, child: ChildProcess, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name}: nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running broker. */
export interface Broker {
  readonly name: string;
  /** The guard shell (the broker is its child). */
  readonly child: ChildProcess;
  /** Ports by listener: `tcp` always, `ws` for nats-server. */
  readonly ports: { tcp: number; ws?: number };
  /** The broker process's own id (for its CPU time), once known. */
  brokerPid(): number | undefined;
  /** Stops the broker (SIGTERM through the guard) and removes its temp dir. */
  stop(): Promise<void>;
}

const brokers = new Set<Broker>();
/** The brokers' temp dirs (config files), removed when the broker stops or this process exits. */
const dirs = new Set<string>();

// The guard: runs the broker in the background and kills it when stdin reaches EOF (the
// benchmark closed it, or died) or when the guard itself is terminated.
const GUARD = '"$@" & pid=$!; echo "pid $pid"; trap \'kill $pid 2>/dev/null\' EXIT TERM INT; cat >/dev/null; kill $pid 2>/dev/null; wait $pid';

/** Starts `argv` under the guard and waits until `port` accepts connections. */
async function startBroker(
  name: string,
  argv: readonly string[],
  dir: string,
  ports: Broker['ports'],
): Promise<Broker> {
  const child = spawn('bash', ['-c', GUARD, 'guard', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  let pid: number | undefined;
  let log = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    const m = /pid (\d+)/.exec(text);
    if (m !== null && pid === undefined) pid = Number(m[1]);
    log = (log + text).slice(-4000);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    log = (log + text).slice(-4000);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${text}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  dirs.add(dir);
  const broker: Broker = {
    name,
    child,
    ports,
    brokerPid: () => pid,
    async stop() {
      brokers.delete(broker);
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin?.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  brokers.add(broker);
  try {
    await waitForPort(ports.tcp, child, name, 15_000);
    if (ports.ws !== undefined) await waitForPort(ports.ws, child, name, 15_000);
  } catch (e) {
    await broker.stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  return broker;
}

/** nats-server with a TCP and a WebSocket listener on loopback (free ports). */
export async function startNats(binary: string): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'autocore-bench-nats-'));
  const tcp = await freePort();
  const ws = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      `listen: "127.0.0.1:${tcp}"`,
      // Room for the benchmark's bursts: a slow consumer would be cut off, not measured.
      'write_deadline: "10s"',
      'websocket {',
      `  listen: "127.0.0.1:${ws}"`,
      '  no_tls: true',
      '  compression: false',
      '}',
      '',
    ].join('\n'),
  );
  return startBroker('nats-server', [binary, '-c', conf], dir, { tcp, ws });
}

/** mosquitto with one MQTT listener on loopback (free port), anonymous, nothing persisted. */
export async function startMosquitto(binary: string): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'autocore-bench-mosquitto-'));
  const tcp = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${tcp} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      // QoS 0 messages are queued per client up to this count; the benchmark keeps at most two
      // bursts out, far below it, so nothing is dropped.
      'max_queued_messages 100000',
      '',
    ].join('\n'),
  );
  return startBroker('mosquitto', [binary, '-c', conf], dir, { tcp });
}

/** Stops every broker still running (call in `finally`). */
export async function stopBrokers(): Promise<void> {
  await Promise.all([...brokers].map((b) => b.stop()));
}

// Brokers must not outlive the benchmark: the guard sees its stdin close when this process
// exits, whatever the reason, and SIGKILL here covers a guard that is stuck.
process.once('exit', () => {
  for (const b of brokers) {
    b.child.stdin?.destroy();
    const pid = b.brokerPid();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
