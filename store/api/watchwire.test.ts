// Tests for the hand-written WatchResponse encoding: it must decode, with etcd's own .proto definitions,
// to exactly what the protobufjs path (toWire + the service serializer) produces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toWire } from './convert.js';
import { loadProtos } from './proto.js';
import { encodeWatchResponse, passEncodedResponses } from './watchwire.js';

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

test('passEncodedResponses passes Buffers through and still encodes objects', () => {
  const svc = passEncodedResponses(loadProtos().Watch.service as any) as any;
  const bytes = Buffer.from([1, 2, 3]);
  assert.equal(svc.Watch.responseSerialize(bytes), bytes);
  const m = cases['created'];
  assert.deepEqual(decode(svc.Watch.responseSerialize(toWire(m))), decode(viaProtobufjs(m)));
});
