// `npm run torture`: a seeded fault-injection run against a real bin/store cluster, checked for
// linearizability, lost writes, watch guarantees and convergence. Exits 1 with the seed on any violation.
import { Command } from 'commander';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFaults, FAULT_KINDS } from './faults.js';
import { printSummary, runTorture } from './run.js';

async function main(): Promise<void> {
  const program = new Command()
    .name('torture')
    .description('Fault injection against a bin/store cluster, with linearizability and watch checks.')
    .option('--seed <n>', 'seed of every random choice (default: random)')
    .option('--duration <seconds>', 'how long clients and faults run', '30')
    .option('--members <n>', 'cluster size: 1, 3 or 5', '1')
    .option('--clients <n>', 'concurrent clients', '8')
    .option(
      '--faults <kinds>',
      `comma-separated fault kinds, "all" or "none" (${FAULT_KINDS.join(', ')})`,
      'all',
    )
    .option('--out <dir>', 'where history.json and summary.json go (default: a temp dir)')
    .option('--no-freeze', 'run members from dist/ as it is, not from a private copy of the build')
    .option('--quiet', 'no progress lines')
    .option('--peer-tls', 'members talk TLS to each other (test certificates made with openssl)');
  program.parse();
  const o = program.opts();
  const seed = o.seed !== undefined ? Number(o.seed) : Math.floor(Math.random() * 2 ** 31);
  const members = Number(o.members);
  if (![1, 3, 5].includes(members)) throw new Error(`--members must be 1, 3 or 5, not ${o.members}`);
  const durationS = Number(o.duration);
  if (!(durationS > 0 && durationS <= 24 * 3600))
    throw new Error(`--duration must be in (0, 86400], not ${o.duration}`);
  const clients = Number(o.clients);
  if (!(Number.isInteger(clients) && clients >= 1 && clients <= 256))
    throw new Error(`--clients must be 1..256`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer`);
  const out = o.out ?? join(tmpdir(), `torture-${seed}-${Date.now()}`);
  // Every run ends by itself: a watchdog well past the longest legitimate tail (healing, convergence,
  // reading the history back, checking), and Ctrl-C still stops the members (exit handlers kill them).
  setTimeout(
    () => {
      console.error(`torture: seed ${seed}: watchdog fired after ${durationS + 600} s; stopping`);
      process.exit(2);
    },
    (durationS + 600) * 1000,
  ).unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const summary = await runTorture({
    seed,
    durationS,
    members,
    clients,
    faults: parseFaults(o.faults),
    out,
    freeze: o.freeze !== false,
    peerTls: !!o.peerTls,
    log: o.quiet ? undefined : (l) => console.error(`[${new Date().toISOString().slice(11, 23)}] ${l}`),
  });
  printSummary(summary);
  process.exit(summary.ok ? 0 : 1);
}

main().catch((err) => {
  console.error(`torture: ${(err as Error).stack ?? err}`);
  process.exit(2);
});
