/**
 * Bundle size of the browser side:
 *
 * 1. The SDK part a browser module needs (core + WebSocket transport + IpcClient): a minimal
 *    entry importing `IpcClient`, `webSocketConnector` and `CommandMessage` from src/index.ts,
 *    bundled and minified for the browser by esbuild and by Vite (rolldown, as the console is
 *    built), gzipped with node:zlib (level 9). Target: at most 15 kB (15,360 B) min+gzip.
 * 2. The web console's production bundle (web-demo, built with Vite): every emitted file raw
 *    (unminified build), minified, and minified+gzip.
 *
 *   node --import tsx bench/bundle-size.ts [--check]
 *
 * `--check` exits with code 1 when the SDK part is over its target with either bundler. Nothing is written to the
 * repository: builds go to a temp dir that is removed afterwards.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build as esbuild } from 'esbuild';
import { build as viteBuild } from 'vite';
import { writeSummary } from './lib/summary.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SDK_TARGET_BYTES = 15 * 1024;
const SDK_ENTRY = "export { IpcClient, webSocketConnector, CommandMessage } from './src/index.ts';";

const gzipSize = (bytes: Uint8Array | string): number => gzipSync(bytes, { level: 9 }).length;
const fmt = (n: number): string => n.toLocaleString('en-US');

interface SdkSize {
  tool: string;
  raw: number;
  min: number;
  gzip: number;
  /** Minified bytes per source file, largest first (esbuild only). */
  inputs: [string, number][];
}

/** The SDK part bundled by esbuild (browser platform, ES2022). */
async function sdkSizeEsbuild(): Promise<SdkSize> {
  const bundle = async (minify: boolean) =>
    esbuild({
      stdin: { contents: SDK_ENTRY, resolveDir: REPO, loader: 'ts', sourcefile: 'sdk-entry.ts' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      conditions: ['source'],
      minify,
      metafile: true,
      write: false,
      logLevel: 'warning',
    });
  const raw = await bundle(false);
  const min = await bundle(true);
  const code = min.outputFiles[0]?.contents ?? new Uint8Array();
  const output = Object.values(min.metafile.outputs)[0];
  const inputs = Object.entries(output?.inputs ?? {})
    .map(([file, v]): [string, number] => [file, v.bytesInOutput])
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1]);
  return {
    tool: 'esbuild',
    raw: raw.outputFiles[0]?.contents.length ?? 0,
    min: code.length,
    gzip: gzipSize(code),
    inputs,
  };
}

/**
 * The same entry bundled the way the console is built: Vite (rolldown + its minifier) in app
 * mode. Not library mode: Vite keeps whitespace in ES library builds.
 */
