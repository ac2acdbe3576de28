/**
 * `autocore-ipc bench`: runs the TCP benchmark (`bench/tcp.bench.ts`, what `npm run bench:tcp`
 * runs) in a child process with the console attached.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError, EXIT } from '../exit-codes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs the benchmark and resolves with its exit code. Ctrl-C reaches the child directly (same
 * terminal process group); a SIGTERM sent to the CLI is passed on.
 *
 * @example
 * ```ts
 * process.exitCode = await bench({ quick: true });
 * ```
 */
export async function bench(options: { quick?: boolean }): Promise<number> {
  const script = join(ROOT, 'bench', 'tcp.bench.ts');
  if (!existsSync(script)) {
    throw new CliError(
      EXIT.FAILED,
      `the TCP benchmark is not available: ${script} does not exist in this checkout.\n` +
        'Other benchmarks: npm run bench:codec, npm run bench:router',
    );
  }
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', tsx, script, ...(options.quick ? ['--quick'] : [])],
    { cwd: ROOT, stdio: 'inherit' },
  );
  // Ctrl-C reaches the child from the terminal itself: ours only must not kill us before it.
  const ignore = (): void => {};
  const forward = (): void => {
    child.kill('SIGTERM');
  };
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (e) =>
        reject(new CliError(EXIT.FAILED, `cannot run the benchmark: ${e.message}`)),
      );
      child.on('exit', (code, signal) =>
        resolve(code ?? (signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.FAILED)),
      );
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
  }
}
