// Snapshot and backup framing: round trips, and refuses foreign or truncated bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, parseInitialCluster } from './members.js';
import { decodeBackup, decodeSnapshotData, encodeBackup, encodeSnapshotData } from './snapshot.js';

test('snapshot data round-trips membership and state machine bytes', () => {
  const m = Membership.bootstrap(parseInitialCluster('a=http://127.0.0.1:2380'), 'etcd-cluster');
  const sm = Buffer.from('state machine bytes');
  const d = decodeSnapshotData(encodeSnapshotData(m, sm));
  assert.deepEqual(d.stateMachine, sm);
  assert.equal(Membership.fromJSON(d.membership).clusterId, m.clusterId);
  assert.throws(() => decodeSnapshotData(Buffer.from('garbage garbage')), /bad magic/);
  assert.throws(() => decodeSnapshotData(encodeSnapshotData(m, sm).subarray(0, 14)), /truncated/);
});

test('a backup is 512-byte aligned before its hash, as etcdctl expects', () => {
  for (const n of [0, 1, 503, 504, 505, 5000]) {
    const b = encodeBackup(Buffer.alloc(n, 7));
    assert.equal(b.length % 512, 0);
    assert.equal(decodeBackup(Buffer.concat([b, Buffer.alloc(32)])).length, n);
  }
});
