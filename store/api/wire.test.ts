// Tests for the hand-written response encodings: each must decode, with etcd's own .proto definitions, to
// exactly what the protobufjs path (toWire + the service serializer) produces, and leave zeros out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toWire } from './convert.js';
import { loadProtos } from './proto.js';
import {
  encodeDeleteRangeResponse,
  encodePutResponse,
  encodeRangeResponse,
  encodeTxnResponse,
  encodeWatchFrame,
  encodeWatchResponse,
  kvServiceWithEncoders,
} from './wire.js';

const def = (loadProtos().Watch.service as any).Watch;
const decode = (b: Buffer) => def.responseDeserialize(b);
const viaProtobufjs = (m: any) => def.responseSerialize(toWire(m));

const kv = (key: string, rev: number, lease: bigint, value = 'v') => ({
  key: Buffer.from(key),
  createRevision: 2,
  modRevision: rev,
  version: rev - 1,
  value: Buffer.from(value),
  lease,
});
const header = { clusterId: 0xfedcba9876543210n, memberId: 0x8e9e05c52164694dn, revision: 12, raftTerm: 3 };

const cases: Record<string, any> = {
  created: {
    header,
    watchId: 0,
    created: true,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    fragment: false,
    events: [],
  },
  'put and delete, prev kv, big lease': {
    header,
    watchId: 7,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    fragment: false,
    events: [
      { type: 0, kv: kv('a', 10, 0x7fffffffffffffffn, 'x'.repeat(300)) },
      { type: 1, kv: { ...kv('b', 11, 0n, ''), createRevision: 0, version: 0 }, prevKv: kv('b', 9, 5n) },
      { type: 0, kv: kv('', 12, 0n, '') },
    ],
  },
  canceled: {
    header: { ...header, revision: 0 },
    watchId: 300,
    created: false,
    canceled: true,
    compactRevision: 5,
    cancelReason: 'etcdserver: mvcc: required revision has been compacted',
    fragment: false,
    events: [],
  },
  'large numbers': {
    header: { ...header, revision: 2 ** 53 - 1 },
    watchId: 2 ** 40,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    fragment: true,
    events: [{ type: 0, kv: kv('k', 2 ** 33, 1n) }],
  },
};

for (const [name, resp] of Object.entries(cases)) {
  test(`WatchResponse "${name}" decodes as the protobufjs encoding does`, () => {
    const mine = encodeWatchResponse(resp);
    assert.deepEqual(decode(mine), decode(viaProtobufjs(resp)));
  });
}

test('a KeyValue shared by many responses is encoded once and reused; responses stay independent', () => {
  const shared = kv('k', 4, 0n);
  const a = encodeWatchResponse({ header, watchId: 1, events: [{ type: 0, kv: shared }] });
  const b = encodeWatchResponse({ header, watchId: 2, events: [{ type: 0, kv: shared }] });
  assert.equal(decode(a).watchId, '1');
  assert.equal(decode(b).watchId, '2');
  assert.deepEqual(decode(a).events, decode(b).events);
  assert.equal(decode(b).events[0].kv.value.toString(), 'v');
});

/** The message inside a gRPC frame, after checking the frame's 5-byte prefix. */
function unframe(f: Buffer): Buffer {
  assert.equal(f[0], 0, 'not compressed');
  assert.equal(f.readUInt32BE(1), f.length - 5, 'the prefix gives the message length');
  return f.subarray(5);
}

for (const [name, resp] of Object.entries({
  ...cases,
  'a progress notification (watch id -1)': { header, watchId: -1, events: [] },
  'an event for watch 0, no header': { watchId: 0, events: [{ type: 0, kv: kv('z', 3, 0n) }] },
})) {
  test(`watch frame "${name}": one gRPC message, decoding as the protobufjs encoding does`, () => {
    assert.deepEqual(decode(unframe(encodeWatchFrame(resp))), decode(viaProtobufjs(resp)));
  });
}

test('watch frames share the header and event bytes between watchers, and each carries its own watch id', () => {
  const shared = kv('k', 4, 0n);
  const put = { type: 0, kv: shared };
  const frames = [0, 1, 2, 300, 2 ** 40].map((watchId) =>
    // A new header object per response with the same values, as the server builds them.
    encodeWatchFrame({ header: { ...header }, watchId, events: [put] }),
  );
  const ids = frames.map((f) => decode(unframe(f)).watchId);
  assert.deepEqual(ids, ['0', '1', '2', '300', String(2 ** 40)]);
  for (const f of frames) assert.deepEqual(decode(unframe(f)).events, decode(unframe(frames[0]!)).events);
  // A new revision (or term) gets a new header, not the memoized one.
  const later = decode(
    unframe(encodeWatchFrame({ header: { ...header, revision: 13 }, watchId: 1, events: [put] })),
  );
  assert.equal(later.header.revision, '13');
  const other = decode(
    unframe(encodeWatchFrame({ header: { ...header, raftTerm: 4 }, watchId: 1, events: [put] })),
  );
  assert.equal(other.header.raftTerm, '4');
  // The same KeyValue as a delete's kv never happens in the store, but the cache keys on the type too.
  const del = decode(unframe(encodeWatchFrame({ header, watchId: 1, events: [{ type: 1, kv: shared }] })));
  assert.equal(del.events[0].type, 1); // DELETE
  // prev_kv events are built per watcher and stay right.
  const withPrev = decode(
    unframe(
      encodeWatchFrame({
        header,
        watchId: 1,
        events: [{ type: 0, kv: shared, prevKv: kv('k', 3, 0n, 'old') }],
      }),
    ),
  );
  assert.equal(withPrev.events[0].prevKv.value.toString(), 'old');
});

