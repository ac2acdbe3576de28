/**
 * The child side of {@link StandbyServers} (fault-server-process.ts): a process that has loaded
 * the server code and waits, idle, until told to listen. Bundled to plain JavaScript before it
 * runs, so it starts in a fraction of the time a TypeScript child needs; a kill/restart test
 * that restarts the server hundreds of times keeps the next one ready instead of waiting.
 *
 *   stdin  `{"listen": <port>, "options": {...IpcServerOptions}}`  (one line)
 *   stdout `{"standby": true}` once loaded, then `{"listening": true, "port": <port>}`
 *          or `{"failed": "<message>"}`
 *
 * It exits when stdin closes (or, the point of it, on SIGKILL).
 */
import { IpcServer, type IpcServerOptions } from '../../../src/node.ts';
import { readLines, writeLine as out } from './json-lines.ts';

let server: IpcServer | undefined;
readLines<{ listen: number; options?: IpcServerOptions }>(process.stdin, (cmd) => {
  if (server) return;
  IpcServer.listen({ ...cmd.options, port: cmd.listen }).then(
    (s) => {
      server = s;
      out({ listening: true, port: s.port });
    },
    (e: unknown) => out({ failed: e instanceof Error ? e.message : String(e) }),
  );
});
process.stdin.on('end', () => {
  void (server?.close({ timeoutMs: 300 }) ?? Promise.resolve()).then(() => process.exit(0));
});
out({ standby: true });
