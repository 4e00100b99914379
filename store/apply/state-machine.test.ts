// The applier: replay idempotency, leases through the log, NOSPACE/CORRUPT alarms, snapshots, the entry
// encoding and etcd's request checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlarmAction,
  AlarmType,
  GrpcCode,
  StateMachine,
  decodeRequest,
  encodeRequest,
  type ApplyResult,
  type RaftRequest,
  type WatchResponse,
} from './index.js';

const b = (s: string) => Buffer.from(s);

function harness(opts: ConstructorParameters<typeof StateMachine>[0] = {}) {
  const sm = new StateMachine(opts);
  let index = 0;
  const apply = (req: RaftRequest): ApplyResult => sm.apply(++index, decodeRequest(encodeRequest(req)));
  const ok = (req: RaftRequest): any => {
    const r = apply(req);
    assert.equal(r.kind, 'response', r.kind === 'error' ? r.error.message : '');
    return (r as { response: unknown }).response;
  };
  const err = (req: RaftRequest) => {
    const r = apply(req);
    assert.equal(r.kind, 'error');
    return (r as { error: { code: number; message: string } }).error;
  };
  return { sm, apply, ok, err };
}

test('entries at or below the consistent index are skipped on replay', () => {
  const sm = new StateMachine();
  assert.equal(sm.apply(1, { put: { key: b('a'), value: b('1') } }).kind, 'response');
  assert.equal(sm.apply(2, { put: { key: b('a'), value: b('2') } }).kind, 'response');
  assert.equal(sm.apply(2, { put: { key: b('a'), value: b('3') } }).kind, 'skipped');
  assert.equal(sm.apply(1, { put: { key: b('a'), value: b('4') } }).kind, 'skipped');
  assert.equal(sm.consistentIndex(), 2);
  assert.equal(sm.range({ key: b('a') }).kvs[0]!.value.toString(), '2');
  // Errors consume their index too.
  assert.equal(sm.apply(3, { put: { key: b('') } }).kind, 'error');
  assert.equal(sm.consistentIndex(), 3);
  assert.equal(sm.revision(), 3);
});

test('headers carry the member identity and current revision', () => {
  const { sm, ok } = harness({ clusterId: 0xc1n, memberId: 0x51n });
  sm.raftTerm = 4;
  const r = ok({ put: { key: b('a'), value: b('1') } });
  assert.deepEqual(r.header, { clusterId: 0xc1n, memberId: 0x51n, revision: 2, raftTerm: 4 });
});

test('revoking a lease deletes its keys in one revision, seen by a watcher as one response', () => {
  const { sm, ok, err } = harness();
  ok({ leaseGrant: { ID: 10n, TTL: 30 } });
  for (const k of ['x/1', 'x/2', 'x/3']) ok({ put: { key: b(k), value: b('v'), lease: 10n } });
  ok({ put: { key: b('x/4'), value: b('other') } });
  const out: WatchResponse[] = [];
  const ws = sm.newWatchStream({ onResponse: (r) => void out.push(r) });
  ws.watch({ key: b('x/'), rangeEnd: b('x0') });
  const before = sm.revision();
  const resp = ok({ leaseRevoke: { ID: 10n } });
  assert.equal(resp.header.revision, before + 1);
  const evs = out.filter((r) => r.events.length > 0);
  assert.equal(evs.length, 1);
  assert.deepEqual(
    evs[0]!.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision]),
    [
      [1, 'x/1', before + 1],
      [1, 'x/2', before + 1],
      [1, 'x/3', before + 1],
    ],
  );
  assert.equal(sm.range({ key: b('x/'), rangeEnd: b('x0') }).count, 1);
  assert.equal(err({ leaseRevoke: { ID: 10n } }).code, GrpcCode.NOT_FOUND);
  assert.equal(sm.leaseTimeToLive({ ID: 10n }).TTL, -1);
});