test('the shared encodings last one event-loop turn: a KeyValue sent again later is encoded again', async () => {
  const k = kv('t', 5, 0n, 'first');
  const watchFrame = () =>
    decode(unframe(encodeWatchFrame({ header, watchId: 1, events: [{ type: 0, kv: k }] })));
  assert.equal(watchFrame().events[0].kv.value.toString(), 'first');
  // The store never changes a KeyValue it has handed out; changing one shows what is cached and for how long.
  k.value = Buffer.from('second');
  assert.equal(watchFrame().events[0].kv.value.toString(), 'first', 'same turn: the shared bytes');
  await new Promise((r) => setImmediate(r));
  assert.equal(watchFrame().events[0].kv.value.toString(), 'second', 'a later turn: encoded again');
});

const kvDefs = loadProtos().KV.service as any as Record<string, any>;
const inner = (revision: number) => ({ clusterId: 0n, memberId: 0n, revision, raftTerm: 0 });
const kvCases: Record<string, [string, (m: any) => Buffer, any]> = {
  'Range with keys, more and count': [
    'Range',
    encodeRangeResponse,
    { header, kvs: [kv('a', 5, 0n), kv('b', 6, 0x7fffffffffffffffn, '')], more: true, count: 7 },
  ],
  'Range with nothing': ['Range', encodeRangeResponse, { header, kvs: [], more: false, count: 0 }],
  'Put with a previous value': ['Put', encodePutResponse, { header, prevKv: kv('a', 3, 9n) }],
  'Put without': ['Put', encodePutResponse, { header, prevKv: null }],
  'DeleteRange with previous values': [
    'DeleteRange',
    encodeDeleteRangeResponse,
    { header, deleted: 2, prevKvs: [kv('a', 3, 0n), kv('b', 4, 0n)] },
  ],
  'Txn, every kind of response, nested': [
    'Txn',
    encodeTxnResponse,
    {
      header,
      succeeded: true,
      responses: [
        { responsePut: { header: inner(9), prevKv: null } },
        { responseRange: { header: inner(9), kvs: [kv('a', 9, 0n)], more: false, count: 1 } },
        { responseDeleteRange: { header: inner(9), deleted: 0, prevKvs: [] } },
        {
          responseTxn: {
            header: inner(0),
            succeeded: false,
            responses: [{ responseRange: { header: inner(9), kvs: [], more: false, count: 0 } }],
          },
        },
      ],
    },
  ],
};

for (const [name, [method, encode, resp]] of Object.entries(kvCases)) {
  test(`${method}Response "${name}" decodes as the protobufjs encoding does`, () => {
    const d = kvDefs[method];
    const mine = encode(resp);
    assert.deepEqual(d.responseDeserialize(mine), d.responseDeserialize(d.responseSerialize(toWire(resp))));
    assert.ok(mine.length <= d.responseSerialize(toWire(resp)).length);
  });
}

test('zeros are left out as etcd leaves them out: no lease 0, no more/succeeded false, empty nested headers', () => {
  // KeyValue {key "a", create_revision 2, mod_revision 5, version 4, value "v"}: no field 6 (lease).
  const r = encodeRangeResponse({ kvs: [kv('a', 5, 0n)], more: false, count: 0 });
  assert.equal(r.toString('hex'), '120c0a01611002180520042a0176');
  // A failed txn whose nested txn has an all-zero header: no field 2, and the nested header is empty.
  const t = encodeTxnResponse({
    succeeded: false,
    responses: [{ responseTxn: { header: inner(0), responses: [] } }],
  });
  assert.equal(t.toString('hex'), '1a0422020a00');
});

test('the KV service definition uses these encoders for Range, Put, DeleteRange and Txn', () => {
  const svc = kvServiceWithEncoders(kvDefs) as any;
  assert.equal(svc.Range.responseSerialize, encodeRangeResponse);
  assert.equal(svc.Put.responseSerialize, encodePutResponse);
  assert.equal(svc.DeleteRange.responseSerialize, encodeDeleteRangeResponse);
  assert.equal(svc.Txn.responseSerialize, encodeTxnResponse);
  assert.equal(svc.Compact.responseSerialize, kvDefs.Compact.responseSerialize);
});
