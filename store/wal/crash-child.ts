// The crash test's child process: appends and syncs random batches to a WAL forever, printing
// "ack <index>" once each batch is durable, until the parent SIGKILLs it. Reopens an existing WAL the
// way a restarting member does (newest valid snapshot marker, then replay).
import { WAL } from './index.js';
import { entryData, rng } from './testing.js';
import type { Entry } from '../raft/index.js';

const [dir, seedArg, termArg, segArg] = process.argv.slice(2);
if (!dir || !seedArg || !termArg || !segArg) {
  process.stderr.write('usage: crash-child <wal-dir> <seed> <term> <segment-bytes>\n');
  process.exit(2);
}
const rand = rng(Number(seedArg));
const term = Number(termArg);
const opts = { segmentSizeBytes: Number(segArg) };

let wal: WAL;
let last: number;
if (await WAL.exists(dir)) {
  const markers = await WAL.validSnapshotMarkers(dir);
  const from = markers[markers.length - 1]!;
  wal = await WAL.open(dir, from, opts);
  const r = await wal.readAll();
  last = r.entries.length ? r.entries[r.entries.length - 1]!.index : from.index;
} else {
  wal = await WAL.create(dir, { memberId: 'child', clusterId: 'crash' }, opts);
  last = 0;
}

let acked = last;
const inflight: Promise<void>[] = [];
for (let batch = 0; ; batch++) {
  const n = 1 + Math.floor(rand() * 40);
  const entries: Entry[] = [];
  for (let i = 1; i <= n; i++) {
    entries.push({
      index: last + i,
      term,
      type: 0,
      data: entryData(last + i, term, Math.floor(rand() * 600)),
    });
  }
  last += n;
  // Commit what is already acknowledged, so markers at or below it are valid.
  wal.save({ term, vote: 'child', commit: acked }, entries);
  if (batch % 25 === 24 && acked > 0) {
    const at = acked - Math.floor(rand() * Math.min(acked, 30));
    wal.saveSnapshotMarker({ index: at, term, confState: { voters: ['child'], learners: [] } });
    void wal
      .sync()
      .then(() => wal.releaseLockTo(at))
      .then(() => process.stdout.write(`snap ${at}\n`));
  }
  const upTo = last;
  // Group commit with pipelining: the next batch is prepared while up to two syncs are in flight.
  inflight.push(
    wal.sync().then(() => {
      acked = Math.max(acked, upTo);
      process.stdout.write(`ack ${upTo}\n`);
    }),
  );
  if (inflight.length >= 2) await inflight.shift();
}
