// Tests for crash recovery: a torn tail at every byte of the last record is cut; damage anywhere else
// (every byte of a middle record, a completed segment, the CRC chain) refuses with file and offset.
import assert from 'node:assert/strict';
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/index.js';
import { makeEntries, RecordingLogger, rng } from './testing.js';
import { frameSize } from './record.js';
import { silentLogger, WAL, WALCorruptError } from './index.js';

const META = { memberId: 'a', clusterId: 'c' };

/** Frame start offsets in a segment file. */
function frameOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off < buf.length; off += frameSize(buf.readUInt32LE(off))) out.push(off);
  return out;
}

/**
 * A WAL of `n` entries whose last record (entry n) starts at `lastStart` in the last segment.
 * Returns the directory's files as bytes so each case can lay down its own damaged copy. Written without
 * preallocation, so each file ends where its data ends and the cases can place damage by file size.
 */
async function buildLog(root: string, n: number, segmentSizeBytes: number, meta = META) {
  const dir = join(root, 'orig');
  const w = await WAL.create(dir, meta, { logger: silentLogger, segmentSizeBytes, preallocateBytes: 0 });
  for (let i = 1; i < n; i += 5) {
    w.save({ term: 1, vote: 'a', commit: i }, makeEntries(i, Math.min(5, n - i), 1, 40));
    await w.sync();
  }
  const names = w.segmentNames();
  const last = names[names.length - 1]!;
  const lastStart = statSync(join(dir, last)).size;
  w.save(null, makeEntries(n, 1, 1, 40));
  await w.close();
  assert.deepEqual(w.segmentNames(), names, 'the last entry went into the same segment');
  const files = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
  return { files, last, lastStart, lastEnd: statSync(join(dir, last)).size };
}

let copies = 0;
function layDown(
  root: string,
  files: Map<string, Buffer>,
  edit: (name: string, b: Buffer) => Buffer,
): string {
  const dir = join(root, `case-${copies++}`);
  mkdirSync(dir);
  for (const [name, bytes] of files) writeFileSync(join(dir, name), edit(name, Buffer.from(bytes)));
  return dir;
}

async function replay(dir: string, logger = new RecordingLogger()) {
  const w = await WAL.open(dir, undefined, { logger });
  try {
    return { w, r: await w.readAll(), logger };
  } catch (err) {
    await w.close();
    throw err;
  }
}

test('a torn tail at every byte offset of the last record recovers exactly the records before it', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const n = 60;
  const { files, last, lastStart, lastEnd } = await buildLog(tmp.path, n, 2048);
  assert.ok(files.size > 1, 'the log spans several segments');
  assert.ok(lastEnd - lastStart >= 48);

  for (let k = lastStart; k < lastEnd; k++) {
    const dir = layDown(tmp.path, files, (name, b) => (name === last ? b.subarray(0, k) : b));
    const { w, r, logger } = await replay(dir);
    assert.equal(r.entries.length, n - 1, `cut at ${k}`);
    assert.deepEqual(r.entries, makeEntries(1, n - 1, 1, 40));
    if (k > lastStart) {
      assert.equal(statSync(join(dir, last)).size, lastStart, `torn bytes cut at ${k}`);
      assert.match(logger.warnings().join('\n'), new RegExp(`cut torn tail.*"offset":${lastStart}`));
    } else {
      assert.deepEqual(logger.warnings(), []);
    }
    // The repaired log takes appends and replays them.
    w.save(null, makeEntries(n, 1, 2, 40));
    await w.close();
    const again = await replay(dir);
    assert.equal(again.r.entries.length, n);
    assert.equal(again.r.entries[n - 1]!.term, 2);
    assert.deepEqual(again.logger.warnings(), []);
    await again.w.close();
  }
});

