import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../apply/index.js';
import type { RaftRequest } from '../apply/types.js';
import { readBolt } from './bolt.js';
import { fromEtcdDb, isBoltFile, toEtcdDb, toEtcdDbAsync } from './etcd-db.js';

const b = (s: string) => Buffer.from(s);

function sample(): StateMachine {
  const sm = new StateMachine();
  let index = 0;
  const ok = (req: RaftRequest) => {
    const r = sm.apply(++index, req);
    assert.equal(
      r.kind,
      'response',
      JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
  };
  for (let i = 0; i < 200; i++) ok({ put: { key: b(`k/${i % 50}`), value: b(`v${i}`) } });
  ok({ leaseGrant: { ID: 77n, TTL: 100 } });
  ok({ put: { key: b('leased'), value: b('x'), lease: 77n } });
  ok({ deleteRange: { key: b('k/1'), rangeEnd: b('k/2') } });
  ok({ compaction: { revision: 120 } });
  // One revision, several changes (sub revisions 0, 1, 2).
  ok({
    txn: {
      success: [
        { requestDeleteRange: { key: b('k/3'), rangeEnd: b('k/4') } },
        { requestPut: { key: b('k/40'), value: b('again') } },
        { requestPut: { key: b('new'), value: b('n') } },
      ],
    },
  });
  ok({ alarm: { action: 1, memberID: 5n, alarm: 1 } });
  return sm;
}

test('a state machine survives the trip through an etcd database file', () => {
  const sm = sample();
  const file = toEtcdDb(
    sm.dump(),
    [{ id: 0x1234n, name: 'm', peerURLs: ['http://p'], clientURLs: [], isLearner: false }],
    [9n],
  );
  assert.ok(isBoltFile(file));
  const back = new StateMachine();
  back.load(fromEtcdDb(file));
  assert.equal(back.revision(), sm.revision());
  assert.equal(back.consistentIndex(), sm.consistentIndex());
  assert.deepEqual(back.hashKV(), sm.hashKV());
  assert.deepEqual(back.hashKV(150), sm.hashKV(150));
  assert.deepEqual(back.alarms(), sm.alarms());
  assert.deepEqual(back.lessor.dump(), sm.lessor.dump());
  assert.deepEqual(back.lessor.timeToLive(77n)?.keys, [b('leased')]);
  assert.throws(() => back.kv.range(b('k/'), b('k0'), { rev: 100 }), /compacted/);
  assert.deepEqual(
    back.kv.range(b('k/'), b('k0'), { rev: 150 }),
    sm.kv.range(b('k/'), b('k0'), { rev: 150 }),
  );
});

test('the file holds what etcd keeps, where etcd keeps it', () => {
  const sm = sample();
  const buckets = readBolt(
    toEtcdDb(
      sm.dump(),
      [{ id: 0xabcdefn, name: 'm', peerURLs: ['http://p'], clientURLs: ['http://c'], isLearner: false }],
      [9n],
    ),
  );
  assert.deepEqual([...buckets.keys()].sort(), [
    'alarm',
    'auth',
    'authRoles',
    'authUsers',
    'cluster',
    'key',
    'lease',
    'members',
    'members_removed',
    'meta',
  ]);
  const meta = new Map(buckets.get('meta')!.map(([k, v]) => [k.toString(), v]));
  assert.equal(meta.get('consistent_index')!.readBigUInt64BE(0), BigInt(sm.consistentIndex()));
  assert.equal(meta.get('finishedCompactRev')!.readBigUInt64BE(0), 120n);
  const keys = buckets.get('key')!;
  // Keys are revisions in order; tombstones end in 't' and hold only the key.
  const last = keys[keys.length - 1]![0];
  assert.equal(last.readBigUInt64BE(0), BigInt(sm.revision()));
  const tomb = keys.find(([k]) => k.length === 18)!;
  assert.equal(tomb[0][17], 0x74);
  assert.equal(tomb[1][0], 0x0a); // field 1 (key), length-delimited, and nothing else
  assert.equal(tomb[1].length, 2 + tomb[1][1]!);
  assert.deepEqual(
    buckets
      .get('members')!
      .map(([k, v]) => [k.toString(), JSON.parse(v.toString().replace(/"id":(\d+)/, '"id":"$1"'))]),
    [['abcdef', { id: String(0xabcdef), peerURLs: ['http://p'], name: 'm', clientURLs: ['http://c'] }]],
  );
  assert.deepEqual(
    buckets.get('members_removed')!.map(([k, v]) => [k.toString(), v.toString()]),
    [['9', 'removed']],
  );
  assert.deepEqual(
    buckets.get('lease')!.map(([k]) => k.readBigUInt64BE(0)),
    [77n],
  );
});

test('not an etcd database: a clear error', () => {
  assert.equal(isBoltFile(Buffer.alloc(4096)), false);
  assert.throws(() => fromEtcdDb(Buffer.alloc(8192)));
});

test('built in slices between event-loop turns, the file is the same, and of the moment of the dump', async () => {
  const sm = new StateMachine();
  // Enough versions for several slices (the encoding yields every 2,000).
  for (let i = 0; i < 10_000; i++)
    sm.apply(sm.consistentIndex() + 1, { put: { key: b(`many/${i % 3000}`), value: b(`v${i}`) } });
  const dump = sm.dump();
  const whole = toEtcdDb(sm.dump(), [], []);
  let turns = 0;
  let counting = true;
  const count = () => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  const sliced = toEtcdDbAsync(dump, [], [], 0);
  // Writes after the dump do not reach the file.
  sm.apply(sm.consistentIndex() + 1, { put: { key: b('late'), value: b('x') } });
  const file = await sliced;
  counting = false;
  assert.ok(file.equals(whole));
  assert.ok(turns > 3, `the event loop turned while the file was built (${turns})`);
});
