// CLI: `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--steps K] [--verbose]` runs N simulated clusters.
import { runSeed, type SimCounts } from './simulation.js';

interface Args {
  seeds: number;
  seed: number;
  nodes: number;
  steps: number;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 100, seed: 1, nodes: 3, steps: 20000, verbose: false };
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
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--steps K] [--verbose]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (args.nodes < 1 || args.nodes > 9) throw new Error('--nodes must be between 1 and 9');
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

function main(): void {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const started = Date.now();
  const total = {} as SimCounts;
  let failures = 0;
  for (let s = args.seed; s < args.seed + args.seeds; s++) {
    const res = runSeed({ seed: s, nodes: args.nodes, steps: args.steps, verbose: args.verbose });
    addCounts(total, res.counts);
    if (args.verbose) for (const line of res.trace) console.log(line);
    if (!res.ok) {
      failures++;
      console.error(`\nFAIL seed=${s} nodes=${args.nodes} steps=${args.steps}: ${res.error}`);
      console.error(
        `replay: npm run sim -- --seeds 1 --seed ${s} --nodes ${args.nodes} --steps ${args.steps} --verbose`,
      );
      console.error('trace (last lines):');
      for (const line of res.trace.slice(-150)) console.error('  ' + line);
      break;
    }
  }
  const secs = (Date.now() - started) / 1000;
  console.log(
    `seeds ${args.seed}..${args.seed + args.seeds - 1}, ${args.nodes} nodes, ${args.steps} steps each: ${failures === 0 ? 'all passed' : 'FAILED'} in ${secs.toFixed(1)}s`,
  );
  console.log('exercised:');
  for (const [k, v] of Object.entries(total)) {
    console.log(`  ${k.padEnd(22)} ${typeof v === 'number' ? v : JSON.stringify(v)}`);
  }
  process.exit(failures === 0 ? 0 : 1);
}

main();
