// Tests for the WAL's append and replay: every record kind, segment rollover, Raft truncation, group
// commit ordering, snapshot markers, purge, and the contract errors.
import assert from 'node:assert/strict';
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, waitFor } from '../../test/support/index.js';
import type { Entry, HardState } from '../raft/index.js';
import { makeEntries, RecordingLogger, rng } from './testing.js';
import { parseSegmentName, silentLogger, WAL, WALError, walDir, type WALOptions } from './index.js';

const META = { memberId: '8e9e05c52164694d', clusterId: 'cdf818194e3a8c32' };
const quiet: WALOptions = { logger: silentLogger };

async function reopen(dir: string, from = { index: 0, term: 0 }, opts: WALOptions = quiet) {
  const w = await WAL.open(dir, from, opts);
  const r = await w.readAll();
  return { w, r };
}

function code(c: string) {
  return (err: unknown) => err instanceof WALError && err.code === c;
}

test('every record kind round-trips through close and reopen', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, quiet);
  const entries: Entry[] = [
    { index: 1, term: 1, type: 0, data: new Uint8Array(0) },
    { index: 2, term: 1, type: 1, data: Uint8Array.of(9, 8, 7) },
    { index: 3, term: 2, type: 0, data: new Uint8Array(1000).fill(0xab) },
  ];
  const hs: HardState = { term: 2, vote: 'b', commit: 2 };
  w.save(hs, entries);
  w.saveSnapshotMarker({ index: 2, term: 1, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } });
  await w.sync();
  await w.close();

  const { w: w2, r } = await reopen(dir);
  assert.deepEqual(r.metadata, META);
  assert.deepEqual(r.hardState, hs);
  assert.deepEqual(r.entries, entries);
  assert.deepEqual(r.snapshot, {
    index: 2,
    term: 1,
    confState: { voters: ['a', 'b', 'c'], learners: ['d'] },
  });
  await w2.close();

  // Replay from the marker returns only what follows it.
  const { w: w3, r: r3 } = await reopen(dir, { index: 2, term: 1 });
  assert.deepEqual(
    r3.entries.map((e) => e.index),
    [3],
  );
  await w3.close();
});

test('a new WAL replays as empty: no entries, zero hard state, the initial marker', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  assert.equal(await WAL.exists(dir), false);
  await (await WAL.create(dir, META, quiet)).close();
  assert.equal(await WAL.exists(dir), true);
  await assert.rejects(WAL.create(dir, META, quiet), code('WAL_EXISTS'));
  const { w, r } = await reopen(dir);
  assert.deepEqual(r, {
    metadata: META,
    hardState: { term: 0, vote: '', commit: 0 },
    entries: [],
    snapshot: { index: 0, term: 0, confState: { voters: [], learners: [] } },
  });
  await w.close();
});

