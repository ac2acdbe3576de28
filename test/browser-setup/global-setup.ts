/**
 * globalSetup of the `browser` project (runs in Node, once per run): starts the stack of
 * ./stack.ts (a real IpcServer, the bridge in front of it, the TCP module `nodemod`), hands the
 * bridge's URL and token to the tests through `provide`, and publishes the stack for the browser
 * commands of ./commands.ts. Teardown closes all of it.
 *
 * The page's origin is not known yet here (Vitest's browser server starts listening after the
 * globalSetup, on 63315 or the next free port), so the bridge starts admitting no origin and the
 * tests call `commands.bridgeReady()` first, which admits the page's exact origin.
 */
import type { TestProject } from 'vitest/node';
import { publishStack } from './registry.ts';
import { BRIDGE_TOKEN, startNodeStack } from './stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `ws://127.0.0.1:<port>` of the bridge; the port stays the same across stop/start. */
    bridgeUrl: string;
    /** A bridge token allowed to register `hmi_*`, request and subscribe to `>`. */
    bridgeToken: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = await startNodeStack();
  publishStack(stack);
  project.provide('bridgeUrl', stack.bridgeUrl);
  project.provide('bridgeToken', BRIDGE_TOKEN);
  return async () => {
    publishStack(undefined);
    await stack.close();
  };
}
