// CLI: `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--steps K] [--jobs J] [--verbose]` runs N simulated clusters.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runSeed, type SimCounts } from './simulation.js';

interface Args {
  seeds: number;
  seed: number;
  nodes: number;
  steps: number;
  jobs: number;
  verbose: boolean;
}

const USAGE =
  'usage: npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--steps K] [--jobs J] [--verbose]\n' +
  '  --jobs J splits the seeds across J child processes and stops them all on the first failure';

/** Seeds a worker runs per request: small enough to balance the load and to report progress often. */
const CHUNK = 50;
/** How often the parent prints progress with --jobs. */
const PROGRESS_MS = 30_000;
const MAX_JOBS = 64;

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 100, seed: 1, nodes: 3, steps: 20000, jobs: 1, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--seeds') args.seeds = val();
    else if (a === '--seed') args.seed = val();
    else if (a === '--nodes') args.nodes = val();
    else if (a === '--steps') args.steps = val();
    else if (a === '--jobs') args.jobs = val();
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (args.nodes < 1 || args.nodes > 9) throw new Error('--nodes must be between 1 and 9');
  if (args.jobs < 1 || args.jobs > MAX_JOBS) throw new Error(`--jobs must be between 1 and ${MAX_JOBS}`);
  if (args.jobs > 1 && args.verbose) throw new Error('--verbose needs --jobs 1');
  return args;
}

function addCounts(total: SimCounts, c: SimCounts): void {
  for (const [k, v] of Object.entries(c) as [keyof SimCounts, unknown][]) {
    if (typeof v === 'number') (total[k] as number) = ((total[k] as number | undefined) ?? 0) + v;
    else {
      const t = ((total[k] as Record<string, number> | undefined) ?? {}) as Record<string, number>;
      for (const [kk, vv] of Object.entries(v as Record<string, number>)) t[kk] = (t[kk] ?? 0) + vv;
      (total[k] as Record<string, number>) = t;
    }
  }
}

interface Failure {
  seed: number;
  error: string;
  trace: string[];
}

/** The outcome of a range of seeds: every seed up to the first failure is counted. */
interface RangeResult {
  passed: number;
  counts: SimCounts;
  failure?: Failure;
}

function runRange(first: number, count: number, nodes: number, steps: number, verbose: boolean): RangeResult {
  const counts = {} as SimCounts;
  let passed = 0;
  for (let s = first; s < first + count; s++) {
    const res = runSeed({ seed: s, nodes, steps, verbose });
    addCounts(counts, res.counts);
    if (verbose) for (const line of res.trace) console.log(line);
    if (!res.ok) return { passed, counts, failure: { seed: s, error: res.error ?? '', trace: res.trace } };
    passed++;
  }
  return { passed, counts };
}

// ---- --jobs: a parent hands chunks of seeds to forked copies of this file

type ToWorker =
  { kind: 'run'; first: number; count: number; nodes: number; steps: number } | { kind: 'stop' };
type FromWorker = { kind: 'result'; first: number; count: number; result: RangeResult };

function worker(): void {
  process.on('message', (msg: ToWorker) => {
    if (msg.kind === 'stop') process.exit(0);
    const result = runRange(msg.first, msg.count, msg.nodes, msg.steps, false);
    // Only the last lines of a failing trace travel back: the parent prints no more than that.
    if (result.failure) result.failure.trace = result.failure.trace.slice(-150);
    const reply: FromWorker = { kind: 'result', first: msg.first, count: msg.count, result };
    process.send!(reply);
  });
}

