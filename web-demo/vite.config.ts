/**
 * Vite config of the web console: `vite web-demo` (dev server) and `vite build web-demo`
 * (production bundle in web-demo/dist). The package is imported by name (`autocore-ipc`) and
 * resolved to its TypeScript sources, so the console always runs against the SDK in this repo.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative asset URLs: the built console can be served from any path.
  base: './',
  resolve: {
    alias: [{ find: /^autocore-ipc$/, replacement: here('../src/index.ts') }],
  },
  // The connection worker is an ES module worker (`new Worker(url, { type: 'module' })`).
  worker: { format: 'es' },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
