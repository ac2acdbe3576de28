/**
 * Node half of ModuleArgs: reads `--config <file>` with `node:fs` and takes `process.argv`.
 */
import { readFileSync } from 'node:fs';
import { parseModuleArgs, type ModuleArgs, type ModuleArgsParseOptions } from './module-args.ts';

/**
 * Parses the module's command line (default `process.argv.slice(2)`), reading a `--config`
 * file from disk (UTF-8). Throws IpcError ERR_INVALID_ARGUMENT like {@link parseModuleArgs}.
 *
 * @example
 * ```ts
 * import { loadModuleArgs, tcpConnector } from 'autocore-ipc/node';
 * const args = loadModuleArgs();
 * const client = await IpcClient.connect(tcpConnector(args.ipcAddress), handler, { name: args.moduleName });
 * ```
 */
export function loadModuleArgs(
  argv: readonly string[] = process.argv.slice(2),
  options: Omit<ModuleArgsParseOptions, 'readFile'> = {},
): ModuleArgs {
  return parseModuleArgs(argv, { ...options, readFile: (path) => readFileSync(path, 'utf8') });
}
