/**
 * Ctrl-C and SIGTERM handling. A long-running command (serve, bridge, listen) shuts down
 * cleanly on the first signal and exits 0; a second signal while it is still stopping exits 1 at
 * once. A one-shot command (call, modules, catalog) is aborted through an AbortSignal.
 */

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * A repeat within this long is the same request: a terminal's Ctrl-C reaches every process of
 * the foreground group, and launchers (npx, cli/autocore-ipc.mjs) forward it once more.
 */
export const SIGNAL_REPEAT_MS = 300;

/**
 * Calls `stop` on the first SIGINT/SIGTERM. Returns a function that removes the handlers.
 *
 * @example
 * ```ts
 * const stopped = new Promise<void>((resolve) => onShutdownSignal(() => resolve()));
 * await stopped;
 * await server.close();
 * ```
 */
export function onShutdownSignal(
  stop: (signal: NodeJS.Signals) => void,
  label = 'autocore-ipc',
): () => void {
  let seenAt: number | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (seenAt !== undefined) {
      if (Date.now() - seenAt < SIGNAL_REPEAT_MS) return;
      process.stderr.write(`${label}: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    seenAt = Date.now();
    stop(signal);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

/**
 * An AbortSignal that fires on the first SIGINT/SIGTERM, for one-shot commands; `dispose`
 * removes the handlers.
 *
 * @example
 * ```ts
 * const interrupt = interruptSignal();
 * try { await client.request(topic, data, { signal: interrupt.signal }); } finally { interrupt.dispose(); }
 * ```
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const dispose = onShutdownSignal((signal) =>
    controller.abort(new Error(`interrupted by ${signal}`)),
  );
  return { signal: controller.signal, dispose };
}
