/**
 * Browser commands of the `browser` project: server-side functions a test in Chromium calls
 * through `commands` from 'vitest/browser', to act on the Node-side stack (which a page cannot
 * reach otherwise). Registered in vitest.config.ts.
 *
 * @example
 * ```ts
 * import { commands } from 'vitest/browser';
 * await commands.bridgeReady();
 * await commands.stopBridge();
 * await commands.startBridge();
 * ```
 */
import type {} from '@vitest/browser-playwright';
import type { BrowserCommand, BrowserCommandContext } from 'vitest/node';
import { currentStack } from './registry.ts';

declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Makes sure the bridge is up and admits this page's origin. Call it before connecting. */
    bridgeReady: () => Promise<void>;
    /** Closes the bridge (every WebSocket gets 1001); the port is kept. */
    stopBridge: () => Promise<void>;
    /** Starts the bridge again on the same port (no-op when it is up). */
    startBridge: () => Promise<void>;
    /** WebSockets the bridge holds open right now. */
    bridgeConnections: () => Promise<number>;
  }
}

/** The origin the page under test was loaded from, exactly as Chromium sends it in `Origin`. */
function pageOrigin(context: BrowserCommandContext): string {
  return new URL(context.page.url()).origin;
}

const bridgeReady: BrowserCommand<[], void> = (context) =>
  currentStack().admitOrigin(pageOrigin(context));
const stopBridge: BrowserCommand<[], void> = () => currentStack().stopBridge();
const startBridge: BrowserCommand<[], void> = () => currentStack().startBridge();
const bridgeConnections: BrowserCommand<[], number> = () => currentStack().bridgeConnections();

/** The commands, for `test.browser.commands` of the browser project. */
export const browserCommands = { bridgeReady, stopBridge, startBridge, bridgeConnections };
