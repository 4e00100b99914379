// Tests for snap files: round trip (small, empty, multi-chunk, streamed), newest-with-marker selection,
// fallback past a damaged file (renamed .broken), purge.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/index.js';
import type { Snapshot, SnapshotMetadata } from '../raft/index.js';
import { entryData, RecordingLogger } from './testing.js';
import { snapDir, snapName, SnapshotError, Snapshotter } from './index.js';

function meta(index: number, term: number): SnapshotMetadata {
  return { index, term, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } };
}

function snap(index: number, term: number, size = 1000): Snapshot {
  return { metadata: meta(index, term), data: entryData(index, term, size) };
}

test('a snapshot round-trips: metadata and data, empty data, data larger than one write chunk', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const s = new Snapshotter(snapDir(tmp.path));
  for (const sn of [snap(10, 1), snap(20, 1, 0), snap(30, 2, 9 * 1024 * 1024 + 17)]) {
    const path = await s.save(sn);
    assert.equal(path, join(snapDir(tmp.path), snapName(sn.metadata.term, sn.metadata.index)));
    const back = await s.load(path);
    assert.deepEqual(back.metadata, sn.metadata);
    assert.equal(Buffer.compare(back.data, sn.data), 0);
  }
  assert.equal(snapName(2, 30), '0000000000000002-000000000000001e.snap');
  assert.deepEqual(await s.snapNames(), [snapName(2, 30), snapName(1, 20), snapName(1, 10)]);
  assert.ok(!readdirSync(snapDir(tmp.path)).some((n) => n.endsWith('.tmp')));
});

test('saveStream writes chunks as they arrive and produces the same file as save', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const a = new Snapshotter(join(tmp.path, 'a'));
  const b = new Snapshotter(join(tmp.path, 'b'));
  const sn = snap(7, 3, 100_000);
  const pa = await a.save(sn);
  async function* parts() {
    for (let off = 0; off < sn.data.length; off += 7919) yield sn.data.subarray(off, off + 7919);
  }
  const pb = await b.saveStream(sn.metadata, parts());
  assert.deepEqual(readFileSync(pa), readFileSync(pb));
});

test('loadNewestAvailable picks the newest file that has a WAL marker, and returns null if none', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const s = new Snapshotter(snapDir(tmp.path));
  assert.equal(await s.loadNewestAvailable([{ index: 0, term: 0 }]), null);
  await s.save(snap(10, 1));
  await s.save(snap(20, 1));
  await s.save(snap(30, 2)); // no marker for it: e.g. the crash came before the WAL marker was synced
  const got = await s.loadNewestAvailable([
    { index: 10, term: 1 },
    { index: 20, term: 1 },
  ]);
  assert.deepEqual(got?.metadata, meta(20, 1));
  // A marker with the right index but another term does not match.
  assert.equal(await s.loadNewestAvailable([{ index: 30, term: 1 }]), null);
});

test('a damaged snap file is renamed .broken and the next older one is used', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const dir = snapDir(tmp.path);
  const log = new RecordingLogger();
  const s = new Snapshotter(dir, { logger: log });
  await s.save(snap(10, 1));
  await s.save(snap(20, 1));
  await s.save(snap(30, 1));
  const markers = [10, 20, 30].map((index) => ({ index, term: 1 }));

  // Newest: one flipped data byte. Next: cut short.
  const p30 = join(dir, snapName(1, 30));
  const bytes = readFileSync(p30);
  bytes[500] = bytes[500]! ^ 0x40;
  writeFileSync(p30, bytes);
  const p20 = join(dir, snapName(1, 20));
  truncateSync(p20, 700);

  await assert.rejects(
    s.load(p30),
    (err: unknown) => err instanceof SnapshotError && err.code === 'SNAP_CORRUPT',
  );
  const got = await s.loadNewestAvailable(markers);
  assert.deepEqual(got?.metadata, meta(10, 1));
  assert.ok(existsSync(`${p30}.broken`) && existsSync(`${p20}.broken`));
  assert.ok(!existsSync(p30) && !existsSync(p20));
  assert.equal(log.warnings().length, 2);
  assert.match(log.warnings()[0]!, /CRC mismatch/);
});

test('a file whose name and contents disagree is damaged', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const dir = snapDir(tmp.path);
  const s = new Snapshotter(dir);
  const p = await s.save(snap(10, 1));
  writeFileSync(join(dir, snapName(1, 11)), readFileSync(p));
  await assert.rejects(s.load(snapName(1, 11)), /not what its name says/);
});

test('purge keeps the newest N snap files', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const s = new Snapshotter(snapDir(tmp.path));
  for (let i = 1; i <= 7; i++) await s.save(snap(i * 100, 1, 10));
  const deleted = await s.purge(3);
  assert.deepEqual(deleted, [snapName(1, 400), snapName(1, 300), snapName(1, 200), snapName(1, 100)]);
  assert.deepEqual(await s.snapNames(), [snapName(1, 700), snapName(1, 600), snapName(1, 500)]);
  assert.deepEqual(await s.purge(3), []);
  await assert.rejects(s.purge(0), RangeError);
});

test('a leftover temp file from a crash during save is ignored and removed', async (t) => {
  const tmp = tempDir('snap-');
  t.after(tmp.remove);
  const dir = snapDir(tmp.path);
  const s = new Snapshotter(dir);
  await s.save(snap(10, 1));
  writeFileSync(join(dir, `${snapName(1, 20)}.tmp`), 'half a snapshot');
  const got = await s.loadNewestAvailable([
    { index: 10, term: 1 },
    { index: 20, term: 1 },
  ]);
  assert.equal(got?.metadata.index, 10);
  assert.deepEqual(readdirSync(dir), [snapName(1, 10)]);
});
