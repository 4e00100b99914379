// The gRPC edge conversion: int64 strings become numbers or exact bigints by field; bigints go back out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromWire, toWire } from './convert.js';

test('request ids stay exact, revisions become numbers, bytes stay Buffers', () => {
  const r = fromWire<any>({
    key: Buffer.from('k'),
    lease: '9223372036854775807',
    revision: '42',
    limit: '9223372036854775807',
    compare: [{ modRevision: '7', targetUnion: 'modRevision', lease: '1' }],
    name: 'not-a-number',
  });
  assert.equal(r.lease, 9223372036854775807n);
  assert.equal(r.revision, 42);
  assert.equal(r.limit, Number.MAX_SAFE_INTEGER);
  assert.equal(r.compare[0].modRevision, 7);
  assert.equal(r.compare[0].lease, 1n);
  assert.equal(r.name, 'not-a-number');
  assert.ok(Buffer.isBuffer(r.key));
});

test('responses: bigints become decimal strings, nested', () => {
  const w = toWire({
    header: { memberId: 18446744073709551615n },
    kvs: [{ lease: 5n, value: new Uint8Array([1]) }],
  });
  assert.equal(w.header.memberId, '18446744073709551615');
  assert.equal((w.kvs[0] as any).lease, '5');
  assert.ok(Buffer.isBuffer(w.kvs[0]!.value));
});
