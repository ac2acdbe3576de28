import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BaseModuleHandler } from 'autocore-ipc';
import { IpcClient, IpcServer, tcpConnector } from 'autocore-ipc/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { PressModule } from '../../demo/press-module.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The CLI reads these; the caller's environment must not steer the tests.
const cleanEnv = { ...process.env };
delete cleanEnv.AUTOCORE_IPC_ADDRESS;
delete cleanEnv.AUTOCORE_IPC_TOKEN;

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface CliProcess {
  /** Resolves with the match once `re` appears on stdout. */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<CliRun>;
}

/** Spawns the CLI (or `entry`); killed with SIGKILL if it outlives `limitMs`. */
function startCli(args: string[], entry = 'cli/cli.ts', limitMs = 25_000): CliProcess {
  const child = spawn(
    process.execPath,
    entry.endsWith('.mjs')
      ? [entry, ...args]
      : ['--conditions=source', '--import', 'tsx', entry, ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv },
  );
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    for (const w of watchers) w();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<CliRun>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      for (const w of watchers) w();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    done,
    kill: (signal) => child.kill(signal),
    waitFor: (re) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(stdout);
          if (m) {
            watchers.delete(check);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            watchers.delete(check);
            reject(new Error(`cli exited before printing ${re}: ${stdout} / ${stderr}`));
          }
        };
        watchers.add(check);
        check();
      }),
  };
}

const runCli = (args: string[], entry?: string): Promise<CliRun> => startCli(args, entry).done;

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** A module whose `slow.hang` never answers. */
class SlowModule extends BaseModuleHandler {
  constructor() {
    super('slow');
    this.route('slow.hang', () => new Promise<never>(() => {}));
  }
}

let server: IpcServer;
let address: string;
const clients: IpcClient[] = [];
let press: PressModule;

beforeAll(async () => {
  server = await IpcServer.listen({ port: 0 });
  address = server.address;
  press = new PressModule('press1');
  const pressClient = await IpcClient.connect(tcpConnector(address), press, { version: '1.0.0' });
  press.startSimulation(pressClient.broadcastSender(), 20);
  clients.push(pressClient);
  clients.push(await IpcClient.connect(tcpConnector(address), new SlowModule()));
});

afterAll(async () => {
  press?.stopSimulation();
  for (const c of clients) await c.close();
  await server?.close();
});

