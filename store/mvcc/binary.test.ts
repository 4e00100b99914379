// The binary writer/reader: round trips, and the copies it hands out own their memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryReader, BinaryWriter, ownedCopy } from './binary.js';
import { decodeRequest, encodeRequest } from '../apply/codec.js';
import { MvccStore } from './kv.js';

test('round trip of varints, bigints and byte strings', () => {
  const w = new BinaryWriter(4);
  w.uvarint(300)
    .u64(2n ** 63n + 5n)
    .bytes(Buffer.from('key'))
    .bool(true);
  const r = new BinaryReader(w.finish());
  assert.equal(r.uvarint(), 300);
  assert.equal(r.u64(), 2n ** 63n + 5n);
  assert.deepEqual(r.bytes(), Buffer.from('key'));
  assert.equal(r.bool(), true);
  assert.equal(r.remaining, 0);
});

test('long-lived bytes (entries, stored keys and values) do not pin a shared pool block', () => {
  // Buffer.from() of a small buffer is a slice of an 8 KiB pool block; keeping it keeps the whole block.
  assert.ok(Buffer.from(Buffer.from('x')).buffer.byteLength > 1, 'Buffer.from still pools small copies here');
  const own = ownedCopy(Buffer.from('abc'));
  assert.equal(own.buffer.byteLength, 3);
  assert.deepEqual(own, Buffer.from('abc'));

  const entry = encodeRequest({
    id: 7n,
    put: { key: Buffer.from('k1'), value: Buffer.alloc(256, 1) },
  } as never);
  assert.equal(entry.buffer.byteLength, entry.length, 'the Raft entry has its own memory');
  // Decoding gives views into the entry (no copy); the store copies what it keeps.
  const req = decodeRequest(entry) as unknown as { put: { key: Buffer; value: Buffer } };
  assert.equal(req.put.value.buffer, entry.buffer, 'decoded bytes are views into the entry');
  const store = new MvccStore();
  const t = store.write();
  t.put(req.put.key, req.put.value, 0n);
  t.end();
  const kv = store.range(Buffer.from('k1'), undefined).kvs[0]!;
  assert.equal(kv.value.buffer.byteLength, 256, 'the stored value has its own memory');
  assert.equal(kv.key.buffer.byteLength, 2, 'the stored key has its own memory');

  // A snapshot's byte strings are kept as read: bytes() copies.
  const w = new BinaryWriter();
  w.bytes(Buffer.from('value'));
  const r = new BinaryReader(w.finish());
  assert.equal(r.bytes().buffer.byteLength, 5);
});
