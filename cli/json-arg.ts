/**
 * Parses a JSON command-line argument and, when it is not valid JSON, says exactly where: line,
 * column and a caret under the offending character. `JSON.parse`'s own messages name a position
 * only for some faults, so a small scanner finds the first error itself.
 */
import { CliError, EXIT } from './exit-codes.ts';

class ScanError {
  constructor(
    readonly offset: number,
    readonly expected: string,
  ) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * The offset of the first JSON syntax error in `text` and what was expected there, or undefined
 * when `text` is valid JSON.
 *
 * @example
 * ```ts
 * locateJsonError('{"rpm": }'); // { offset: 8, expected: 'a JSON value' }
 * ```
 */
export function locateJsonError(text: string): { offset: number; expected: string } | undefined {
  let i = 0;
  const fail = (expected: string, at = i): never => {
    throw new ScanError(at, expected);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const string = (): void => {
    i++; // opening quote
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const n = text[i + 1] ?? '';
        if (n !== '' && '"\\/bfnrt'.includes(n)) i += 2;
        else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else fail('a valid escape sequence (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
        continue;
      }
      if (c < ' ') fail('no raw control character inside a string');
      i++;
    }
    fail('a closing "');
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a "quoted" property name');
        string();
        ws();
        if (text[i] !== ':') fail("':' after the property name");
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) fail('a number');
      i = NUMBER.lastIndex;
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    fail('a JSON value (object, array, string, number, true, false or null)');
  };
  try {
    value();
    ws();
    if (i < text.length) fail('the end of the input');
    return undefined;
  } catch (e) {
    if (e instanceof ScanError) return { offset: e.offset, expected: e.expected };
    return { offset: 0, expected: 'valid JSON' }; // absurd nesting overflowed the stack
  }
}

/**
 * Parses `text` as JSON, or throws {@link CliError} (exit 2) naming the line and column of the
 * fault, with the line and a caret under it. `what` names the argument in the message.
 *
 * @example
 * ```ts
 * parseJsonArgument('{"rpm": 1200}'); // { rpm: 1200 }
 * parseJsonArgument('{"rpm": }');     // throws: invalid JSON argument at line 1, column 9: expected a JSON value ...
 * ```
 */
export function parseJsonArgument(text: string, what = 'JSON argument'): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const where = locateJsonError(text) ?? { offset: 0, expected: 'valid JSON' };
    const before = text.slice(0, where.offset);
    const line = before.split('\n').length;
    const lineStart = before.lastIndexOf('\n') + 1;
    const column = where.offset - lineStart + 1;
    const lineEnd = text.indexOf('\n', where.offset);
    const lineText = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
    const found =
      where.offset >= text.length ? 'the end of the input' : JSON.stringify(text[where.offset]);
    // Keep long lines readable: show at most 60 characters around the fault.
    const from = Math.max(0, column - 1 - 40);
    const shown = lineText.slice(from, from + 60);
    const hint = /^[A-Za-z_][\w.-]*$/.test(text.trim())
      ? `\n(a JSON string must be quoted, e.g. '"${text.trim()}"')`
      : '';
    throw new CliError(
      EXIT.USAGE,
      `invalid ${what} at line ${line}, column ${column}: expected ${where.expected}, found ${found}\n` +
        `  ${shown}\n  ${' '.repeat(column - 1 - from)}^${hint}`,
      { cause: e },
    );
  }
}
