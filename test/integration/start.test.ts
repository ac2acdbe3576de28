import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BaseModuleHandler, webSocketConnector, type WebSocketConstructor } from 'autocore-ipc';
import { IpcClient, tcpConnector } from 'autocore-ipc/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DemoReady as Ready } from '../../demo/start.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface HttpReply {
  status: number;
  type: string | undefined;
  body: string;
}

/** A GET with the path sent exactly as given (no URL normalisation on the client side). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'GET', headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let child: ChildProcess;
let stdout = '';
let stderr = '';
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let ready: Ready;

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'demo/start.ts',
      '--port',
      '0',
      '--bridge-port',
      '0',
      '--http-port',
      '0',
      '--no-open',
      // Serve web-demo/dist if it is there, the placeholder otherwise; never run Vite here.
      '--no-build',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no READY line: ${stdout} / ${stderr}`)),
      25_000,
    );
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /^READY (.+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1] as string) as Ready);
      }
    });
    void exited.then(({ code }) => reject(new Error(`demo exited ${code}: ${stdout} / ${stderr}`)));
  });
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
});

describe('npm start (demo/start.ts)', () => {
  it('prints the console URL and one READY line with every real port', () => {
    expect(ready.ports.server).toBeGreaterThan(0);
    expect(ready.ports.bridge).toBeGreaterThan(0);
    expect(ready.ports.http).toBeGreaterThan(0);
    expect(ready.server).toBe(`127.0.0.1:${ready.ports.server}`);
    expect(ready.bridgeUrl).toBe(`ws://127.0.0.1:${ready.ports.bridge}`);
    expect(stdout).toContain(`Console: http://127.0.0.1:${ready.ports.http}/`);
  });

  it('serves /config.json with the bridge URL, a random token and the console names', async () => {
    const res = await get(ready.ports.http, '/config.json');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/json/);
    const config = JSON.parse(res.body) as {
      bridgeUrl: string;
      token: string;
      moduleNames: string[];
    };
    expect(config.bridgeUrl).toBe(ready.bridgeUrl);
    expect(config.token).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(config.moduleNames).toEqual(['console_*']);
    expect(stdout).not.toContain(config.token);
  });

  it('serves the console page (the built one or the placeholder) as HTML', async () => {
    const res = await get(ready.ports.http, '/');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/html; charset=utf-8');
    expect(res.body).toMatch(/<html/i);
    if (ready.console === 'placeholder') expect(res.body).toContain('console is not built');
    expect((await get(ready.ports.http, '/no-such-file.js')).status).toBe(404);
  });

  it('refuses path traversal and foreign Host headers', async () => {
    for (const path of [
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2f..%2fpackage.json',
      '/assets/..%5c..%5c..%5cpackage.json',
      '/%00',
    ]) {
      const res = await get(ready.ports.http, path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body).not.toContain('root:');
      expect(res.body).not.toContain('"name": "autocore-ipc"');
    }
    const rebound = await get(ready.ports.http, '/config.json', { Host: 'evil.example:80' });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('token');
  });

  it('lets a Node module call press1.set_speed on the server', async () => {
    const client = await IpcClient.connect(
      tcpConnector(ready.server),
      new BaseModuleHandler('start_test'),
      { retryFirstConnect: false, reconnect: false, connectTimeoutMs: 10_000 },
    );
    try {
      const reply = await client.request('press1.set_speed', { rpm: 900 }, { timeoutMs: 5000 });
      expect(reply.data).toMatchObject({ targetRpm: 900 });
    } finally {
      await client.close();
    }
  });

  it('lets a console_* module through the bridge with the demo token, and no other name', async () => {
    const { token } = JSON.parse((await get(ready.ports.http, '/config.json')).body) as {
      token: string;
    };
    const connector = webSocketConnector(ready.bridgeUrl, {
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      token,
    });
    const opts = { retryFirstConnect: false, reconnect: false, connectTimeoutMs: 10_000 };
    const client = await IpcClient.connect(connector, new BaseModuleHandler('console_test'), opts);
    try {
      const reply = await client.request('press1.status', null, { timeoutMs: 5000 });
      expect(reply.data).toHaveProperty('rpm');
    } finally {
      await client.close();
    }
    await expect(
      IpcClient.connect(connector, new BaseModuleHandler('intruder'), opts),
    ).rejects.toThrow(/Not allowed: intruder/);
  });

  it('stops on SIGTERM with exit 0 within a few seconds and releases its ports', async () => {
    const started = Date.now();
    child.kill('SIGTERM');
    const { code } = await exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(stdout).toContain('stopped');
    for (const port of [ready.ports.server, ready.ports.bridge, ready.ports.http]) {
      const probe = createServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(port, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
  });
});
