/**
 * Plain-text output helpers of the CLI.
 */

/**
 * Left-aligned columns separated by two spaces, header first, one line per row, trailing
 * newline included.
 *
 * @example
 * ```ts
 * formatTable(['NAME', 'VERSION'], [['press1', '1.0.0']]);
 * // 'NAME    VERSION\npress1  1.0.0\n'
 * ```
 */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