// One CLI process at a time: each is a full Node + tsx start, CPU-bound on a small CI machine.
describe('autocore-ipc CLI', { timeout: 60_000 }, () => {
  it('prints help with every command and the exit codes', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(EXIT.OK);
    for (const verb of [
      'serve',
      'bridge',
      'demo',
      'call',
      'listen',
      'modules',
      'catalog',
      'bench',
    ]) {
      expect(run.stdout).toContain(`  ${verb} `);
    }
    expect(run.stdout).toMatch(/Exit codes:[\s\S]*\n {2}3 {4}cannot connect/);
  });

  it('calls a topic and prints the data of the Response as JSON', async () => {
    const ping = await runCli(['call', 'system.ping', '--address', address]);
    expect(ping.stderr).toBe('');
    expect(ping.code).toBe(EXIT.OK);
    expect(JSON.parse(ping.stdout)).toBe('pong');

    const run = await runCli(['call', 'press1.set_speed', '{"rpm": 1200}', '-a', address]);
    expect(run.code).toBe(EXIT.OK);
    expect(JSON.parse(run.stdout)).toMatchObject({ targetRpm: 1200 });
  });

  it('exits 1 with the server error for an unknown domain or a refused argument', async () => {
    const run = await runCli(['call', 'nope.x', '--address', address]);
    expect(run.code).toBe(EXIT.FAILED);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Module not found: nope');

    const bad = await runCli(['call', 'press1.set_speed', '{"rpm": 99999}', '-a', address]);
    expect(bad.code).toBe(EXIT.FAILED);
    expect(bad.stderr).toContain('rpm must be between 0 and 3000');
  });

  it('exits 2 naming the line and column of an invalid JSON argument, before connecting', async () => {
    const port = await closedPort();
    const run = await runCli(['call', 'press1.set_speed', '{"rpm": }', '-a', `127.0.0.1:${port}`]);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toContain('invalid JSON argument at line 1, column 9');
    expect(run.stderr).toContain('{"rpm": }\n          ^');
  });

  it('exits 2 on an unknown flag or command', async () => {
    const flag = await runCli(['call', 'system.ping', '--bogus']);
    expect(flag.code).toBe(EXIT.USAGE);
    expect(flag.stderr).toContain("unknown option '--bogus'");

    const verb = await runCli(['frobnicate']);
    expect(verb.code).toBe(EXIT.USAGE);
    expect(verb.stderr).toContain("unknown command 'frobnicate'");
  });

  it('exits 3 with "cannot connect to <addr>" when the server is down', async () => {
    const port = await closedPort();
    const run = await runCli(['call', 'system.ping', '-a', `127.0.0.1:${port}`, '-t', '3000']);
    expect(run.code).toBe(EXIT.CONNECTION);
    expect(run.stderr).toContain(`cannot connect to 127.0.0.1:${port}`);
  });

  it('exits 4 when no answer comes within --timeout', async () => {
    const run = await runCli(['call', 'slow.hang', '-a', address, '--timeout', '500']);
    expect(run.code).toBe(EXIT.TIMEOUT);
    expect(run.stderr).toMatch(/timeout: no answer to slow\.hang within 500 ms/);
  });

  it('listens: one JSON line per Broadcast, ending after --count', async () => {
    const run = await runCli(['listen', 'press1.>', '--count', '3', '-a', address]);
    expect(run.code).toBe(EXIT.OK);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      const entry = JSON.parse(line) as { topic: string; data: unknown; time: string };
      expect(Object.keys(entry)).toEqual(['topic', 'data', 'time']);
      expect(entry.topic).toMatch(/^press1\./);
      expect(Number.isNaN(Date.parse(entry.time))).toBe(false);
    }
  });

  it('stops listening cleanly on SIGINT with exit 0', async () => {
    const cli = startCli(['listen', 'press1.rpm', '-a', address]);
    await cli.waitFor(/"topic":"press1\.rpm"/);
    cli.kill('SIGINT');
    const run = await cli.done;
    expect(run.code).toBe(EXIT.OK);
    expect(run.stderr).toBe('');
  });

  it('lists the registered modules as a table, leaving itself out', async () => {
    const run = await runCli(['modules', '-a', address]);
    expect(run.code).toBe(EXIT.OK);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+VERSION\s+TOPICS$/);
    expect(run.stdout).toMatch(/^press1\s+1\.0\.0\s+10$/m);
    expect(run.stdout).toMatch(/^slow\s+/m);
    expect(run.stdout).not.toContain('cli_');
  });

  it("prints a module's catalog, and exits 1 for an unknown module", async () => {
    const run = await runCli(['catalog', 'press1', '-a', address]);
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout.trim().split('\n')).toEqual(
      expect.arrayContaining(['press1.start', 'press1.set_speed', 'press1.rpm']),
    );

    const unknown = await runCli(['catalog', 'nope', '-a', address]);
    expect(unknown.code).toBe(EXIT.FAILED);
    expect(unknown.stderr).toContain('Module not found: nope');
  });

  it('runs through the bin launcher (cli/autocore-ipc.mjs) with its exit code', async () => {
    const ok = await runCli(['call', 'system.ping', '-a', address], 'cli/autocore-ipc.mjs');
    expect(ok.code).toBe(EXIT.OK);
    expect(JSON.parse(ok.stdout)).toBe('pong');

    const usage = await runCli(['listen'], 'cli/autocore-ipc.mjs');
    expect(usage.code).toBe(EXIT.USAGE);
    expect(usage.stderr).toContain("missing required argument 'pattern'");
  });
});

describe('autocore-ipc serve', { timeout: 60_000 }, () => {
  it('serves modules with a token and stops on SIGTERM with exit 0', async () => {
    const cli = startCli(['serve', '--port', '0', '--token', 'serve-test-token']);
    const port = (
      await cli.waitFor(/listening on tcp:\/\/127\.0\.0\.1:(\d+) \(authentication on\)/)
    )[1];

    const refused = await runCli(['call', 'system.ping', '-a', `127.0.0.1:${port}`]);
    expect(refused.code).toBe(EXIT.CONNECTION);
    expect(refused.stderr).toContain('Authentication failed');

    const ok = await runCli([
      'call',
      'system.ping',
      '-a',
      `127.0.0.1:${port}`,
      '--token',
      'serve-test-token',
    ]);
    expect(ok.code).toBe(EXIT.OK);

    cli.kill('SIGTERM');
    const run = await cli.done;
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toContain('stopped');
  });
});
