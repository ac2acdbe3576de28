/**
 * Runs one fast-check property for the fuzz suite: prints the seed first (so any run can be
 * replayed with `FUZZ_SEED=<n>`), counts the cases, and on a failure gives back the shrunk
 * counterexample as rows for `test/reliability/regressions/fuzz-cases.ts`.
 */
import fc from 'fast-check';

/** The seed of this run: `FUZZ_SEED` when set (to replay a failure), else a fresh one. */
export const FUZZ_SEED: number =
  process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== ''
    ? Number(process.env.FUZZ_SEED) | 0
    : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;

/**
 * `FUZZ_PATH`: the fast-check path a failure printed (e.g. `7288:1:6`), to replay that
 * counterexample with its `FUZZ_SEED` without the runs before it (a bare run index starts there
 * and, if that run holds, goes on with the next ones). It belongs to one property, so pass a file
 * filter with it (`npx vitest run --project reliability fuzz-server`).
 */
const FUZZ_PATH: string | undefined =
  process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH;

/** The outcome of {@link fuzz}. */
export interface FuzzOutcome {
  seed: number;
  /** Property runs made. */
  runs: number;
  /** The failure, with the seed, the fast-check path and the counterexample rows; undefined when it held. */
  failure: string | undefined;
  ms: number;
}

/**
 * Checks `check` (a problem description, or undefined when the case behaved as specified) on
 * `numRuns` inputs of `arb`. A thrown error counts as a failure too.
 */
export async function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: (input: T) => Promise<string | undefined> | string | undefined,
  options: { numRuns: number; rows: (input: T) => string[]; seed?: number },
): Promise<FuzzOutcome> {
  const seed = options.seed ?? FUZZ_SEED;
  console.log(
    `[fuzz] ${name}: seed ${seed} (replay with FUZZ_SEED=${seed}), ${options.numRuns} runs` +
      (FUZZ_PATH === undefined ? '' : `, replaying path ${FUZZ_PATH} only`),
  );
  const started = performance.now();
  let lastProblem = '';
  const details = await fc.check(
    fc.asyncProperty(arb, async (input) => {
      const problem = await check(input);
      if (problem !== undefined) {
        lastProblem = problem;
        return false;
      }
      return true;
    }),
    {
      numRuns: options.numRuns,
      seed,
      ...(FUZZ_PATH === undefined ? {} : { path: FUZZ_PATH }),
      endOnFailure: false,
      interruptAfterTimeLimit: 150_000,
    },
  );
  const ms = performance.now() - started;
  if (!details.failed) return { seed, runs: details.numRuns, failure: undefined, ms };
  const example = details.counterexample?.[0] as T | undefined;
  const rows = example === undefined ? [] : options.rows(example);
  const failure = [
    `${name}: property failed (seed ${seed}, path "${details.counterexamplePath ?? ''}", after ${details.numRuns} runs, ${details.numShrinks} shrinks)`,
    `problem: ${lastProblem || String(details.errorInstance)}`,
    `replay it alone with FUZZ_SEED=${seed} FUZZ_PATH=${details.counterexamplePath ?? ''}`,
    'keep it as a regression case: add these rows to test/reliability/regressions/fuzz-cases.ts',
    ...rows.map((r) => `  ${r}`),
  ].join('\n');
  return { seed, runs: details.numRuns, failure, ms };
}

/** Own property keys of Object.prototype and their descriptors' identity, to prove nothing was added or changed. */
export function prototypeSnapshot(): string {
  return Reflect.ownKeys(Object.prototype)
    .map((k) => {
      const d = Object.getOwnPropertyDescriptor(Object.prototype, k);
      return `${String(k)}:${typeof d?.value}:${String(d?.writable)}`;
    })
    .sort()
    .join('|');
}