async function sdkSizeVite(tmp: string): Promise<SdkSize> {
  const entry = join(tmp, 'sdk-entry.js');
  await writeFile(entry, SDK_ENTRY.replace('./src/index.ts', join(REPO, 'src/index.ts')));
  const bundle = async (minify: boolean): Promise<string> => {
    const out = await viteBuild({
      configFile: false,
      logLevel: 'silent',
      root: tmp,
      resolve: { conditions: ['source', 'browser', 'module', 'import', 'default'] },
      build: {
        write: false,
        minify,
        target: 'es2022',
        rolldownOptions: { input: entry, preserveEntrySignatures: 'strict' },
      },
    });
    const result = Array.isArray(out) ? out[0] : out;
    const chunk = (result as { output: { type: string; code?: string }[] }).output.find(
      (o) => o.type === 'chunk',
    );
    return chunk?.code ?? '';
  };
  const raw = await bundle(false);
  const min = await bundle(true);
  return {
    tool: 'vite (rolldown)',
    raw: Buffer.byteLength(raw),
    min: Buffer.byteLength(min),
    gzip: gzipSize(min),
    inputs: [],
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

interface ConsoleFile {
  file: string;
  raw: number;
  min: number;
  gzip: number;
}

/** Builds the console twice (unminified and minified) and sizes each emitted file. */
async function consoleSize(tmp: string): Promise<ConsoleFile[]> {
  {
    const configFile = join(REPO, 'web-demo/vite.config.ts');
    const rawDir = join(tmp, 'raw');
    const minDir = join(tmp, 'min');
    // Fixed names, so the raw and minified builds line up file by file.
    const output = {
      entryFileNames: 'assets/[name].js',
      chunkFileNames: 'assets/[name].js',
      assetFileNames: 'assets/[name][extname]',
    };
    await viteBuild({
      configFile,
      logLevel: 'warn',
      build: {
        outDir: rawDir,
        emptyOutDir: true,
        minify: false,
        cssMinify: false,
        rolldownOptions: { output },
      },
      worker: { format: 'es', rolldownOptions: { output } },
    });
    await viteBuild({
      configFile,
      logLevel: 'warn',
      build: { outDir: minDir, emptyOutDir: true, rolldownOptions: { output } },
      worker: { format: 'es', rolldownOptions: { output } },
    });
    const files: ConsoleFile[] = [];
    for (const path of await listFiles(minDir)) {
      const name = relative(minDir, path);
      const min = await readFile(path);
      const raw = await readFile(join(rawDir, name)).catch(() => min);
      files.push({ file: name, raw: raw.length, min: min.length, gzip: gzipSize(min) });
    }
    return files;
  }
}

const tmp = await mkdtemp(join(tmpdir(), 'autocore-bundle-size-'));
let sdks: SdkSize[];
let files: ConsoleFile[];
try {
  sdks = [await sdkSizeEsbuild(), await sdkSizeVite(tmp)];
  files = await consoleSize(tmp);
} finally {
  await rm(tmp, { recursive: true, force: true });
}
const total = files.reduce(
  (t, f) => ({ raw: t.raw + f.raw, min: t.min + f.min, gzip: t.gzip + f.gzip }),
  { raw: 0, min: 0, gzip: 0 },
);
const jsGzip = files.filter((f) => f.file.endsWith('.js')).reduce((n, f) => n + f.gzip, 0);
const largest = Math.max(...sdks.map((s) => s.gzip));
const ok = largest <= SDK_TARGET_BYTES;
const status = (gzip: number): string =>
  gzip <= SDK_TARGET_BYTES
    ? `ok (${fmt(SDK_TARGET_BYTES - gzip)} B to spare)`
    : `OVER by ${fmt(gzip - SDK_TARGET_BYTES)} B`;
const inputs = sdks.find((s) => s.inputs.length > 0)?.inputs ?? [];

const lines = [
  '## SDK part: IpcClient + webSocketConnector + CommandMessage (core + WebSocket transport + client)',
  '',
  '| bundler | raw | minified | min+gzip | target | status |',
  '|---|---:|---:|---:|---:|---|',
  ...sdks.map(
    (s) =>
      `| ${s.tool} | ${fmt(s.raw)} B | ${fmt(s.min)} B | **${fmt(s.gzip)} B** | ${fmt(SDK_TARGET_BYTES)} B | ${status(s.gzip)} |`,
  ),
  '',
  '| largest inputs (esbuild, minified bytes in the bundle) | bytes |',
  '|---|---:|',
  ...inputs.slice(0, 8).map(([file, bytes]) => `| ${file} | ${fmt(bytes)} |`),
  '',
  '## Web console production bundle (vite build web-demo)',
  '',
  '| file | raw | minified | min+gzip |',
  '|---|---:|---:|---:|',
  ...files.map((f) => `| ${f.file} | ${fmt(f.raw)} B | ${fmt(f.min)} B | ${fmt(f.gzip)} B |`),
  `| **total** | **${fmt(total.raw)} B** | **${fmt(total.min)} B** | **${fmt(total.gzip)} B** |`,
  '',
  `JavaScript alone: ${fmt(jsGzip)} B min+gzip (the SDK is in the connection worker's chunk).`,
  'gzip: node:zlib level 9, each file on its own.',
];
console.log(lines.join('\n'));
writeSummary([
  ...sdks.map((s) => ({
    bench: 'bundle',
    workload: `SDK part for browsers, min+gzip (${s.tool})`,
    unit: 'B',
    higherIsBetter: false,
    ours: [s.gzip],
    target: `<= ${fmt(SDK_TARGET_BYTES)} B`,
    met: s.gzip <= SDK_TARGET_BYTES,
  })),
  { bench: 'bundle', workload: 'web console, all files min+gzip', unit: 'B', higherIsBetter: false, ours: [total.gzip] },
]);
if (process.argv.includes('--check') && !ok) process.exitCode = 1;
