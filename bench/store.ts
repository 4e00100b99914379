// `npm run bench -- store [--duration S] [--only NAME] [--rounds N] [--warmup S]`: the same workloads against
// bin/store and a real etcd 3.4 (both started here, on this machine), side by side: ops/s, p50/p99 latency,
// and the ratio. With --rounds N the two take turns N times and the table shows medians (see rounds()).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawClient, type RawEtcdClient } from '../store/api/index.js';
import { startStore } from '../store/server/testing.js';
import { hasCommand, startRealEtcd } from '../test/support/index.js';

export interface Result {
  workload: string;
  ops: number;
  opsPerSec: number;
  p50ms: number;
  p99ms: number;
}

const B = (s: string) => Buffer.from(s);
/**
 * Unmeasured load before the workloads (`--warmup S`). Node compiles hot code while it runs, on the same 2
 * cores as everything else: a fresh 3-member cluster's single-client put went 347, 444, 595, 641, 665 puts/s
 * over successive 2.5 s stretches and then stayed there; after 5 s of this warm-up it starts at 630-680.
 * etcd, compiled ahead of time, gets the same warm-up and does not change with it.
 */
const DEFAULT_WARMUP_MS = 5000;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `op` from `clients` concurrent loops for `ms`, spread over `conns` connections. */
export async function closedLoop(
  name: string,
  conns: RawEtcdClient[],
  clients: number,
  ms: number,
  op: (c: RawEtcdClient, i: number) => Promise<unknown>,
): Promise<Result> {
  const lat: number[] = [];
  const end = Date.now() + ms;
  let n = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      const c = conns[k % conns.length]!;
      while (Date.now() < end) {
        const s = process.hrtime.bigint();
        await op(c, n++);
        lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  return {
    workload: name,
    ops: lat.length,
    opsPerSec: lat.length / secs,
    p50ms: pct(lat, 50),
    p99ms: pct(lat, 99),
  };
}

export async function watchFanout(conns: RawEtcdClient[], watchers: number, ms: number): Promise<Result> {
  const key = B('bench/watch');
  const sent = new Map<number, bigint>();
  const lat: number[] = [];
  let delivered = 0;
  const streams = Array.from({ length: watchers }, (_, i) => {
    const st = conns[i % conns.length]!.watch();
    st.on('data', (r: any) => {
      for (const e of r.events ?? []) {
        const at = sent.get(Number(e.kv.modRevision));
        if (at !== undefined) lat.push(Number(process.hrtime.bigint() - at) / 1e6);
        delivered++;
      }
    });
    st.on('error', () => undefined);
    st.write({ createRequest: { key } });
    return st;
  });
  // Let every watcher register before the first write.
  await new Promise((r) => setTimeout(r, 500));
  const end = Date.now() + ms;
  const t0 = process.hrtime.bigint();
  const w = conns[0]!;
  // One sequential writer: the next put's revision is the last one + 1. Record the start time under it
  // before sending, since a store may deliver the event before the put's own response arrives.
  let rev = Number((await w.kv.Range({ key })).header.revision);
  while (Date.now() < end) {
    sent.set(rev + 1, process.hrtime.bigint());
    const resp = await w.kv.Put({ key, value: B('x'.repeat(64)) });
    rev = Number(resp.header.revision);
  }
  await new Promise((r) => setTimeout(r, 500));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const st of streams) st.cancel();
  lat.sort((a, b) => a - b);
  return {
    workload: `watch fan-out (${watchers} watchers), events`,
    ops: delivered,
    opsPerSec: delivered / secs,
    p50ms: pct(lat, 50),
    p99ms: pct(lat, 99),
  };
}

