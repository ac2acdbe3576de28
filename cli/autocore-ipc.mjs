#!/usr/bin/env node
// Launcher of the `autocore-ipc` command (package.json "bin"). The CLI is TypeScript run from
// source: re-execute Node with the `source` export condition (so `autocore-ipc` resolves to
// src/*.ts) and tsx as loader, both resolved from this package, whatever the working directory.
// Exit code and signals pass through.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
let tsx;
try {
  tsx = pathToFileURL(require.resolve('tsx')).href;
} catch {
  console.error(
    'autocore-ipc: cannot find tsx; run `npm install` in the autocore-ipc package first',
  );
  process.exit(1);
}
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

const child = spawn(
  process.execPath,
  [...process.execArgv, '--conditions=source', '--import', tsx, cli, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);

// Pass signals on (the CLI treats a repeat within a moment as the same Ctrl-C, so a terminal's
// Ctrl-C reaching both processes does not count twice) and let the CLI decide when to end.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (e) => {
  console.error(`autocore-ipc: cannot start node: ${e.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