test('many entries across segment rollovers replay intact and in order', async (t) => {
  const seed = Number(process.env.WAL_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed=${seed}`);
  const rand = rng(seed);
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, { ...quiet, segmentSizeBytes: 8 * 1024 });
  const all: Entry[] = [];
  let next = 1;
  while (next <= 3000) {
    const n = 1 + Math.floor(rand() * 50);
    const batch = makeEntries(next, n, 1, Math.floor(rand() * 300));
    next += n;
    all.push(...batch);
    w.save({ term: 1, vote: 'a', commit: next - 1 }, batch);
    if (rand() < 0.5) await w.sync();
  }
  await w.close();

  const names = readdirSync(dir).filter((n) => n.endsWith('.wal'));
  assert.ok(names.length > 20, `expected many segments, got ${names.length}`);
  const parsed = names.map((n) => parseSegmentName(n)!);
  parsed.forEach((p, i) => assert.equal(p.seq, i, 'sequence numbers are consecutive'));
  for (const n of names.slice(0, -1)) {
    // Segments are cut after the save that grows them past the bound, never before.
    assert.ok(statSync(join(dir, n)).size >= 8 * 1024, `${n} was cut early`);
  }

  const { w: w2, r } = await reopen(dir);
  assert.equal(r.entries.length, all.length);
  assert.deepEqual(r.entries, all);
  assert.deepEqual(r.hardState, { term: 1, vote: 'a', commit: all.length });

  // Appending after replay continues the chain: the next reopen still verifies every CRC.
  w2.save(null, makeEntries(all.length + 1, 5, 2));
  await w2.sync();
  await w2.close();
  const { w: w3, r: r3 } = await reopen(dir);
  assert.equal(r3.entries.length, all.length + 5);
  await w3.close();

  // Each segment's name holds the index of its first entry.
  for (const p of parsed.slice(1)) {
    const seg = names[p.seq]!;
    assert.ok(p.index >= 1 && p.index <= all.length + 1, `${seg} index in range`);
  }
});

test('an entry at an index already in the log replaces it and everything after it (Raft truncation)', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, { ...quiet, segmentSizeBytes: 2048 });
  w.save({ term: 1, vote: 'a', commit: 3 }, makeEntries(1, 40, 1, 64));
  await w.sync();
  // A new leader at term 2 overwrites from index 6: entries 6..40 of term 1 are gone.
  w.save({ term: 2, vote: 'b', commit: 3 }, makeEntries(6, 3, 2, 64));
  // And a later truncation reaching back into the earlier segment.
  w.save({ term: 3, vote: 'c', commit: 3 }, makeEntries(5, 2, 3, 64));
  await w.sync();
  assert.equal(w.lastIndex, 6);
  await w.close();
  assert.ok(readdirSync(dir).length > 1, 'the truncations cross a segment boundary');

  const { w: w2, r } = await reopen(dir);
  assert.deepEqual(
    r.entries.map((e) => [e.index, e.term]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 3],
      [6, 3],
    ],
  );
  assert.deepEqual(r.entries, [...makeEntries(1, 4, 1, 64), ...makeEntries(5, 2, 3, 64)]);
  assert.equal(r.hardState.term, 3);
  await w2.close();
});

test('group commit: saves made while a sync runs go into the next one; syncs resolve in order', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const fsyncs: number[] = [];
  const w = await WAL.create(dir, META, { ...quiet, onFsync: (s) => fsyncs.push(s) });
  const order: number[] = [];
  const syncs: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    w.save({ term: 1, vote: '', commit: i }, makeEntries(i * 10 + 1, 10, 1));
    const k = i;
    syncs.push(
      w.sync().then(() => {
        order.push(k);
      }),
    );
  }
  await Promise.all(syncs);
  assert.deepEqual(
    order,
    Array.from({ length: 20 }, (_, i) => i),
  );
  // Twenty syncs requested back to back share fdatasyncs: at most one in flight plus one queued batch.
  assert.ok(fsyncs.length >= 1 && fsyncs.length < 20, `fsync count ${fsyncs.length}`);
  assert.ok(fsyncs.every((s) => s >= 0));
  // Nothing new: resolves without another fsync.
  const before = fsyncs.length;
  await w.sync();
  assert.equal(fsyncs.length, before);
  await w.close();
  const { w: w2, r } = await reopen(dir);
  assert.equal(r.entries.length, 200);
  await w2.close();
});

test('a sync resolving means its data is in the file (checked from a fresh reader at that moment)', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, { ...quiet, segmentSizeBytes: 4096 });
  for (let i = 0; i < 30; i++) {
    w.save(null, makeEntries(i * 7 + 1, 7, 1, 100));
    await w.sync();
    // What a process starting now would read: a copy of the directory replays every acknowledged entry.
    if (i % 10 === 9) {
      const copy = join(tmp.path, `copy-${i}`);
      cpSync(dir, copy, { recursive: true });
      const { w: c, r } = await reopen(copy);
      assert.equal(r.entries.length, (i + 1) * 7);
      await c.close();
    }
  }
  await w.close();
  const { w: w2, r } = await reopen(dir);
  assert.equal(r.entries.length, 210);
  await w2.close();
});

test('snapshot markers: replay from one, refuse a missing one or a term mismatch', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, quiet);
  w.save({ term: 1, vote: 'a', commit: 10 }, makeEntries(1, 20, 1));
  w.saveSnapshotMarker({ index: 10, term: 1, confState: { voters: ['a'], learners: [] } });
  w.saveSnapshotMarker({ index: 15, term: 1, confState: { voters: ['a'], learners: [] } });
  await w.close();

  // The marker at 15 is beyond the commit index 10, so a snap file for it may not be trusted.
  const valid = await WAL.validSnapshotMarkers(dir, { logger: silentLogger });
  assert.deepEqual(
    valid.map((m) => m.index),
    [0, 10],
  );

  const { w: w2, r } = await reopen(dir, { index: 10, term: 1 });
  assert.deepEqual(
    r.entries.map((e) => e.index),
    [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
  );
  assert.equal(r.snapshot?.index, 15, 'the last marker read');
  await w2.close();

  await assert.rejects(
    (await WAL.open(dir, { index: 12, term: 1 }, quiet)).readAll(),
    code('WAL_SNAPSHOT_NOT_FOUND'),
  );
  await assert.rejects(
    (await WAL.open(dir, { index: 10, term: 2 }, quiet)).readAll(),
    code('WAL_SNAPSHOT_MISMATCH'),
  );
});

test('a follower that installs a snapshot jumps its log: replay from that snapshot works', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, quiet);
  w.save({ term: 1, vote: '', commit: 5 }, makeEntries(1, 5, 1));
  w.saveSnapshotMarker({ index: 100, term: 3, confState: { voters: ['a'], learners: [] } });
  w.save({ term: 3, vote: '', commit: 100 }, makeEntries(101, 3, 3));
  await w.close();
  const { w: w2, r } = await reopen(dir, { index: 100, term: 3 });
  assert.deepEqual(
    r.entries.map((e) => e.index),
    [101, 102, 103],
  );
  await w2.close();
  // From the start the log has a hole at 6..100: replay must refuse rather than return it.
  await assert.rejects((await WAL.open(dir, undefined, quiet)).readAll(), /gap after index 5/);
});

test('releaseLockTo deletes the segments wholly before the index, keeping the one that contains it', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const log = new RecordingLogger();
  const w = await WAL.create(dir, META, { logger: log, segmentSizeBytes: 2048 });
  for (let i = 0; i < 20; i++) {
    w.save({ term: 1, vote: '', commit: (i + 1) * 10 }, makeEntries(i * 10 + 1, 10, 1, 100));
    await w.sync();
  }
  const segs = w.segmentNames().map((n) => ({ n, ...parseSegmentName(n)! }));
  assert.ok(segs.length >= 6);
  const target = segs[4]!.index + 1; // an index inside segment 4
  w.saveSnapshotMarker({ index: target, term: 1, confState: { voters: ['a'], learners: [] } });
  await w.sync();
  const deleted = await w.releaseLockTo(target);
  assert.deepEqual(
    deleted,
    segs.slice(0, 4).map((s) => s.n),
  );
  assert.deepEqual(readdirSync(dir).sort(), w.segmentNames());
  // Releasing again, or below what is left, deletes nothing; the segment being written is never deleted.
  assert.deepEqual(await w.releaseLockTo(target), []);
  // etcd's --max-wals: 0 keeps every file; N deletes the oldest releasable ones only while more than N remain.
  const before = w.segmentNames();
  assert.deepEqual(await w.releaseLockTo(1e9, 0), []);
  assert.deepEqual(await w.releaseLockTo(1e9, before.length - 1), before.slice(0, 1));
  assert.deepEqual(w.segmentNames(), before.slice(1));
  assert.ok((await w.releaseLockTo(1e9)).length >= 1);
  assert.deepEqual(w.segmentNames().length, 1);
  await w.close();

  await assert.rejects(WAL.open(dir, { index: 0, term: 0 }, quiet), code('WAL_NOT_FOUND'));
  assert.ok(log.lines.some((l) => l.msg.includes('purged')));
});

test('replay from a snapshot after a purge, then keep appending', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, { ...quiet, segmentSizeBytes: 1024 });
  w.save({ term: 1, vote: '', commit: 50 }, makeEntries(1, 50, 1, 64));
  w.saveSnapshotMarker({ index: 40, term: 1, confState: { voters: ['a'], learners: [] } });
  await w.sync();
  await w.releaseLockTo(40);
  await w.close();
  const { w: w2, r } = await reopen(dir, { index: 40, term: 1 });
  assert.deepEqual(
    r.entries.map((e) => e.index),
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  );
  w2.save(null, makeEntries(51, 1, 1, 64));
  await w2.close();
  const { w: w3, r: r3 } = await reopen(dir, { index: 40, term: 1 });
  assert.equal(r3.entries.at(-1)?.index, 51);
  await w3.close();
});

test('contract errors: gaps, appends before readAll, use after close', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, quiet);
  w.save(null, makeEntries(1, 3, 1));
  assert.throws(() => w.save(null, makeEntries(5, 1, 1)), code('WAL_INVALID_ARGUMENT'));
  assert.throws(
    () => w.save(null, [...makeEntries(4, 1, 1), ...makeEntries(6, 1, 1)]),
    code('WAL_INVALID_ARGUMENT'),
  );
  // A bad field in the middle of a batch leaves nothing of the batch behind.
  const bad = [...makeEntries(4, 2, 1), { index: 6, term: -1, type: 0 as const, data: new Uint8Array() }];
  assert.throws(() => w.save(null, bad), code('WAL_INVALID_ARGUMENT'));
  assert.equal(w.lastIndex, 3);
  await w.close();
  assert.throws(() => w.save(null, makeEntries(4, 1, 1)), code('WAL_BAD_STATE'));
  await assert.rejects(w.sync(), code('WAL_BAD_STATE'));
  await w.close(); // twice is fine

  const w2 = await WAL.open(dir, undefined, quiet);
  assert.throws(() => w2.save(null, makeEntries(4, 1, 1)), code('WAL_BAD_STATE'));
  const r = await w2.readAll();
  assert.equal(r.entries.length, 3);
  await assert.rejects(w2.readAll(), code('WAL_BAD_STATE'));
  await w2.close();
  await assert.rejects(WAL.open(join(tmp.path, 'nope'), undefined, quiet), code('WAL_NOT_FOUND'));
});

test('after a failed write the WAL fails for good: pending and later syncs reject with WAL_FAILED', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const log = new RecordingLogger();
  const w = await WAL.create(dir, META, { logger: log });
  w.save(null, makeEntries(1, 3, 1));
  await w.sync();
  // Pull the file out from under it, as a failing disk would: the next write gets EBADF.
  await (w as unknown as { fh: { close(): Promise<void> } }).fh.close();
  w.save(null, makeEntries(4, 1, 1));
  await assert.rejects(w.sync(), code('WAL_FAILED'));
  assert.throws(() => w.save(null, makeEntries(5, 1, 1)), code('WAL_FAILED'));
  await assert.rejects(w.sync(), code('WAL_FAILED'));
  assert.match(log.warnings().join('\n'), /failed; refusing further writes/);
  await w.close().catch(() => {});
  // What was acknowledged before the failure is still there.
  const { w: w2, r } = await reopen(dir);
  assert.equal(r.entries.length, 3);
  await w2.close();
});

test('a large unsynced backlog is written out in the background; sync still covers all of it', async (t) => {
  const tmp = tempDir('wal-');
  t.after(tmp.remove);
  const dir = walDir(tmp.path);
  const w = await WAL.create(dir, META, { ...quiet, maxBufferedBytes: 64 * 1024, preallocateBytes: 0 });
  for (let i = 0; i < 100; i++) w.save(null, makeEntries(i * 10 + 1, 10, 1, 200));
  await waitFor(
    'background writes to reach the file',
    () => statSync(join(dir, w.segmentNames()[0]!)).size > 100_000,
  );
  await w.sync();
  await w.close();
  const { w: w2, r } = await reopen(dir);
  assert.equal(r.entries.length, 1000);
  await w2.close();
});