test('zero-filled space after the last record is preallocated space: kept, and appends go before it', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files, last, lastEnd } = await buildLog(tmp.path, 20, 1 << 20);
  const dir = layDown(tmp.path, files, (name, b) =>
    name === last ? Buffer.concat([b, Buffer.alloc(5000)]) : b,
  );
  const { w, r, logger } = await replay(dir);
  assert.equal(r.entries.length, 20);
  assert.deepEqual(logger.warnings(), []);
  assert.equal(statSync(join(dir, last)).size, lastEnd + 5000);
  w.save(null, makeEntries(21, 1, 1, 40));
  await w.sync();
  await w.close();
  const again = await replay(dir);
  assert.deepEqual(again.r.entries, makeEntries(1, 21, 1, 40));
  await again.w.close();
});

test('preallocation: zeros ahead of the data, cut segments end at their data, a torn write into the zeros is cut', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const dir = join(tmp.path, 'orig');
  const w = await WAL.create(dir, META, {
    logger: silentLogger,
    segmentSizeBytes: 4096,
    preallocateBytes: 2048,
  });
  for (let i = 1; i <= 200; i += 10) {
    w.save({ term: 1, vote: 'a', commit: i }, makeEntries(i, 10, 1, 40));
    await w.sync();
  }
  const names = w.segmentNames();
  assert.ok(names.length > 2, 'several segments');
  // A crash leaves the zeros in place: copy the files as they are before close() gives the space back.
  const lastSize = statSync(join(dir, names[names.length - 1]!)).size;
  const crashed = join(tmp.path, 'crashed');
  cpSync(dir, crashed, { recursive: true });
  await w.close();
  assert.ok(statSync(join(dir, names.at(-1)!)).size < lastSize, 'close() truncates the preallocated space');
  rmSync(dir, { recursive: true });
  renameSync(crashed, dir);
  for (const n of names.slice(0, -1)) {
    const b = readFileSync(join(dir, n));
    assert.equal(frameEndBeforeZeros(b), b.length, `${n} ends with its last record, not with zeros`);
  }
  const last = readFileSync(join(dir, names[names.length - 1]!));
  assert.equal(last.length, lastSize);
  const dataEnd = frameEndBeforeZeros(last);
  assert.ok(
    last.length > dataEnd && last.length <= dataEnd + 2048,
    `zeros preallocated after the data (${dataEnd} of ${last.length})`,
  );
  // Replay reads every entry, leaves the space in place, and the next append lands right after the data.
  const { w: w2, r, logger } = await replay(dir);
  assert.deepEqual(r.entries, makeEntries(1, 200, 1, 40));
  assert.deepEqual(logger.warnings(), []);
  w2.save(null, makeEntries(201, 1, 1, 40));
  await w2.sync();
  await w2.close();
  const after = readFileSync(join(dir, w2.segmentNames().at(-1)!));
  assert.equal(after.subarray(0, dataEnd).compare(last.subarray(0, dataEnd)), 0);
  // A crash in the middle of the next write: part of a record over the zeros. It is a torn tail.
  // (w2.close() gave the space back; the case lays it down again, as a crash would have left it.)
  const files = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
  const torn = layDown(tmp.path, files, (name, b) => {
    if (name !== w2.segmentNames().at(-1)) return b;
    const end = frameEndBeforeZeros(b);
    b.fill(0, end - 20, end); // the tail of the last record never reached the disk
    return Buffer.concat([b, Buffer.alloc(2048)]); // ...and the preallocated zeros follow it
  });
  const { w: w3, r: r3, logger: log3 } = await replay(torn);
  assert.deepEqual(r3.entries, makeEntries(1, 200, 1, 40));
  assert.match(log3.warnings().join('\n'), /cut torn tail/);
  await w3.close();
});

/** The offset just past the last record of a segment file whose tail may be zeros. */
function frameEndBeforeZeros(buf: Buffer): number {
  let off = 0;
  while (off + 8 <= buf.length && buf.readUInt32LE(off) !== 0) off += frameSize(buf.readUInt32LE(off));
  return off;
}

