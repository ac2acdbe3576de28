/**
 * Entry point of the `autocore-ipc` command line (see cli/README.md):
 *
 *   node --conditions=source --import tsx cli/cli.ts <command> [options]
 *   npm run cli -- <command> [options]
 *   npx autocore-ipc <command> [options]          (through cli/autocore-ipc.mjs)
 */
import { runCli } from './program.ts';

const code = await runCli(process.argv);
process.exitCode = code;
// Everything is closed by now, so the process ends on its own; should some handle still hold
// the event loop, this unref'd timer ends it with the right code instead of hanging.
setTimeout(() => process.exit(code), 2000).unref();
