/**
 * The `autocore-ipc` command line: its commands, flags and help (commander), and the mapping of
 * every outcome to an exit code (see {@link EXIT}). Each command's module is loaded only when
 * that command runs, so `--help` and usage errors stay fast.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_IPC_ADDRESS, SDK_VERSION, parseAddress } from 'autocore-ipc';
import { CliError, EXIT, EXIT_CODES_HELP } from './exit-codes.ts';

function portArg(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError('expected a port number 0-65535 (0 = any free port).');
  }
  return Number(value);
}

function positiveIntArg(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) === 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return Number(value);
}

function addressArg(value: string): string {
  try {
    parseAddress(value);
  } catch {
    throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:9100.');
  }
  return value;
}

/** Flags every command that talks to a server shares. */
interface ClientFlags {
  address: string;
  timeout: number;
  token?: string;
}

function addClientOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-a, --address <host:port>', 'the IPC server')
        .env('AUTOCORE_IPC_ADDRESS')
        .default(DEFAULT_IPC_ADDRESS)
        .argParser(addressArg),
    )
    .addOption(
      new Option(
        '-t, --timeout <ms>',
        'give up connecting or waiting for an answer after this long',
      )
        .default(10_000)
        .argParser(positiveIntArg),
    )
    .addOption(
      new Option('--token <token>', 'token to register with, when the server requires one').env(
        'AUTOCORE_IPC_TOKEN',
      ),
    );
}

function sessionOf(flags: ClientFlags): {
  address: string;
  timeout: number;
  token?: string | undefined;
} {
  // An empty AUTOCORE_IPC_TOKEN counts as none.
  return { address: flags.address, timeout: flags.timeout, token: flags.token || undefined };
}

/**
 * Builds the program. Commands resolve with an exit code (or throw {@link CliError});
 * commander's own usage errors surface as `CommanderError` because of `exitOverride`.
 *
 * @example
 * ```ts
 * const program = createProgram((code) => (exitCode = code));
 * await program.parseAsync(['node', 'cli', 'call', 'system.ping']);
 * ```
 */
