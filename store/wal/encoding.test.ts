// Tests for the binary encoding of entries, hard states, snapshot metadata and WAL metadata.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry, HardState, SnapshotMetadata } from '../raft/index.js';
import {
  ByteReader,
  DecodeError,
  entrySize,
  hardStateSize,
  readEntry,
  readHardState,
  readSnapshotMetadata,
  readWALMetadata,
  snapshotMetadataSize,
  uvarintSize,
  walMetadataSize,
  writeEntry,
  writeHardState,
  writeSnapshotMetadata,
  writeUvarint,
  writeWALMetadata,
} from './encoding.js';

test('uvarint round-trips at every size boundary up to 2^53 - 1', () => {
  const values = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32, 2 ** 35 + 7];
  values.push(2 ** 49, 2 ** 53 - 1);
  for (const v of values) {
    const buf = new Uint8Array(10);
    const end = writeUvarint(buf, 0, v);
    assert.equal(end, uvarintSize(v), `size of ${v}`);
    const r = new ByteReader(buf, 0, end);
    assert.equal(r.uvarint(), v);
    r.done();
  }
});

test('uvarint rejects truncated and over-long input', () => {
  assert.throws(() => new ByteReader(Uint8Array.of(0x80, 0x80), 0, 2).uvarint(), DecodeError);
  assert.throws(() => new ByteReader(new Uint8Array(9).fill(0xff), 0, 9).uvarint(), DecodeError);
});

test('entry, hard state, snapshot metadata and WAL metadata round-trip', () => {
  const e: Entry = { index: 2 ** 40 + 3, term: 77, type: 1, data: Uint8Array.of(1, 2, 3, 0, 255) };
  let buf = new Uint8Array(entrySize(e));
  assert.equal(writeEntry(buf, 0, e), buf.length);
  assert.deepEqual(readEntry(new ByteReader(buf, 0, buf.length)), e);

  const h: HardState = { term: 9, vote: 'm\u00e9mber-1', commit: 123456789 };
  buf = new Uint8Array(hardStateSize(h));
  assert.equal(writeHardState(buf, 0, h), buf.length);
  assert.deepEqual(readHardState(new ByteReader(buf, 0, buf.length)), h);

  const m: SnapshotMetadata = {
    index: 500,
    term: 3,
    confState: { voters: ['a', 'b', 'c'], learners: ['d'] },
  };
  buf = new Uint8Array(snapshotMetadataSize(m));
  assert.equal(writeSnapshotMetadata(buf, 0, m), buf.length);
  assert.deepEqual(readSnapshotMetadata(new ByteReader(buf, 0, buf.length)), m);

  const md = { memberId: '8e9e05c52164694d', clusterId: 'cdf818194e3a8c32' };
  buf = new Uint8Array(walMetadataSize(md));
  assert.equal(writeWALMetadata(buf, 0, md), buf.length);
  assert.deepEqual(readWALMetadata(new ByteReader(buf, 0, buf.length)), md);
});

test('encoders refuse values the format cannot hold', () => {
  const bad: Entry = { index: -1, term: 1, type: 0, data: new Uint8Array() };
  assert.throws(() => writeEntry(new Uint8Array(16), 0, bad), RangeError);
  const h: HardState = { term: 1.5, vote: '', commit: 0 };
  assert.throws(() => writeHardState(new Uint8Array(16), 0, h), RangeError);
});
