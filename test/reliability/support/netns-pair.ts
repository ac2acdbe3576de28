/**
 * Two network namespaces joined by a veth pair, made and removed by a test, for faults that
 * loopback cannot show: a silent partition (packets dropped with iptables, so no FIN or RST ever
 * reaches either side). Needs root, `ip` (iproute2) and `iptables`; {@link netnsUnavailable}
 * says why not when they are missing, so the test can skip with that reason.
 *
 * Names are unique per run (pid + random), and {@link NetnsPair.dispose} deletes both
 * namespaces (which deletes the veth pair and the iptables rules with them).
 *
 * @example
 * ```ts
 * const pair = await createNetnsPair();
 * try {
 *   const child = pair.spawn('a', ['node', 'server.js']);
 *   // ... connect from namespace b to pair.addressA ...
 *   await pair.cut();
 * } finally {
 *   await pair.dispose();
 * }
 * ```
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Runs a command, bounded by `timeoutMs`; rejects with its stderr on failure. */
function run(cmd: string, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * Why namespaces cannot be used here (not root, a tool missing, `ip netns add` refused), or
 * undefined when they can. Tries a real `ip netns add`/`del` so a container without the
 * capability is caught too.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const [tool, flag] of [
    ['ip', '-V'],
    ['iptables', '--version'],
  ] as const) {
    try {
      await run(tool, [flag]);
    } catch {
      return `${tool} is not installed (apt-get install iproute2 iptables)`;
    }
  }
  const probe = `acprobe${process.pid % 100000}`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `ip netns add failed: ${(e as Error).message}`;
  }
  try {
    await run('ip', ['netns', 'exec', probe, 'iptables', '-L', '-n']);
  } catch (e) {
    return `iptables in a namespace failed: ${(e as Error).message}`;
  } finally {
    await run('ip', ['netns', 'del', probe]).catch(() => {});
  }
  return undefined;
}

/** Which end: `a` and `b`. */
export type NetnsSide = 'a' | 'b';

export interface NetnsPair {
  /** Namespace names. */
  readonly ns: Record<NetnsSide, string>;
  /** The veth interface of each side (inside its namespace). */
  readonly dev: Record<NetnsSide, string>;
  /** IPv4 address of each side. */
  readonly address: Record<NetnsSide, string>;
  /** Starts `command` inside a namespace (stdio piped; stderr inherited). */
  spawn(side: NetnsSide, command: string[], cwd?: string): ChildProcess;
  /**
   * Drops every packet on the veth link, both ways, in both namespaces: nothing (no FIN, no
   * RST) reaches either side any more. Resolves once the rules are in place.
   */
  cut(): Promise<void>;
  /** Kills what `spawn` started and deletes both namespaces. Safe to call twice. */
  dispose(): Promise<void>;
}

/** Creates two namespaces joined by a veth pair with addresses 10.x.y.1 (a) and 10.x.y.2 (b). */
export async function createNetnsPair(): Promise<NetnsPair> {
  const tag = `${process.pid % 100000}${randomBytes(2).toString('hex')}`;
  const ns = { a: `acipc-a-${tag}`, b: `acipc-b-${tag}` };
  // Interface names are limited to 15 characters.
  const dev = { a: `aca${tag}`.slice(0, 15), b: `acb${tag}`.slice(0, 15) };
  const r = randomBytes(2);
  const net = `10.${200 + ((r[0] ?? 0) % 50)}.${r[1] ?? 0}`;
  const address = { a: `${net}.1`, b: `${net}.2` };
  const children = new Set<ChildProcess>();
  let disposed = false;

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            const t = setTimeout(done, 3000);
            c.once('exit', () => {
              clearTimeout(t);
              done();
            });
            c.kill('SIGKILL');
          }),
      ),
    );
    for (const side of ['a', 'b'] as const) await run('ip', ['netns', 'del', ns[side]]).catch(() => {});
    // The veth pair goes with its namespaces; remove it from the root namespace in case the
    // setup failed before moving it.
    await run('ip', ['link', 'del', dev.a]).catch(() => {});
  };

  try {
    await run('ip', ['netns', 'add', ns.a]);
    await run('ip', ['netns', 'add', ns.b]);
    await run('ip', ['link', 'add', dev.a, 'type', 'veth', 'peer', 'name', dev.b]);
    for (const side of ['a', 'b'] as const) {
      await run('ip', ['link', 'set', dev[side], 'netns', ns[side]]);
      await run('ip', ['-n', ns[side], 'addr', 'add', `${address[side]}/24`, 'dev', dev[side]]);
      await run('ip', ['-n', ns[side], 'link', 'set', dev[side], 'up']);
      await run('ip', ['-n', ns[side], 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    await dispose();
    throw e;
  }

  return {
    ns,
    dev,
    address,
    spawn(side, command, cwd) {
      const [cmd, ...args] = command;
      if (cmd === undefined) throw new TypeError('spawn: empty command');
      const child = spawn('ip', ['netns', 'exec', ns[side], cmd, ...args], {
        cwd,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async cut() {
      // One process per namespace for both rules, so the two directions go down together.
      await Promise.all(
        (['a', 'b'] as const).map((side) =>
          run('ip', [
            'netns',
            'exec',
            ns[side],
            'sh',
            '-c',
            `iptables -I INPUT -i ${dev[side]} -j DROP && iptables -I OUTPUT -o ${dev[side]} -j DROP`,
          ]),
        ),
      );
    },
    dispose,
  };
}
