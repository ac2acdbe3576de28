/**
 * JSON lines between the reliability suite and its child processes: one object per line, on the
 * child's stdin (commands) and stdout (answers and events).
 */
import type { Readable } from 'node:stream';

/** Writes one JSON line to this process's stdout. */
export function writeLine(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * Calls `onLine` with every line of `stream` that parses as JSON, in order. Blank lines and
 * lines that are not JSON (a stray log line) are skipped.
 */
export function readLines<T = Record<string, unknown>>(
  stream: Readable | null | undefined,
  onLine: (line: T) => void,
): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.trim() === '') continue;
      let value: T;
      try {
        value = JSON.parse(line) as T;
      } catch {
        continue;
      }
      onLine(value);
    }
  });
}
