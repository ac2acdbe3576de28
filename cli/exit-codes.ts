/**
 * Exit codes of the `autocore-ipc` CLI and the one error type its commands throw. Scripts may
 * rely on these numbers; they are listed in `--help` and in cli/README.md.
 */

/**
 * What the process exit code means.
 *
 * @example
 * ```ts
 * throw new CliError(EXIT.TIMEOUT, 'no answer from press1 within 2000 ms');
 * ```
 */
export const EXIT = {
  /** Done (a long-running command was stopped with Ctrl-C or SIGTERM and shut down cleanly). */
  OK: 0,
  /** The server answered with a failure (unknown topic or module, the handler's error), or another runtime fault. */
  FAILED: 1,
  /** Bad command line: unknown command or flag, a bad value, invalid JSON argument. */
  USAGE: 2,
  /** The server could not be reached, refused the registration, or dropped the connection. */
  CONNECTION: 3,
  /** No answer in time (`--timeout`, or the server's own request deadline). */
  TIMEOUT: 4,
  /** Interrupted (Ctrl-C) before a one-shot command finished. */
  INTERRUPTED: 130,
} as const;

/** One of the values of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit-code table shown at the end of `autocore-ipc --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  0    done (a server, bridge, demo or listen stopped by Ctrl-C/SIGTERM exits 0 too)
  1    the server answered with a failure (e.g. "Module not found: nope"), or a runtime fault
  2    bad command line: unknown command or flag, bad value, invalid JSON argument
  3    cannot connect to the server (down, wrong address, registration refused, connection lost)
  4    timeout: no answer within --timeout, or the server's own request deadline
  130  interrupted (Ctrl-C) before a one-shot command (call, modules, catalog) finished`;

/**
 * An error that ends the CLI with `exitCode`, its message printed on stderr.
 *
 * @example
 * ```ts
 * throw new CliError(EXIT.USAGE, '--count must be a positive integer');
 * ```
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}
