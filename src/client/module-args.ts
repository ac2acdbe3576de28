/**
 * The standard command line of an external module (mechutil's `ModuleArgs`):
 * `--ipc-address <host:port>`, `--module-name <name>`, `--config <json or file>` / `-c`.
 * Pure and browser-safe: reading a config file is injected (`readFile`); Node programs use
 * `loadModuleArgs` from `autocore-ipc/node`, which passes `node:fs`.
 */
import { IpcError } from '../core/errors.ts';
import { MODULE_NAME_PATTERN, SYSTEM_DOMAIN } from '../core/message.ts';
import { parseAddress } from '../transports/transport.ts';

/** Default of `--ipc-address` [mechutil]. */
export const DEFAULT_IPC_ADDRESS = '127.0.0.1:9100';

/**
 * Parsed module arguments.
 *
 * @example
 * ```ts
 * const args: ModuleArgs = ModuleArgs.parse(['--module-name', 'press1']);
 * args.ipcAddress; // '127.0.0.1:9100'
 * ```
 */
export interface ModuleArgs {
  /** `--ipc-address`: the server, `host:port`. Default `127.0.0.1:9100`. */
  ipcAddress: string;
  /** `--module-name`: the module's instance name (required). */
  moduleName: string;
  /** `--config` / `-c`: the configuration object, or undefined when not given. */
  config: Record<string, unknown> | undefined;
  /** The file `--config` named, when it named one (not inline JSON). */
  configPath: string | undefined;
  /** Arguments after `--`, plus unknown ones when `allowUnknown` is set. */
  rest: string[];
}

/** Options of {@link ModuleArgs.parse}. */
export interface ModuleArgsParseOptions {
  /**
   * Reads a config file named by `--config <path>` and returns its text. Without it, a
   * `--config` that is not inline JSON is an error. Default: none (Node: use `loadModuleArgs`).
   */
  readFile?: (path: string) => string;
  /** Collect unknown flags in `rest` instead of failing. Default false. */
  allowUnknown?: boolean;
}

type Flag = 'ipcAddress' | 'moduleName' | 'config';

const FLAGS: Record<string, Flag> = {
  '--ipc-address': 'ipcAddress',
  '--module-name': 'moduleName',
  '--config': 'config',
  '-c': 'config',
};

const USAGE = 'usage: --module-name <name> [--ipc-address <host:port>] [--config <json|file>]';

function bad(message: string, cause?: unknown): IpcError {
  return new IpcError(
    'ERR_INVALID_ARGUMENT',
    `${message} (${USAGE})`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * Parses module arguments: `argv` is the arguments only (e.g. `process.argv.slice(2)`).
 * Accepts `--flag value` and `--flag=value`. `--config` takes either inline JSON (what
 * autocore-server passes, [mechutil]: a value starting with `{`) or the path of a JSON file
 * (read with `options.readFile`); either way the result must be a JSON object.
 *
 * Throws an IpcError ERR_INVALID_ARGUMENT naming the fault: an unknown flag, a flag without its
 * value, a repeated flag, a missing or invalid `--module-name`, an address that is not
 * `host:port`, an unreadable config file, or config that is not a JSON object.
 *
 * @example
 * ```ts
 * const args = parseModuleArgs(['--module-name=press1', '-c', '{"rpm":1200}']);
 * args.config; // { rpm: 1200 }
 * ```
 */
export function parseModuleArgs(
  argv: readonly string[],
  options: ModuleArgsParseOptions = {},
): ModuleArgs {
  if (!Array.isArray(argv)) throw bad('argv must be an array of strings');
  const seen: Partial<Record<Flag, string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (typeof arg !== 'string') throw bad(`argument ${i + 1} is not a string`);
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const flag = FLAGS[name];
    if (flag === undefined) {
      if (options.allowUnknown) {
        rest.push(arg);
        continue;
      }
      throw bad(
        arg.startsWith('-')
          ? `unknown flag ${JSON.stringify(name)}`
          : `unexpected argument ${JSON.stringify(arg)}`,
      );
    }
    let value: string | undefined;
    if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      // A following flag is not a value (inline JSON never starts with '-').
      if (value !== undefined && value.startsWith('-') && value.length > 1) value = undefined;
      else i++;
    }
    if (value === undefined || value === '') throw bad(`${name} needs a value`);
    if (seen[flag] !== undefined) throw bad(`${name} given twice`);
    seen[flag] = value;
  }

  const moduleName = seen.moduleName;
  if (moduleName === undefined) throw bad('--module-name is required');
  if (!MODULE_NAME_PATTERN.test(moduleName) || moduleName === SYSTEM_DOMAIN) {
    throw bad(
      `--module-name ${JSON.stringify(moduleName)} is invalid: 1-64 characters of [A-Za-z0-9_-], not "${SYSTEM_DOMAIN}"`,
    );
  }
  const ipcAddress = seen.ipcAddress ?? DEFAULT_IPC_ADDRESS;
  try {
    parseAddress(ipcAddress);
  } catch (e) {
    throw bad(`--ipc-address ${JSON.stringify(ipcAddress)} is not host:port`, e);
  }

  let config: Record<string, unknown> | undefined;
  let configPath: string | undefined;
  const configArg = seen.config;
  if (configArg !== undefined) {
    let text: string;
    let source: string;
    if (configArg.trimStart().startsWith('{')) {
      text = configArg;
      source = 'inline --config JSON';
    } else {
      configPath = configArg;
      source = `config file ${JSON.stringify(configArg)}`;
      if (!options.readFile) {
        throw bad(
          `--config ${JSON.stringify(configArg)} names a file, but no readFile was given (in Node use loadModuleArgs from 'autocore-ipc/node')`,
        );
      }
      try {
        text = options.readFile(configArg);
      } catch (e) {
        throw bad(`cannot read ${source}: ${e instanceof Error ? e.message : String(e)}`, e);
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw bad(`${source} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw bad(
        `${source} must hold a JSON object (got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed})`,
      );
    }
    config = parsed as Record<string, unknown>;
  }
  return { ipcAddress, moduleName, config, configPath, rest };
}

/**
 * mechutil-style namespace: `ModuleArgs.parse(argv, options)` is {@link parseModuleArgs}.
 *
 * @example
 * ```ts
 * const { ipcAddress, moduleName, config } = ModuleArgs.parse(['--module-name', 'press1']);
 * ```
 */
export const ModuleArgs = Object.freeze({
  parse: parseModuleArgs,
  DEFAULT_IPC_ADDRESS,
});
