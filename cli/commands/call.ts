/**
 * `autocore-ipc call <topic> [json]`: one Request, the Response's data printed as JSON.
 */
import { parseJsonArgument } from '../json-arg.ts';
import { requestData, withSession, type SessionOptions } from '../session.ts';

/** Options of `call`. */
export interface CallOptions extends SessionOptions {
  /** Print the data on one line instead of indented. */
  compact?: boolean;
}

/**
 * Sends `topic` with `json` (parsed; none = null) and prints the answer's data on stdout.
 * A failed Response throws a CliError with the server's error (exit 1, or 4 for its timeout).
 *
 * @example
 * ```ts
 * await call('press1.set_speed', '{"rpm": 1200}', { address: '127.0.0.1:9100', timeout: 5000 });
 * ```
 */
export async function call(
  topic: string,
  json: string | undefined,
  options: CallOptions,
): Promise<void> {
  // Parse before connecting: a typo must not cost a round trip.
  const data = json === undefined ? null : parseJsonArgument(json);
  const result = await withSession(options, (client, o) => requestData(client, topic, data, o));
  process.stdout.write(
    `${JSON.stringify(result ?? null, null, options.compact ? undefined : 2)}\n`,
  );
}
