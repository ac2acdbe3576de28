import { describe, expect, it } from 'vitest';
import { IpcError } from '../../../src/core/errors.ts';
import {
  DEFAULT_IPC_ADDRESS,
  ModuleArgs,
  parseModuleArgs,
} from '../../../src/client/module-args.ts';

function fails(argv: string[], text: string | RegExp, options = {}): void {
  let caught: unknown;
  try {
    parseModuleArgs(argv, options);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(IpcError);
  expect((caught as IpcError).code).toBe('ERR_INVALID_ARGUMENT');
  expect((caught as IpcError).message).toMatch(text);
}

describe('ModuleArgs.parse', () => {
  it('needs only --module-name and defaults the address to 127.0.0.1:9100', () => {
    expect(ModuleArgs.parse(['--module-name', 'press1'])).toEqual({
      ipcAddress: '127.0.0.1:9100',
      moduleName: 'press1',
      config: undefined,
      configPath: undefined,
      rest: [],
    });
    expect(DEFAULT_IPC_ADDRESS).toBe('127.0.0.1:9100');
  });

  it('accepts --flag value and --flag=value', () => {
    const a = parseModuleArgs(['--ipc-address', '10.0.0.5:9200', '--module-name=press_2']);
    expect(a.ipcAddress).toBe('10.0.0.5:9200');
    expect(a.moduleName).toBe('press_2');
    const b = parseModuleArgs(['--ipc-address=[::1]:9100', '--module-name', 'x-1']);
    expect(b.ipcAddress).toBe('[::1]:9100');
  });

  it('parses inline JSON config with --config and -c (what autocore-server passes)', () => {
    expect(parseModuleArgs(['--module-name', 'm', '--config', '{"rpm":1200}']).config).toEqual({
      rpm: 1200,
    });
    expect(parseModuleArgs(['--module-name', 'm', '-c', ' {"a":[1,2]}']).config).toEqual({
      a: [1, 2],
    });
    expect(parseModuleArgs(['--module-name', 'm', '--config={"x":true}']).config).toEqual({
      x: true,
    });
  });

  it('reads a config file through the injected readFile', () => {
    const files: Record<string, string> = { '/etc/press.json': '{"speed": 3}' };
    const args = parseModuleArgs(['--module-name', 'm', '-c', '/etc/press.json'], {
      readFile: (p) => {
        const text = files[p];
        if (text === undefined) throw new Error(`ENOENT: no such file '${p}'`);
        return text;
      },
    });
    expect(args.config).toEqual({ speed: 3 });
    expect(args.configPath).toBe('/etc/press.json');
  });

  it('keeps __proto__ in config as plain data', () => {
    const args = parseModuleArgs(['--module-name', 'm', '-c', '{"__proto__":{"polluted":1}}']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(args.config)).toBe(Object.prototype);
  });

  it('fails clearly on a missing module name', () => {
    fails([], /--module-name is required/);
    fails(['--ipc-address', '127.0.0.1:1'], /--module-name is required/);
  });

  it('fails clearly on an invalid module name', () => {
    fails(['--module-name', 'a.b'], /--module-name "a.b" is invalid/);
    fails(['--module-name', 'system'], /is invalid/);
    fails(['--module-name', 'x'.repeat(65)], /is invalid/);
  });

  it('fails clearly on unknown flags and stray arguments', () => {
    fails(['--module-name', 'm', '--verbose'], /unknown flag "--verbose"/);
    fails(['--module-name', 'm', '--port=1'], /unknown flag "--port"/);
    fails(['press1'], /unexpected argument "press1"/);
  });

  it('collects unknown arguments with allowUnknown, and everything after --', () => {
    const a = parseModuleArgs(
      ['--verbose', '--module-name', 'm', 'x', '--', '--module-name', 'y'],
      {
        allowUnknown: true,
      },
    );
    expect(a.moduleName).toBe('m');
    expect(a.rest).toEqual(['--verbose', 'x', '--module-name', 'y']);
    expect(parseModuleArgs(['--module-name', 'm', '--', 'a', '-b']).rest).toEqual(['a', '-b']);
  });

  it('fails clearly on missing values', () => {
    fails(['--module-name'], /--module-name needs a value/);
    fails(['--module-name='], /--module-name needs a value/);
    fails(['--ipc-address', '--module-name', 'm'], /--ipc-address needs a value/);
    fails(['--module-name', 'm', '-c'], /-c needs a value/);
  });

  it('fails on a repeated flag', () => {
    fails(['--module-name', 'a', '--module-name', 'b'], /--module-name given twice/);
    fails(['--module-name', 'a', '-c', '{}', '--config', '{}'], /--config given twice/);
  });

  it('fails clearly on a bad address', () => {
    fails(
      ['--module-name', 'm', '--ipc-address', 'localhost'],
      /--ipc-address "localhost" is not host:port/,
    );
    fails(['--module-name', 'm', '--ipc-address', '1.2.3.4:99999'], /is not host:port/);
  });

  it('fails clearly on invalid or non-object JSON', () => {
    fails(['--module-name', 'm', '-c', '{nope'], /inline --config JSON is not valid JSON/);
    fails(['--module-name', 'm', '-c', 'cfg.json'], /not valid JSON/, {
      readFile: () => '[1, 2]x',
    });
    fails(['--module-name', 'm', '-c', 'cfg.json'], /must hold a JSON object \(got an array\)/, {
      readFile: () => '[1, 2]',
    });
    fails(['--module-name', 'm', '-c', 'cfg.json'], /must hold a JSON object \(got null\)/, {
      readFile: () => 'null',
    });
  });

  it('fails clearly on an unreadable config file, and without readFile', () => {
    fails(
      ['--module-name', 'm', '-c', '/missing.json'],
      /cannot read config file "\/missing.json": ENOENT/,
      {
        readFile: () => {
          throw new Error('ENOENT: no such file or directory');
        },
      },
    );
    fails(['--module-name', 'm', '-c', 'cfg.json'], /names a file, but no readFile was given/);
  });

  it('names the usage in every error', () => {
    fails(['--bogus'], /usage: --module-name <name>/);
  });
});
