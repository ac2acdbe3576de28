/**
 * Child process of client-exit.test.ts: uses an IpcClient, then stops it, and must then end by
 * itself (no process.exit): any timer, socket or listener the client left behind would keep it
 * alive and the parent test would see a timeout. Usage: client-child.ts <address> <mode>.
 */
import { IpcClient } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import { BaseModuleHandler } from '../../src/core/module-handler.ts';

const [address = '', mode = ''] = process.argv.slice(2);
const handler = new BaseModuleHandler('child').route('child.echo', ({ message }) => message.data);
const fast = { firstDelayMaxMs: 0, initialDelayMs: 20, maxDelayMs: 50 };

async function main(): Promise<void> {
  if (mode === 'work-then-close') {
    const client = await IpcClient.connect(tcpConnector(address), handler, {
      reconnect: fast,
      offlineBuffer: { maxMessages: 5, ttlMs: 60_000 },
      heartbeatMs: 50,
    });
    await client.request('system.ping', null, { timeoutMs: 60_000 });
    await client.subscribe('x.>');
    const sub = await client.subscribe('y.*');
    const iterating = (async () => {
      for await (const m of sub) void m;
    })();
    const hanging = client.request('child.echo', 1, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await client.close();
    await iterating;
    const err = (await hanging) as { code?: string };
    if (err.code !== 'ERR_SHUTDOWN' && err.code === undefined)
      throw new Error('request not settled');
  } else if (mode === 'abort-while-retrying') {
    // While connect() retries there is no client object yet: its signal stops it.
    const ac = new AbortController();
    const p = IpcClient.connect(tcpConnector(address), handler, {
      reconnect: fast,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 300);
    const err = (await p.catch((e: unknown) => e)) as { code?: string };
    if (err.code !== 'ERR_ABORTED')
      throw new Error(`expected ERR_ABORTED, got ${String(err.code)}`);
  } else if (mode === 'connect-timeout') {
    await IpcClient.connect(tcpConnector(address), handler, {
      reconnect: fast,
      connectTimeoutMs: 300,
    }).catch(() => undefined);
  } else if (mode === 'give-up') {
    const client = await IpcClient.connect(tcpConnector(address), handler, {
      reconnect: { ...fast, maxAttempts: 2 },
    });
    process.stdout.write('connected\n');
    await client.run().catch(() => undefined);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write('done\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`child failed: ${String(e)}\n`);
  process.exitCode = 1;
});