function runJobs(args: Args, started: number): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const end = args.seed + args.seeds;
    let next = args.seed;
    const total: RangeResult = { passed: 0, counts: {} as SimCounts };
    let failure: Failure | undefined;
    let finished = false;
    const children: ChildProcess[] = [];
    const busy = new Set<ChildProcess>();
    /** The first seed of the chunk each busy worker runs. */
    const chunkOf = new Map<ChildProcess, number>();
    const self = fileURLToPath(import.meta.url);
    let lastProgress = Date.now();

    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearInterval(ticker);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      if (err) reject(err);
      else resolve(failure ? { ...total, failure } : total);
    };
    const progress = (): void => {
      const secs = (Date.now() - started) / 1000;
      const rate = total.passed / Math.max(secs, 1e-3);
      const left = end - args.seed - total.passed;
      console.log(
        `progress: ${total.passed}/${args.seeds} seeds passed in ${secs.toFixed(0)}s (${rate.toFixed(1)} seeds/s, ETA ${(left / Math.max(rate, 1e-9)).toFixed(0)}s)`,
      );
      lastProgress = Date.now();
    };
    const ticker = setInterval(() => {
      if (Date.now() - lastProgress >= PROGRESS_MS) progress();
    }, 1000);

    const dispatch = (c: ChildProcess): void => {
      if (finished) return;
      if (failure || next >= end) {
        busy.delete(c);
        c.send({ kind: 'stop' } satisfies ToWorker);
        if (busy.size === 0) finish();
        return;
      }
      const count = Math.min(CHUNK, end - next);
      busy.add(c);
      chunkOf.set(c, next);
      c.send({ kind: 'run', first: next, count, nodes: args.nodes, steps: args.steps } satisfies ToWorker);
      next += count;
    };

    const jobs = Math.min(args.jobs, Math.ceil(args.seeds / CHUNK));
    if (jobs === 0) {
      finish();
      return;
    }
    for (let j = 0; j < jobs; j++) {
      const c = fork(self, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(c);
      c.on('message', (msg: FromWorker) => {
        total.passed += msg.result.passed;
        addCounts(total.counts, msg.result.counts);
        const f = msg.result.failure;
        if (f && (!failure || f.seed < failure.seed)) {
          failure = f;
          // Stop the workers on later seeds at once; let those on earlier seeds finish, so that the failure
          // reported is the lowest failing seed (the same one on every run, whatever the scheduling).
          for (const other of busy) {
            if (other !== c && chunkOf.get(other)! > f.seed) {
              busy.delete(other);
              other.kill('SIGKILL');
            }
          }
        }
        dispatch(c);
      });
      c.on('error', (err) => finish(err));
      c.on('exit', (code, signal) => {
        if (!finished && busy.has(c)) {
          finish(new Error(`worker ${c.pid} exited (${signal ?? code}) while running seeds`));
        }
      });
      dispatch(c);
    }
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') {
    worker();
    return;
  }
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const started = Date.now();
  const res =
    args.jobs > 1
      ? await runJobs(args, started)
      : runRange(args.seed, args.seeds, args.nodes, args.steps, args.verbose);
  const f = res.failure;
  if (f) {
    console.error(`\nFAIL seed=${f.seed} nodes=${args.nodes} steps=${args.steps}: ${f.error}`);
    console.error(
      `replay: npm run sim -- --seeds 1 --seed ${f.seed} --nodes ${args.nodes} --steps ${args.steps} --verbose`,
    );
    console.error('trace (last lines):');
    for (const line of f.trace.slice(-150)) console.error('  ' + line);
  }
  const secs = (Date.now() - started) / 1000;
  console.log(
    `seeds ${args.seed}..${args.seed + args.seeds - 1}, ${args.nodes} nodes, ${args.steps} steps each, ${args.jobs} job${args.jobs === 1 ? '' : 's'}: ${f ? `FAILED (${res.passed} seeds passed)` : 'all passed'} in ${secs.toFixed(1)}s`,
  );
  console.log('exercised:');
  for (const [k, v] of Object.entries(res.counts)) {
    // Kinds sorted: the order in which chunks come back must not show in the output.
    const shown = typeof v === 'number' ? v : JSON.stringify(Object.fromEntries(Object.entries(v).sort()));
    console.log(`  ${k.padEnd(22)} ${shown}`);
  }
  process.exit(f ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
