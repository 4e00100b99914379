// The gRPC edge conversion: int64 strings become numbers or exact bigints by field; bigints go back out exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromWire, toWire } from './convert.js';
import { loadProtos } from './proto.js';

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

test('responses: bigints and Uint8Arrays encode exactly through the service serializer', () => {
  const range = (loadProtos().KV.service as any).Range;
  const resp = toWire({
    header: { clusterId: 18446744073709551615n, memberId: 1n, revision: 2 ** 53 - 1, raftTerm: 3 },
    kvs: [{ key: Buffer.from('k'), lease: 9223372036854775807n, value: new Uint8Array([1]), modRevision: 4 }],
    count: 1,
  });
  const back = range.responseDeserialize(range.responseSerialize(resp));
  assert.equal(back.header.clusterId, '18446744073709551615');
  assert.equal(back.header.revision, String(2 ** 53 - 1));
  assert.equal(back.kvs[0].lease, '9223372036854775807');
  assert.equal(back.kvs[0].modRevision, '4');
  assert.deepEqual([...back.kvs[0].value], [1]);
});