test('a bad CRC on the very last record is a torn write: cut, with the records before it kept', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files, last, lastStart, lastEnd } = await buildLog(tmp.path, 20, 1 << 20);
  for (const at of [lastStart + 4, lastStart + 8, lastEnd - 12, lastEnd - 9]) {
    const dir = layDown(tmp.path, files, (name, b) => {
      if (name === last) b[at] = b[at]! ^ 0x5a;
      return b;
    });
    const { w, r, logger } = await replay(dir);
    assert.equal(r.entries.length, 19, `flip at ${at}`);
    assert.match(logger.warnings().join('\n'), /cut torn tail/);
    await w.close();
    // Also when the damaged record is followed by zeros only (a sector that never made it to disk).
    const dir2 = layDown(tmp.path, files, (name, b) => {
      if (name !== last) return b;
      b[at] = b[at]! ^ 0x5a;
      return Buffer.concat([b, Buffer.alloc(512)]);
    });
    const again = await replay(dir2);
    assert.equal(again.r.entries.length, 19);
    await again.w.close();
  }
});

test('a flipped byte anywhere in a record in the middle refuses to start, naming file and offset', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files, last } = await buildLog(tmp.path, 40, 1 << 20);
  const offsets = frameOffsets(files.get(last)!);
  const victim = offsets[Math.floor(offsets.length / 2)]!;
  const victimEnd = offsets[offsets.indexOf(victim) + 1]!;
  for (let at = victim; at < victimEnd; at++) {
    const dir = layDown(tmp.path, files, (name, b) => {
      if (name === last) b[at] = b[at]! ^ 0x01;
      return b;
    });
    await assert.rejects(
      replay(dir),
      (err: unknown) => {
        assert.ok(err instanceof WALCorruptError, `flip at ${at}: ${String(err)}`);
        assert.equal(err.code, 'WAL_CORRUPT');
        assert.equal(err.file, join(dir, last));
        assert.equal(err.offset, victim, `flip at ${at}: ${err.message}`);
        assert.ok(err.message.includes(join(dir, last)) && err.message.includes(`byte offset ${victim}`));
        return true;
      },
      `flip at ${at} was not detected`,
    );
    // Refusing must not have changed the file.
    assert.deepEqual(readFileSync(join(dir, last)).length, files.get(last)!.length);
  }
});

test('damage in a completed segment is corruption even at its very end', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files } = await buildLog(tmp.path, 60, 1024);
  const first = [...files.keys()].sort()[0]!;
  const size = files.get(first)!.length;
  for (const edit of [
    (b: Buffer) => b.subarray(0, size - 3), // cut short
    (b: Buffer) => ((b[size - 20] = b[size - 20]! ^ 1), b), // flipped in the last record
    (b: Buffer) => Buffer.concat([b, Buffer.alloc(64)]), // zeros appended
  ]) {
    const dir = layDown(tmp.path, files, (name, b) => (name === first ? edit(b) : b));
    await assert.rejects(replay(dir), (err: unknown) => {
      assert.ok(err instanceof WALCorruptError, String(err));
      assert.equal(err.file, join(dir, first));
      assert.match(err.message, /completed segment/);
      return true;
    });
  }
});

test('a segment whose CRC chain does not continue the previous one is refused', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files } = await buildLog(tmp.path, 60, 1024);
  const names = [...files.keys()].sort();
  // Swap in a segment from another WAL with the same name: each is valid alone, the chain is not.
  const other = await buildLog(join(tmp.path, 'other'), 60, 1024, { memberId: 'b', clusterId: 'c' });
  const otherSecond = [...other.files.keys()].sort()[1]!;
  const dir = layDown(tmp.path, files, (name, b) => (name === names[1] ? other.files.get(otherSecond)! : b));
  await assert.rejects(replay(dir), /CRC chain broken/);
});

