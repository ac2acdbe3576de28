#!/usr/bin/env node
// Make sure the machine has what `npm test` needs, installing it if possible.
//
//   1. node_modules in sync with package-lock.json   -> otherwise `npm ci`
//   2. a Chromium binary for the vitest browser project (default /usr/bin/chromium,
//      override with CHROMIUM_PATH)                 -> otherwise `apt-get install chromium`
//      when running as root, else explain and exit 1
//   3. the other Debian packages some tests use: iproute2 + iptables (the reliability suite's
//      network-namespace test) and nats-server + mosquitto (the benchmark smoke test also runs
//      the peers) -> `apt-get install` when running as root; otherwise those tests say they
//      are skipped / "not run", and this prints the command
//
// Plain Node, no dependencies: it runs before node_modules exists.
// `node scripts/ensure-deps.mjs --no-browser` skips Chromium (used by `npm start`).
// `node scripts/ensure-deps.mjs --check` only reports, it installs nothing (exit 1 if something is missing).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockfile = join(root, 'package-lock.json');
const hiddenLockfile = join(root, 'node_modules', '.package-lock.json');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const isWindows = process.platform === 'win32';
const checkOnly = process.argv.includes('--check');
// `--no-browser`: only the npm dependencies (what `npm start` needs).
const skipBrowser = process.argv.includes('--no-browser');

const log = (msg) => console.error(`[ensure-deps] ${msg}`);

function run(cmd, args, env = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  if (checkOnly) {
    log('--check: not running it');
    process.exitCode = 1;
    return;
  }
  const res = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
    shell: isWindows && cmd === 'npm',
  });
  if (res.error) {
    log(`failed to run ${cmd}: ${res.error.message}`);
    process.exit(1);
  }
  if (res.status !== 0) {
    log(`${cmd} ${args.join(' ')} exited with ${res.status ?? res.signal}`);
    process.exit(res.status || 1);
  }
}

const readJson = (file) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};

/**
 * Why node_modules must be (re)installed, or undefined if it is in sync.
 * Fast path: npm's hidden lockfile is at least as new as package-lock.json.
 * Slow path (mtimes can be misleading, e.g. after a git checkout): compare the
 * installed versions recorded in the hidden lockfile with package-lock.json.
 */
function installReason() {
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(hiddenLockfile)) return 'node_modules/.package-lock.json is missing';
  if (!existsSync(join(root, 'node_modules', '.bin', isWindows ? 'vitest.cmd' : 'vitest'))) {
    return 'vitest is not installed';
  }
  if (statSync(hiddenLockfile).mtimeMs >= statSync(lockfile).mtimeMs) return undefined;

  const wanted = readJson(lockfile)?.packages;
  const have = readJson(hiddenLockfile)?.packages;
  if (!wanted || !have) return 'node_modules/.package-lock.json is older than package-lock.json';
  for (const [path, meta] of Object.entries(wanted)) {
    if (path === '' || !path.includes('node_modules/') || meta.link) continue;
    const installed = have[path];
    if (!installed) {
      if (meta.optional) continue; // platform-specific binaries are legitimately absent
      return `${path} is not installed`;
    }
    if (installed.version !== meta.version) {
      return `${path} is ${installed.version}, package-lock.json wants ${meta.version}`;
    }
  }
  return undefined;
}

// 1. npm dependencies
if (existsSync(lockfile)) {
  const reason = installReason();
  if (reason) {
    log(`${reason}: running npm ci`);
    run('npm', ['ci', '--no-audit', '--no-fund']);
  }
} else if (!existsSync(join(root, 'node_modules'))) {
  log('no package-lock.json and no node_modules: running npm install');
  run('npm', ['install', '--no-audit', '--no-fund']);
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
let aptUpdated = false;
function aptInstall(packages) {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) run('apt-get', ['update'], env);
  aptUpdated = true;
  run('apt-get', ['install', '-y', ...packages], env);
}

// 2. Chromium for the browser test project
if (!skipBrowser && !existsSync(chromium)) {
  if (isRoot && chromium === '/usr/bin/chromium' && existsSync('/usr/bin/apt-get')) {
    log(`${chromium} is missing: installing the Debian chromium package`);
    aptInstall(['chromium']);
    if (!checkOnly && !existsSync(chromium)) {
      log(`apt-get install chromium finished but ${chromium} still does not exist`);
      process.exit(1);
    }
  } else {
    console.error(
      [
        '',
        `[ensure-deps] Chromium was not found at ${chromium}.`,
        '  The "browser" test project runs the core tests inside a real Chromium.',
        '  Install it (Debian/Ubuntu):',
        '      sudo apt-get update && sudo apt-get install -y chromium',
        '  or point CHROMIUM_PATH at an existing Chromium/Chrome binary:',
        '      CHROMIUM_PATH=/path/to/chrome npm test',
        '  (Running `npm test` as root installs it automatically.)',
        '',
      ].join('\n'),
    );
    process.exit(1);
  }
}

// 3. Debian packages that widen what the tests cover (not needed by `npm start`)
if (!skipBrowser) {
  const wanted = [
    ['iproute2', ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip']],
    ['iptables', ['/usr/sbin/iptables', '/sbin/iptables']],
    ['nats-server', ['/usr/sbin/nats-server', '/usr/bin/nats-server']],
    ['mosquitto', ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']],
  ];
  const missing = wanted.filter(([, paths]) => !paths.some((p) => existsSync(p))).map(([pkg]) => pkg);
  if (missing.length > 0) {
    if (isRoot && existsSync('/usr/bin/apt-get')) {
      log(`installing ${missing.join(', ')} (Debian packages some tests use)`);
      aptInstall(missing);
    } else {
      log(
        `${missing.join(', ')} not installed: the tests that need them are skipped or report "not run". ` +
          `Install with: sudo apt-get install -y ${missing.join(' ')}`,
      );
    }
  }
}