test('lease expiry: the leader finds expired leases and revokes them through the log', () => {
  let now = 5_000_000;
  const { sm, ok } = harness({ now: () => now });
  ok({ leaseGrant: { ID: 1n, TTL: 5 } });
  ok({ leaseGrant: { ID: 2n, TTL: 60 } });
  ok({ put: { key: b('k1'), value: b('v'), lease: 1n } });
  ok({ put: { key: b('k2'), value: b('v'), lease: 2n } });
  now += 3_600_000;
  assert.deepEqual(sm.lessor.expired(), []); // a follower never expires anything
  sm.lessor.promote(0); // elected: full TTLs again
  const ttl = sm.leaseTimeToLive({ ID: 1n, keys: true });
  assert.equal(ttl.TTL, 5);
  assert.deepEqual(ttl.keys.map(String), ['k1']);
  now += 5_000;
  const expired = sm.lessor.expired();
  assert.deepEqual(expired, [1n]);
  for (const id of expired) ok({ leaseRevoke: { ID: id } });
  assert.equal(sm.range({ key: b('k1') }).count, 0);
  assert.equal(sm.range({ key: b('k2') }).count, 1);
  assert.equal(sm.leaseRenew(2n), 60);
  assert.throws(() => sm.leaseRenew(1n), {
    code: GrpcCode.NOT_FOUND,
    message: 'etcdserver: requested lease not found',
  });
  assert.deepEqual(
    sm.leaseLeases().leases.map((l) => l.ID),
    [2n],
  );
});