test('a missing segment in the middle is refused; a leftover temp segment from a crashed cut is removed', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files } = await buildLog(tmp.path, 60, 1024);
  const names = [...files.keys()].sort();
  assert.ok(names.length >= 3);
  const dir = layDown(tmp.path, files, (_n, b) => b);
  writeFileSync(join(dir, `${names[names.length - 1]!.replace(/^0+/, (z) => z.slice(1))}`), ''); // junk name
  writeFileSync(join(dir, 'ffffffffffffffff-0000000000000000.wal.tmp'), 'half a header');
  const { w, r, logger } = await replay(dir);
  assert.equal(r.entries.length, 60);
  assert.match(logger.warnings().join('\n'), /unfinished segment/);
  assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp')));
  await w.close();

  // With segment 1 of 0..k gone, segments 2.. are a run that starts after index 0: replay from the
  // beginning is impossible, and the error says so instead of returning a log with a hole.
  const dir2 = layDown(tmp.path, files, (_n, b) => b);
  const { unlinkSync } = await import('node:fs');
  unlinkSync(join(dir2, names[1]!));
  await assert.rejects(replay(dir2), /no segment .* starts at or before index 0/);
});

test('power loss in the last batch (random sectors lost, random length): a clean prefix or a refusal', async (t) => {
  const seed = Number(process.env.WAL_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed=${seed}`);
  const rand = rng(seed);
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const dir0 = join(tmp.path, 'orig');
  const w = await WAL.create(dir0, META, { logger: silentLogger, preallocateBytes: 0 });
  w.save({ term: 1, vote: 'a', commit: 50 }, makeEntries(1, 50, 1, 100));
  await w.sync();
  const name = w.segmentNames()[0]!;
  const batchStart = statSync(join(dir0, name)).size;
  // The batch a crash interrupts: written with one writev, its fdatasync never returned.
  w.save({ term: 2, vote: 'b', commit: 60 }, makeEntries(51, 30, 2, 300));
  await w.close();
  const files = new Map([[name, readFileSync(join(dir0, name))]]);
  const full = [...makeEntries(1, 50, 1, 100), ...makeEntries(51, 30, 2, 300)];
  for (let trial = 0; trial < 150; trial++) {
    const dir = layDown(tmp.path, files, (_n, b) => {
      const end = batchStart + Math.floor(rand() * (b.length - batchStart + 1));
      const out = b.subarray(0, end);
      // A lost sector reads back as it was before the write: zeros from the batch's start on.
      for (let s = Math.floor(batchStart / 512) * 512; s < end; s += 512) {
        if (s + 512 > batchStart && rand() < 0.15)
          out.fill(0, Math.max(s, batchStart), Math.min(s + 512, end));
      }
      return out;
    });
    // Whitened records never hold a zero sector and headers never straddle one, so every such tear is
    // recognized as one: replay returns every acknowledged entry and an intact prefix of the batch.
    const { w: w2, r } = await replay(dir);
    await w2.close();
    assert.ok(r.entries.length >= 50, `trial ${trial} (seed ${seed}): lost acknowledged entries`);
    assert.deepEqual(r.entries, full.slice(0, r.entries.length), `trial ${trial} (seed ${seed})`);
  }
});

test('WAL.repairTail cuts the last segment at a damaged record that replay refuses', async (t) => {
  const tmp = tempDir('wal-rec-');
  t.after(tmp.remove);
  const { files, last } = await buildLog(tmp.path, 40, 1 << 20);
  const offsets = frameOffsets(files.get(last)!);
  const victim = offsets[offsets.length - 5]!;
  const dir = layDown(tmp.path, files, (name, b) => {
    if (name === last) b[victim + 12] = b[victim + 12]! ^ 0x10;
    return b;
  });
  await assert.rejects(
    replay(dir),
    (err: unknown) => err instanceof WALCorruptError && err.offset === victim,
  );
  const log = new RecordingLogger();
  const cut = await WAL.repairTail(dir, { logger: log });
  assert.equal(cut?.offset, victim);
  assert.equal(cut?.file, join(dir, last));
  assert.match(log.warnings().join('\n'), /repair cut the last segment/);
  const { w, r } = await replay(dir);
  assert.deepEqual(r.entries, makeEntries(1, r.entries.length, 1, 40));
  assert.ok(r.entries.length >= 30 && r.entries.length < 40);
  await w.close();
  assert.equal(await WAL.repairTail(dir, { logger: silentLogger }), null);
});