export function createProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('autocore-ipc')
    .description(
      'Talk to an autocore-ipc server from a terminal (call topics, watch broadcasts, list modules), or run a server, the WebSocket bridge, or the whole demo.',
    )
    .version(SDK_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help (`autocore-ipc <command> --help` for a command)')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, 'autocore-ipc: ')),
    })
    .addHelpText(
      'after',
      `
Examples:
  autocore-ipc serve                                  # server on 127.0.0.1:9100
  autocore-ipc demo                                   # server + bridge + press1 + web console
  autocore-ipc call system.ping
  autocore-ipc call press1.set_speed '{"rpm": 1200}'
  autocore-ipc listen 'press1.>' --count 5
  autocore-ipc modules
  autocore-ipc catalog press1
${EXIT_CODES_HELP}`,
    );

  program
    .command('serve')
    .description('run an IPC server in the foreground until Ctrl-C')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .addOption(
      new Option('-p, --port <port>', 'port, 0 = any free one').default(9100).argParser(portArg),
    )
    .addOption(
      new Option('--token <token>', 'require this token in every module Register').env(
        'AUTOCORE_IPC_TOKEN',
      ),
    )
    .option('--allow-non-loopback', 'allow a --host other machines can reach (use --token too)')
    .action(
      async (o: { host: string; port: number; token?: string; allowNonLoopback?: boolean }) => {
        const { serve } = await import('./commands/serve.ts');
        await serve({ ...o, token: o.token || undefined });
      },
    );

  program
    .command('bridge')
    .description(
      'run the WebSocket <-> TCP bridge for browsers until Ctrl-C (flags override --config)',
    )
    .option(
      '-c, --config <file>',
      'JSON config: tokens, permissions, origins, limits (see bridge/README.md)',
    )
    .option('--host <host>', 'interface to listen on (default 127.0.0.1)')
    .addOption(
      new Option('-p, --port <port>', 'port, 0 = any free one (default 9101)').argParser(portArg),
    )
    .addOption(
      new Option('-u, --upstream <host:port>', 'the IPC server (default 127.0.0.1:9100)').argParser(
        addressArg,
      ),
    )
    .option('--insecure', 'allow a non-loopback --host without tokens')
    .action(
      async (o: {
        config?: string;
        host?: string;
        port?: number;
        upstream?: string;
        insecure?: boolean;
      }) => {
        const { bridge } = await import('./commands/bridge.ts');
        await bridge(o);
      },
    );

  program
    .command('demo')
    .description(
      'the same as `npm start`: server, bridge, press1 module and the web console in one process',
    )
    .addOption(new Option('--port <port>', 'IPC server port').default(9100).argParser(portArg))
    .addOption(
      new Option('--bridge-port <port>', 'WebSocket bridge port').default(9101).argParser(portArg),
    )
    .addOption(
      new Option('--http-port <port>', 'console HTTP port').default(8080).argParser(portArg),
    )
    .option('--module <name>', 'name of the sample press module', 'press1')
    .option('--no-open', 'do not open the console in a browser')
    .option('--no-build', 'do not build web-demo/dist when it is missing (serve a placeholder)')
    .action(
      async (o: {
        port: number;
        bridgePort: number;
        httpPort: number;
        module: string;
        open: boolean;
        build: boolean;
      }) => {
        const { runDemo } = await import('../demo/start.ts');
        try {
          await runDemo({
            port: o.port,
            bridgePort: o.bridgePort,
            httpPort: o.httpPort,
            moduleName: o.module,
            build: o.build,
            ...(o.open ? {} : { open: false }),
          });
        } catch (e) {
          throw new CliError(EXIT.FAILED, `demo: cannot start: ${(e as Error).message}`, {
            cause: e,
          });
        }
      },
    );

  addClientOptions(
    program
      .command('call')
      .description("send a Request and print the Response's data as JSON")
      .argument('<topic>', 'topic, e.g. press1.set_speed or system.ping')
      .argument('[json]', 'request data as JSON, e.g. \'{"rpm": 1200}\' (default null)')
      .option('--compact', 'print the data on one line'),
  ).action(
    async (topic: string, json: string | undefined, o: ClientFlags & { compact?: boolean }) => {
      const { call } = await import('./commands/call.ts');
      await call(topic, json, { ...sessionOf(o), compact: o.compact === true });
    },
  );

  addClientOptions(
    program
      .command('listen')
      .description('print matching Broadcasts, one JSON line each: {"topic", "data", "time"}')
      .argument(
        '<pattern>',
        "topic pattern: literal segments, * (one segment), > (the rest), e.g. 'press1.>'",
      )
      .addOption(
        new Option('-n, --count <n>', 'stop after n broadcasts').argParser(positiveIntArg),
      ),
  ).action(async (pattern: string, o: ClientFlags & { count?: number }) => {
    const { listen } = await import('./commands/listen.ts');
    await listen(pattern, { ...sessionOf(o), count: o.count });
  });

  addClientOptions(
    program
      .command('modules')
      .description('list the registered modules (system.get_domains)')
      .option('--json', 'print the JSON answer instead of a table'),
  ).action(async (o: ClientFlags & { json?: boolean }) => {
    const { modules } = await import('./commands/inspect.ts');
    await modules({ ...sessionOf(o), json: o.json === true });
  });

  addClientOptions(
    program
      .command('catalog')
      .description(
        "list the topics a module serves (<domain>.get_catalog; 'system' for everything)",
      )
      .argument('<domain>', 'module name, e.g. press1')
      .option('--json', 'print the JSON answer'),
  ).action(async (domain: string, o: ClientFlags & { json?: boolean }) => {
    const { catalog } = await import('./commands/inspect.ts');
    await catalog(domain, { ...sessionOf(o), json: o.json === true });
  });

  program
    .command('bench')
    .description('run the TCP benchmark (bench/tcp.bench.ts, as npm run bench:tcp)')
    .option('--quick', 'a short run')
    .action(async (o: { quick?: boolean }) => {
      const { bench } = await import('./commands/bench.ts');
      setExitCode(await bench({ quick: o.quick === true }));
    });

  for (const cmd of program.commands) cmd.addHelpText('after', EXIT_CODES_HELP);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and resolves with the exit code. Errors are
 * printed on stderr; nothing here calls `process.exit`.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv);
 * ```
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = createProgram((code) => (exitCode = code));
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with exitCode 0; every usage error is exit 2.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (e instanceof CliError) {
      process.stderr.write(`autocore-ipc: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `autocore-ipc: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    return EXIT.FAILED;
  }
}