/** The workloads against one endpoint, or spread over several (connections round-robin, e.g. a cluster). */
export async function suite(
  endpoint: string | string[],
  ms: number,
  only?: string,
  warmupMs = DEFAULT_WARMUP_MS,
): Promise<Result[]> {
  const eps = Array.isArray(endpoint) ? endpoint : [endpoint];
  const conns = Array.from({ length: 10 }, (_, i) => rawClient(eps[i % eps.length]!, 60_000));
  const value = B('v'.repeat(256));
  const out: Result[] = [];
  const want = (n: string) => !only || n.includes(only);
  try {
    // Warm-up, the same for both servers and not measured: connections set up, and bin/store's JavaScript
    // compiled by the JIT, as it is in any server that has been up for more than a few seconds.
    await closedLoop('warm-up', conns, 20, warmupMs, (c, i) =>
      i % 2
        ? c.kv.Put({ key: B(`bench/warm${i % 100}`), value })
        : c.kv.Range({ key: B(`bench/warm${i % 100}`) }),
    );
    if (want('put'))
      out.push(
        await closedLoop('put, 1 client', conns, 1, ms, (c, i) =>
          c.kv.Put({ key: B(`bench/k${i % 10000}`), value }),
        ),
      );
    if (want('put'))
      out.push(
        await closedLoop('put, 100 clients', conns, 100, ms, (c, i) =>
          c.kv.Put({ key: B(`bench/k${i % 10000}`), value }),
        ),
      );
    if (want('get'))
      out.push(
        await closedLoop('get (linearizable), 100 clients', conns, 100, ms, (c, i) =>
          c.kv.Range({ key: B(`bench/k${i % 1000}`) }),
        ),
      );
    if (want('txn')) {
      await conns[0]!.kv.Put({ key: B('bench/cas'), value: B('0') });
      out.push(
        await closedLoop('txn compare-and-swap, 10 clients', conns, 10, ms, async (c) => {
          // Read the key, then swap only if nobody changed it since (what the apiserver does on update).
          const r = await c.kv.Range({ key: B('bench/cas') });
          const mod = r.kvs[0].modRevision;
          return c.kv.Txn({
            compare: [
              { result: 0, target: 2, key: B('bench/cas'), modRevision: mod, targetUnion: 'modRevision' },
            ],
            success: [{ requestPut: { key: B('bench/cas'), value: B(String(Number(r.kvs[0].value) + 1)) } }],
            failure: [],
          });
        }),
      );
    }
    if (want('watch')) out.push(await watchFanout(conns, 100, ms));
  } finally {
    for (const c of conns) c.close();
  }
  return out;
}

/**
 * Runs the suite against each side in turn, `n` times (ours, then the reference, then ours...), so that both
 * see the same stretches of machine load; a side without a runner gets no results.
 */
export async function rounds(
  n: number,
  ours: () => Promise<Result[]>,
  ref: (() => Promise<Result[]>) | undefined,
): Promise<{ ours: Result[][]; ref: Result[][] }> {
  const out = { ours: [] as Result[][], ref: [] as Result[][] };
  for (let i = 0; i < n; i++) {
    out.ours.push(await ours());
    if (ref) out.ref.push(await ref());
  }
  return out;
}

