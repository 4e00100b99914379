// WAL benchmark: syncs/s and entries/s for batches of 1 and 100 x 256-byte entries (one save + one sync
// per batch, serial and pipelined), fsync latency percentiles, replay speed and CRC throughput.
// Run: `npm run build && node dist/store/wal/bench.js [--seconds 3] [--dir /path/on/the/disk/to/test]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Entry } from '../raft/index.js';
import { crc32c } from './crc32c.js';
import { silentLogger, WAL } from './index.js';

interface Result {
  name: string;
  batches: number;
  entries: number;
  seconds: number;
  fsyncs: number[];
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function measure(
  root: string,
  name: string,
  batch: number,
  pipelined: boolean,
  seconds: number,
): Promise<Result> {
  const dir = join(root, name.replace(/\W+/g, '-'));
  const fsyncs: number[] = [];
  const wal = await WAL.create(
    dir,
    { memberId: 'bench', clusterId: 'bench' },
    { logger: silentLogger, onFsync: (s) => fsyncs.push(s) },
  );
  const data = new Uint8Array(256).fill(7);
  let index = 0;
  let batches = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline) {
    const entries: Entry[] = [];
    for (let i = 0; i < batch; i++) entries.push({ index: ++index, term: 1, type: 0, data });
    wal.save({ term: 1, vote: 'bench', commit: index - batch }, entries);
    const p = wal.sync();
    batches++;
    if (!pipelined) await p;
    else {
      // A Raft loop that prepares the next Ready while the disk works: at most two syncs outstanding.
      inflight.push(p);
      if (inflight.length >= 2) await inflight.shift();
    }
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  await wal.close();
  return { name, batches, entries: index, seconds: elapsed, fsyncs };
}

export async function run(args: string[]): Promise<void> {
  const secondsAt = args.indexOf('--seconds');
  const seconds = secondsAt >= 0 ? Number(args[secondsAt + 1]) : 3;
  const dirAt = args.indexOf('--dir');
  const root = mkdtempSync(join(dirAt >= 0 ? args[dirAt + 1]! : tmpdir(), 'wal-bench-'));
  try {
    const results: Result[] = [];
    for (const [batch, pipelined] of [
      [1, false],
      [100, false],
      [1, true],
      [100, true],
    ] as const) {
      results.push(
        await measure(
          root,
          `batch ${batch} x 256B${pipelined ? ' pipelined' : ''}`,
          batch,
          pipelined,
          seconds,
        ),
      );
    }
    console.log(
      '| workload | batches (= sync calls)/s | fdatasyncs/s | entries/s | MB/s | fsync p50 ms | fsync p99 ms |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const r of results) {
      const row = [
        r.name,
        (r.batches / r.seconds).toFixed(0),
        (r.fsyncs.length / r.seconds).toFixed(0),
        (r.entries / r.seconds).toFixed(0),
        ((r.entries * 256) / r.seconds / 1e6).toFixed(1),
        (percentile(r.fsyncs, 50) * 1000).toFixed(2),
        (percentile(r.fsyncs, 99) * 1000).toFixed(2),
      ];
      console.log(`| ${row.join(' | ')} |`);
    }

    // The floor: the same disk with no WAL at all, one 300-byte write + fdatasync per round.
    const fh = await open(join(root, 'raw'), 'w');
    const raw = Buffer.alloc(300, 1);
    let pos = 0;
    let n = 0;
    const r0 = performance.now();
    while (performance.now() - r0 < seconds * 1000) {
      await fh.write(raw, 0, raw.length, pos);
      pos += raw.length;
      await fh.datasync();
      n++;
    }
    await fh.close();
    console.log(
      `raw floor (no WAL): ${(n / ((performance.now() - r0) / 1000)).toFixed(0)} write+fdatasync/s`,
    );

    // Replay: how fast a restarting member reads its log back.
    const big = join(root, 'batch-100-x-256B');
    const t0 = performance.now();
    const w = await WAL.open(big, undefined, { logger: silentLogger });
    const { entries } = await w.readAll();
    const replay = (performance.now() - t0) / 1000;
    await w.close();
    console.log(
      `replay: ${entries.length} entries in ${replay.toFixed(2)} s = ${(entries.length / replay).toFixed(0)} entries/s`,
    );

    const buf = new Uint8Array(64 * 1024 * 1024).fill(3);
    const c0 = performance.now();
    crc32c(0, buf);
    console.log(
      `crc32c (table-driven, slicing-by-8): ${(64 / ((performance.now() - c0) / 1000)).toFixed(0)} MB/s`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run(process.argv.slice(2));
}
