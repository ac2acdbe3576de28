/**
 * Where the browser tests' Node-side stack lives while the run lasts. The globalSetup (loaded by
 * Vitest's module runner) and the browser commands (bundled with vitest.config.ts) get separate
 * copies of every module they import, so they meet on one well-known global slot instead of a
 * module variable.
 */

/** What the browser commands may do with the stack that the globalSetup started. */
export interface BrowserTestStack {
  /** `ws://127.0.0.1:<port>`: the bridge keeps this port across stop/start. */
  readonly bridgeUrl: string;
  /**
   * Makes sure the bridge is up and admits `origin` (the page's exact origin, only known once
   * Vitest's browser server listens); restarts it on the same port when it must add the origin.
   */
  admitOrigin(origin: string): Promise<void>;
  /** Closes the bridge (every WebSocket gets 1001); its port is kept for `startBridge`. No-op when down. */
  stopBridge(): Promise<void>;
  /** Starts the bridge again on the same port. No-op when up. */
  startBridge(): Promise<void>;
  /** WebSockets the bridge holds open right now (0 when it is down). */
  bridgeConnections(): number;
}

const SLOT = Symbol.for('autocore-ipc.test.browser-stack');

type Slot = { [SLOT]?: BrowserTestStack };

/** Publishes the running stack (`undefined` withdraws it at teardown). */
export function publishStack(stack: BrowserTestStack | undefined): void {
  (globalThis as Slot)[SLOT] = stack;
}

/** The running stack; throws a helpful error when the globalSetup did not start one. */
export function currentStack(): BrowserTestStack {
  const stack = (globalThis as Slot)[SLOT];
  if (stack === undefined) {
    throw new Error(
      'The browser test stack is not running: test/browser-setup/global-setup.ts must be the ' +
        "`globalSetup` of the vitest project that runs these tests (project 'browser').",
    );
  }
  return stack;
}