/** The flags the store and cluster benchmarks share, checked: a bad one is a one-line UsageError. */
export function benchFlags(args: string[]): { ms: number; only?: string; rounds: number; warmupMs: number } {
  const arg = (n: string) => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const usage = (msg: string) => Object.assign(new Error(msg), { name: 'UsageError' });
  const duration = Number(arg('--duration') ?? 3);
  if (!Number.isFinite(duration) || duration <= 0)
    throw usage(`--duration wants seconds (more than 0), not ${arg('--duration')}`);
  const rounds = Number(arg('--rounds') ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw usage(`--rounds wants a positive integer, not ${arg('--rounds')}`);
  const warmup = Number(arg('--warmup') ?? DEFAULT_WARMUP_MS / 1000);
  if (!Number.isFinite(warmup) || warmup < 0)
    throw usage(`--warmup wants seconds (0 or more), not ${arg('--warmup')}`);
  return { ms: duration * 1000, only: arg('--only'), rounds, warmupMs: warmup * 1000 };
}

export async function run(args: string[]): Promise<void> {
  const { ms, only, rounds: n, warmupMs: warmup } = benchFlags(args);
  const store = await startStore({ extraArgs: ['--log-level', 'warn'] });
  const etcd = hasCommand('etcd')
    ? await startRealEtcd().catch(async (err) => {
        await store.destroy();
        throw err;
      })
    : undefined;
  let res: { ours: Result[][]; ref: Result[][] };
  try {
    res = await rounds(
      n,
      () => suite(store.endpoint, ms, only, warmup),
      etcd && (() => suite(etcd.endpoint, ms, only, warmup)),
    );
  } finally {
    await store.destroy();
    await etcd?.stop();
  }
  report(`bin/store vs etcd ${etcd ? '3.4' : '(not installed)'}`, res.ours, res.ref, ms, 'store.json');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One workload's results over the rounds, as medians (ops/s, p50 and p99 each taken separately). */
function medianResult(rs: Result[]): Result {
  return {
    workload: rs[0]!.workload,
    ops: median(rs.map((r) => r.ops)),
    opsPerSec: median(rs.map((r) => r.opsPerSec)),
    p50ms: median(rs.map((r) => r.p50ms)),
    p99ms: median(rs.map((r) => r.p99ms)),
  };
}

/**
 * Pairs our results with etcd's by workload, prints the side-by-side table and writes
 * bench/results/<fileName> (shared with the cluster benchmark). Given several rounds, each number is the
 * median over the rounds and the ratio the median of the rounds' own ratios; every round's ratio is listed.
 */
export function report(
  title: string,
  oursRounds: Result[][],
  refRounds: Result[][],
  ms: number,
  fileName: string,
  extra: Record<string, unknown> = {},
): void {
  const byWorkload = (all: Result[][], w: string) =>
    all.map((rs) => rs.find((r) => r.workload === w)).filter((r): r is Result => r !== undefined);
  const rows = oursRounds[0]!.map(({ workload }) => {
    const mine = byWorkload(oursRounds, workload);
    const theirs = byWorkload(refRounds, workload);
    const ratios =
      theirs.length === mine.length ? mine.map((r, i) => r.opsPerSec / theirs[i]!.opsPerSec) : [];
    return {
      workload,
      store: medianResult(mine),
      etcd: theirs.length ? medianResult(theirs) : null,
      ratio: ratios.length ? median(ratios) : null,
      ...(mine.length > 1 ? { ratios, rounds: { store: mine, etcd: theirs } } : {}),
    };
  });
  const n = oursRounds.length;
  const f = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
  const medians = n > 1 ? `, medians of ${n} rounds` : '';
  console.log(`\n${title} on this machine, ${ms / 1000}s per workload${medians}\n`);
  console.log(
    [
      'workload'.padEnd(44),
      'store ops/s',
      'p50 ms',
      'p99 ms',
      '| etcd ops/s',
      'p50 ms',
      'p99 ms',
      '| ratio',
      ...(n > 1 ? ['(each round)'] : []),
    ].join('  '),
  );
  for (const r of rows) {
    console.log(
      [
        r.workload.padEnd(44),
        f(r.store.opsPerSec, 0).padStart(11),
        f(r.store.p50ms, 2).padStart(6),
        f(r.store.p99ms, 2).padStart(6),
        '| ' + f(r.etcd?.opsPerSec, 0).padStart(9),
        f(r.etcd?.p50ms, 2).padStart(6),
        f(r.etcd?.p99ms, 2).padStart(6),
        '| ' + (r.ratio === null ? '-' : r.ratio.toFixed(2)).padEnd(5),
        ...(r.ratios && r.ratios.length ? [r.ratios.map((x) => x.toFixed(2)).join(' ')] : []),
      ].join('  '),
    );
  }
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', fileName);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), durationMs: ms, rounds: n, ...extra, rows }, null, 2) +
      '\n',
  );
  console.log(`\nwrote ${file}`);
}
