import { describe, expect, it } from 'vitest';
import { connectTcp } from '../../src/node.ts';
import { startStack } from './support/stack-process.ts';

describe('the reliability stack process', () => {
  it('runs a server and a bridge in a child and reports their fds and connections', async () => {
    await using stack = await startStack({ bridge: {}, events: ['connected'] });
    expect(stack.port).toBeGreaterThan(0);
    expect(stack.bridgePort).toBeGreaterThan(0);
    const before = await stack.stats({ gc: true });
    expect(before.fds).toBeGreaterThan(0);
    const t = await connectTcp(stack.address);
    await expect.poll(async () => (await stack.stats()).connections).toBe(before.connections + 1);
    expect(stack.events.map((e) => e.event)).toContain('connected');
    t.close();
    await expect.poll(async () => (await stack.stats()).connections).toBe(before.connections);
  });

  it('can be killed with SIGKILL', async () => {
    const stack = await startStack();
    await stack.kill();
    await expect(stack.stats()).rejects.toThrow(/gone/);
  });
});