test('NOSPACE: over the quota writes that grow the store fail; reads, deletes and disarm work', () => {
  const { sm, ok, err } = harness({ quotaBackendBytes: 2000, memberId: 9n });
  let i = 0;
  let e;
  for (;;) {
    const r = sm.apply(1000 + i, { put: { key: b(`k${i++}`), value: Buffer.alloc(100) } });
    if (r.kind === 'error') {
      e = r.error;
      break;
    }
    assert.ok(i < 100);
  }
  assert.deepEqual(
    [e.code, e.message],
    [GrpcCode.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  );
  assert.equal(sm.quotaAvailable({ put: { key: b('x'), value: Buffer.alloc(100) } }), false);
  assert.equal(sm.quotaAvailable({ deleteRange: { key: b('x') } }), true);
  // The server raises the alarm; then even small writes fail until it is disarmed.
  const index = 2000;
  sm.apply(index, { alarm: { action: AlarmAction.ACTIVATE, memberID: 9n, alarm: AlarmType.NOSPACE } });
  assert.deepEqual(sm.alarms(), [{ memberID: 9n, alarm: AlarmType.NOSPACE }]);
  assert.equal(sm.range({ key: b('k0') }).count, 1);
  sm.apply(index + 1, { deleteRange: { key: b('k'), rangeEnd: b('l') } });
  sm.apply(index + 2, { compaction: { revision: sm.revision() } });
  const small = sm.apply(index + 3, { put: { key: b('s'), value: b('1') } });
  assert.equal(small.kind, 'error');
  assert.equal(sm.apply(index + 4, { leaseGrant: { ID: 3n, TTL: 10 } }).kind, 'error');
  const txnDel = sm.apply(index + 5, { txn: { success: [{ requestDeleteRange: { key: b('s') } }] } });
  assert.equal(txnDel.kind, 'response');
  const get = sm.apply(index + 6, {
    alarm: { action: AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE },
  });
  assert.deepEqual((get as any).response.alarms, [{ memberID: 9n, alarm: AlarmType.NOSPACE }]);
  sm.apply(index + 7, { alarm: { action: AlarmAction.DEACTIVATE, memberID: 9n, alarm: AlarmType.NOSPACE } });
  assert.deepEqual(sm.alarms(), []);
  assert.equal(sm.apply(index + 8, { put: { key: b('s'), value: b('1') } }).kind, 'response');
  void ok;
  void err;
});

test('CORRUPT alarm stops reads and writes', () => {
  const { sm, ok, err } = harness();
  ok({ put: { key: b('a'), value: b('1') } });
  ok({ alarm: { action: AlarmAction.ACTIVATE, memberID: 1n, alarm: AlarmType.CORRUPT } });
  assert.throws(() => sm.range({ key: b('a') }), {
    code: GrpcCode.DATA_LOSS,
    message: 'etcdserver: corrupt cluster',
  });
  assert.equal(err({ put: { key: b('a'), value: b('2') } }).message, 'etcdserver: corrupt cluster');
});

test('snapshot round-trip: same hash, consistent index, leases with their keys, alarms', () => {
  const { sm, ok } = harness({ memberId: 1n });
  ok({ leaseGrant: { ID: 77n, TTL: 100 } });
  for (let i = 0; i < 200; i++)
    ok({ put: { key: b(`key/${i % 23}`), value: b(`v${i}`), lease: i % 2 ? 77n : 0n } });
  ok({ deleteRange: { key: b('key/1'), rangeEnd: b('key/2') } });
  ok({ compaction: { revision: 100 } });
  ok({ alarm: { action: AlarmAction.ACTIVATE, memberID: 3n, alarm: AlarmType.NOSPACE } });
  const chunks = [...sm.snapshot(512)];
  assert.ok(chunks.length > 4);
  const restored = new StateMachine({ memberId: 2n });
  restored.restore(Buffer.concat(chunks));
  assert.deepEqual(restored.hashKV(), sm.hashKV());
  assert.deepEqual(restored.hashKV(150), sm.hashKV(150));
  assert.equal(restored.consistentIndex(), sm.consistentIndex());
  assert.deepEqual(restored.alarms(), sm.alarms());
  assert.deepEqual(
    restored.leaseTimeToLive({ ID: 77n, keys: true }).keys.map(String),
    sm.leaseTimeToLive({ ID: 77n, keys: true }).keys.map(String),
  );
  assert.throws(() => restored.range({ key: b('key/3'), revision: 99 }), { code: GrpcCode.OUT_OF_RANGE });
  // Replaying entries the snapshot covers does nothing.
  assert.equal(restored.apply(sm.consistentIndex(), { put: { key: b('z') } }).kind, 'skipped');
  // Revoking the lease after restore deletes exactly the keys that were attached before.
  const before = restored.range({ key: b('key/'), rangeEnd: b('key0') }).count;
  restored.apply(sm.consistentIndex() + 1, { leaseRevoke: { ID: 77n } });
  const after = restored.range({ key: b('key/'), rangeEnd: b('key0') }).kvs;
  assert.ok(after.length < before && after.every((kv) => kv.lease === 0n));
  const bad = Buffer.concat(chunks);
  bad[20] ^= 1;
  assert.throws(() => new StateMachine().restore(bad), /checksum/);
});

test('a watcher on a restored member catches up from the restored history', async () => {
  const src = harness();
  for (let i = 0; i < 10; i++) src.ok({ put: { key: b('w'), value: b(`${i}`) } });
  const dst = new StateMachine({ watch: { schedule: (fn) => queueMicrotask(fn) } });
  dst.apply(1, { put: { key: b('w'), value: b('0') } });
  const out: WatchResponse[] = [];
  dst.newWatchStream({ onResponse: (r) => void out.push(r) }).watch({ key: b('w') });
  dst.restore(Buffer.concat([...src.sm.snapshot()]));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    out.flatMap((r) => r.events.map((e) => e.kv.modRevision)),
    [3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
});

test('the entry encoding round-trips Buffers, bigints, nested txns and absent fields exactly', () => {
  const reqs: RaftRequest[] = [
    {
      id: (1n << 64n) - 1n,
      put: { key: Buffer.from([0, 255, 1]), value: Buffer.alloc(0), lease: (1n << 63n) - 1n, prevKv: false },
    },
    { deleteRange: { key: b('a'), rangeEnd: Buffer.from([0]), prevKv: true } },
    {
      txn: {
        compare: [
          { key: b('k'), target: 4, result: 3, lease: 5n, rangeEnd: b('z') },
          { key: b('k'), target: 2, result: 1, modRevision: 2 ** 52 },
        ],
        success: [
          {
            requestRange: {
              key: b('a'),
              revision: -1,
              limit: 3,
              sortOrder: 2,
              sortTarget: 4,
              keysOnly: true,
              maxCreateRevision: 9,
            },
          },
          { requestTxn: { success: [{ requestPut: { key: b('n'), ignoreLease: true } }], failure: [] } },
        ],
        failure: [{ requestDeleteRange: { key: b('d') } }],
      },
    },
    { compaction: { revision: 12345, physical: true } },
    { leaseGrant: { ID: 42n, TTL: 9_000_000_000 } },
    { leaseRevoke: { ID: 42n } },
    { leaseCheckpoint: { checkpoints: [{ ID: 1n, remainingTTL: 10 }] } },
    { alarm: { action: 1, memberID: 0xffffffffffffffffn, alarm: 1 } },
    { noop: true },
  ];
  for (const r of reqs) assert.deepEqual(decodeRequest(encodeRequest(r)), r);
  assert.ok(encodeRequest({ put: { key: b('foo'), value: b('bar') } }).length < 16);
  assert.throws(() => decodeRequest(Buffer.from([9, 0])), /version/);
  assert.throws(() => decodeRequest(encodeRequest(reqs[0]!).subarray(0, 10)), /truncated/);
  assert.throws(() => decodeRequest(Buffer.concat([encodeRequest(reqs[5]!), Buffer.from([0])])), /trailing/);
});

test("etcd's request checks: empty keys, ignore_* misuse, op counts with nested budgets, duplicates", () => {
  const sm = new StateMachine();
  const msg = (req: RaftRequest) => sm.validate(req)?.message;
  assert.equal(msg({ put: { key: b('') } }), 'etcdserver: key is not provided');
  assert.equal(
    msg({ put: { key: b('a'), value: b('x'), ignoreValue: true } }),
    'etcdserver: value is provided',
  );
  assert.equal(msg({ put: { key: b('a'), lease: 1n, ignoreLease: true } }), 'etcdserver: lease is provided');
  assert.equal(msg({ deleteRange: { key: b('') } }), 'etcdserver: key is not provided');
  const puts = (n: number, p = 'k') =>
    Array.from({ length: n }, (_, i) => ({ requestPut: { key: b(`${p}${i}`) } }));
  assert.equal(msg({ txn: { success: puts(128) } }), undefined);
  assert.equal(msg({ txn: { success: puts(129) } }), 'etcdserver: too many operations in txn request');
  // A nested txn may use only what the outer level left (128 - 101 ops here).
  assert.equal(
    msg({ txn: { success: [...puts(100), { requestTxn: { success: puts(28, 'n') } }] } }),
    'etcdserver: too many operations in txn request',
  );
  assert.equal(
    msg({ txn: { success: [...puts(100), { requestTxn: { success: puts(27, 'n') } }] } }),
    undefined,
  );
  assert.equal(msg({ txn: { success: [{} as never] } }), 'etcdserver: key not found');
  const dup = 'etcdserver: duplicate key given in txn request';
  assert.equal(
    msg({ txn: { failure: [{ requestPut: { key: b('a') } }, { requestPut: { key: b('a') } }] } }),
    dup,
  );
  assert.equal(
    msg({
      txn: {
        success: [
          { requestDeleteRange: { key: b('a'), rangeEnd: b('c') } },
          { requestTxn: { success: [{ requestPut: { key: b('b') } }] } },
        ],
      },
    }),
    dup,
  );
  assert.equal(
    msg({
      txn: {
        success: [
          { requestTxn: { success: [{ requestDeleteRange: { key: b('b') } }] } },
          { requestPut: { key: b('b') } },
        ],
      },
    }),
    dup,
  );
  assert.equal(
    msg({ txn: { success: [{ requestPut: { key: b('a') } }], failure: [{ requestPut: { key: b('a') } }] } }),
    undefined,
  );
  assert.equal(
    msg({ txn: { success: [{ requestRange: { key: b('a') } }, { requestPut: { key: b('a') } }] } }),
    undefined,
  );
});

test('ignore_value after a from-key delete of the key in the same txn is refused, not half-applied', () => {
  // etcd 3.4 lets this txn through its duplicate check and then panics mid-apply (seen with the
  // differential test); we answer "key not found" before writing anything.
  const { sm, ok, err } = harness();
  ok({ put: { key: b('k9'), value: b('v') } });
  const rev = sm.revision();
  const e = err({
    txn: {
      success: [
        { requestDeleteRange: { key: b('k7'), rangeEnd: Buffer.from([0]) } },
        { requestPut: { key: b('k9'), ignoreValue: true } },
      ],
    },
  });
  assert.equal(e.message, 'etcdserver: key not found');
  assert.equal(sm.revision(), rev);
  assert.equal(sm.range({ key: b('k9') }).count, 1);
});

test('a snapshot is the state at the moment it was asked for, even if entries are applied while it streams', () => {
  const { sm, ok } = harness();
  ok({ leaseGrant: { ID: 5n, TTL: 100 } });
  for (let i = 0; i < 300; i++)
    ok({ put: { key: b(`key/${i % 40}`), value: Buffer.alloc(100, i), lease: i % 3 ? 0n : 5n } });
  const want = {
    hash: sm.hashKV(),
    index: sm.consistentIndex(),
    rev: sm.revision(),
    leaseKeys: sm.leaseTimeToLive({ ID: 5n, keys: true }).keys.map(String),
  };
  assert.equal(want.leaseKeys.length, 13);
  const chunks: Buffer[] = [];
  const it = sm.snapshot(1024);
  let step = 0;
  for (let r = it.next(); !r.done; r = it.next()) {
    chunks.push(r.value);
    // Meanwhile: writes, deletes, a compaction, a revoke.
    if (step === 2) ok({ compaction: { revision: sm.revision() - 5 } });
    if (step === 3) ok({ deleteRange: { key: b('key/'), rangeEnd: b('key0') } });
    if (step === 4) ok({ leaseRevoke: { ID: 5n } });
    if (step % 2) ok({ put: { key: b(`new/${step}`), value: b('x') } });
    step++;
  }
  assert.ok(step > 6);
  const restored = new StateMachine();
  restored.restore(Buffer.concat(chunks));
  assert.deepEqual(restored.hashKV(), want.hash);
  assert.equal(restored.consistentIndex(), want.index);
  assert.equal(restored.revision(), want.rev);
  assert.deepEqual(restored.leaseTimeToLive({ ID: 5n, keys: true }).keys.map(String), want.leaseKeys);
});

test('hashKVAsync hashes the state of the moment it was called while writes go on', async () => {
  const { sm, ok } = harness();
  for (let i = 0; i < 2000; i++) ok({ put: { key: b(`h/${i % 300}`), value: b(`${i}`) } });
  const want = sm.hashKV();
  const pending = sm.kv.hashKVAsync(0, 100);
  // A writer that takes a turn of the event loop between the hash's turns.
  let more = 0;
  let stop = false;
  const tick = () => {
    if (stop) return;
    ok({ put: { key: b(`h/${more++ % 300}`), value: b('later') } });
    if (more === 3) ok({ compaction: { revision: sm.revision() - 1 } });
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    assert.deepEqual(await pending, want);
  } finally {
    stop = true;
  }
  assert.ok(more > 3, 'writes and a compaction happened while hashing');
  await assert.rejects(sm.hashKVAsync(1), {
    code: 11,
    message: 'etcdserver: mvcc: required revision has been compacted',
  });
});
