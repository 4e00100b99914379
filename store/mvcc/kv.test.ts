// The revisioned key space: revisions, generations, past reads, compaction, serialization, and a seeded
// randomized comparison against a simple reference model (replay with MVCC_SEED=<n>).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MvccStore, type KeyValue } from './index.js';

const b = (s: string) => Buffer.from(s);
const keys = (kvs: KeyValue[]) => kvs.map((kv) => kv.key.toString());

function put(s: MvccStore, k: string, v: string, lease = 0n): number {
  const t = s.write();
  const { rev } = t.put(b(k), b(v), lease);
  t.end();
  return rev;
}

test('revisions, versions and generations', () => {
  const s = new MvccStore();
  assert.equal(s.rev(), 1);
  put(s, 'a', '1');
  put(s, 'a', '2');
  let kv = s.range(b('a'), undefined).kvs[0]!;
  assert.deepEqual([kv.createRevision, kv.modRevision, kv.version], [2, 3, 2]);
  const t = s.write();
  assert.equal(t.deleteRange(b('a'), undefined).deleted.length, 1);
  t.end();
  assert.equal(s.rev(), 4);
  assert.equal(s.range(b('a'), undefined).count, 0);
  put(s, 'a', '3');
  kv = s.range(b('a'), undefined).kvs[0]!;
  assert.deepEqual([kv.createRevision, kv.modRevision, kv.version], [5, 5, 1]);
  // Past reads see each generation.
  assert.equal(s.range(b('a'), undefined, { rev: 3 }).kvs[0]!.value.toString(), '2');
  assert.equal(s.range(b('a'), undefined, { rev: 4 }).kvs.length, 0);
  // An empty write txn (deleting nothing) does not raise the revision.
  const t2 = s.write();
  t2.deleteRange(b('zzz'), undefined);
  t2.end();
  assert.equal(s.rev(), 5);
});

test('a write txn shares one revision and reads its own writes', () => {
  const s = new MvccStore();
  const t = s.write();
  assert.equal(t.put(b('x'), b('1'), 0n).rev, 2);
  assert.equal(t.range(b('x'), undefined).kvs[0]!.value.toString(), '1');
  assert.equal(t.range(b('x'), undefined).rev, 2);
  assert.equal(t.put(b('y'), b('2'), 0n).rev, 2);
  t.end();
  assert.equal(s.rev(), 2);
  assert.equal(s.eventsSince(2, 2, 100)[0]!.events.length, 2);
});

test('ranges: single, [a, b), to the end, limit and count', () => {
  const s = new MvccStore();
  for (const k of ['a', 'b', 'b\u00ff', 'c', 'd']) put(s, k, k);
  assert.deepEqual(keys(s.range(b('b'), b('d')).kvs), ['b', 'b\u00ff', 'c']);
  assert.deepEqual(keys(s.range(b('b'), Buffer.alloc(0)).kvs), ['b', 'b\u00ff', 'c', 'd']);
  assert.deepEqual(keys(s.range(b('c'), b('a')).kvs), []);
  const lim = s.range(b('a'), Buffer.alloc(0), { limit: 2 });
  assert.deepEqual([keys(lim.kvs), lim.count], [['a', 'b'], 5]);
  const cnt = s.range(b('a'), Buffer.alloc(0), { count: true });
  assert.deepEqual([cnt.kvs.length, cnt.count], [0, 5]);
  // Keys are compared as bytes, not as UTF-16 strings.
  put(s, '\u00e9', 'e-acute');
  assert.deepEqual(keys(s.range(b('d'), Buffer.alloc(0)).kvs), ['d', '\u00e9']);
});

test('compaction keeps the latest version of live keys and drops tombstones', () => {
  const s = new MvccStore();
  put(s, 'a', '1'); // 2
  put(s, 'b', '1'); // 3
  put(s, 'a', '2'); // 4
  const t = s.write();
  t.deleteRange(b('b'), undefined); // 5
  t.end();
  put(s, 'a', '3'); // 6
  const before = s.size();
  s.compact(5);
  assert.ok(s.size() < before);
  assert.equal(s.compactRevision(), 5);
  assert.throws(() => s.range(b('a'), undefined, { rev: 4 }), { kind: 'compacted' });
  assert.equal(s.range(b('a'), undefined, { rev: 5 }).kvs[0]!.value.toString(), '2');
  assert.equal(s.range(b('b'), undefined, { rev: 5 }).kvs.length, 0);
  assert.throws(() => s.range(b('a'), undefined, { rev: 7 }), { kind: 'future-rev' });
  assert.throws(() => s.compact(5), { kind: 'compacted' });
  assert.throws(() => s.compact(9), { kind: 'future-rev' });
  assert.throws(() => s.eventsSince(4, 6, 10), { kind: 'compacted' });
  // HashKV, as etcd: not at the compact revision itself, not in the future.
  assert.throws(() => s.hashKV(5), { kind: 'compacted' });
  assert.throws(() => s.hashKV(7), { kind: 'future-rev' });
  assert.equal(s.hashKV(6).hashRevision, 6);
  assert.equal(s.hashKV().compactRevision, 5);
  assert.equal(new MvccStore().hashKV().compactRevision, -1);
  // Revision 5, the compact revision, deleted b: the key index forgot b, but watchers resuming at 5
  // still get the delete (without prev_kv, which is compacted away), here and after a restore.
  const at5 = s.eventsSince(5, 6, 10);
  assert.deepEqual(
    at5.map((x) => [x.rev, x.events.map((e) => [e.type, e.kv.key.toString(), e.prevKv ?? null])]),
    [
      [5, [[1, 'b', null]]],
      [6, [[0, 'a', at5[1]!.events[0]!.prevKv]]],
    ],
  );
  const r = new MvccStore();
  r.restore(Buffer.concat([...s.serialize()]));
  assert.deepEqual(r.eventsSince(5, 6, 10), at5);
});

test('serialize/restore round-trips history, compaction and hash, in chunks', () => {
  const s = new MvccStore();
  for (let i = 0; i < 300; i++) put(s, `key-${i % 37}`, 'x'.repeat(i % 50), BigInt(i % 3));
  s.compact(100);
  const chunks = [...s.serialize(1024)];
  assert.ok(chunks.length > 3);
  const r = new MvccStore();
  r.restore(Buffer.concat(chunks));
  assert.deepEqual(r.hashKV(), s.hashKV());
  assert.deepEqual(r.hashKV(200), s.hashKV(200));
  assert.equal(r.rev(), s.rev());
  assert.equal(r.size(), s.size());
  assert.deepEqual(r.eventsSince(101, 301, 1e9), s.eventsSince(101, 301, 1e9));
  const bad = Buffer.concat(chunks);
  bad[bad.length - 3] ^= 0xff;
  assert.throws(() => new MvccStore().restore(bad));
  // Different histories hash differently.
  put(r, 'key-1', 'changed');
  assert.notEqual(r.hashKV().hash, s.hashKV().hash);
});

/** xorshift32: small, seeded, reproducible. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

test('randomized: the key space matches a reference model at every revision', () => {
  const seed = Number(process.env.MVCC_SEED ?? Date.now() % 1_000_000);
  console.log(`mvcc model test seed=${seed} (replay with MVCC_SEED=${seed})`);
  const rand = rng(seed);
  const s = new MvccStore();
  type M = Map<string, { value: string; create: number; mod: number; version: number }>;
  const states: M[] = [new Map(), new Map()]; // states[rev]
  let compacted = 0;
  const KEYS = 12;
  const key = () => `k${rand(KEYS).toString().padStart(2, '0')}`;
  for (let step = 0; step < 1500; step++) {
    const cur = s.rev();
    const op = rand(10);
    if (op < 5) {
      const t = s.write();
      const next: M = new Map(states[cur]!);
      const n = 1 + rand(3);
      const used = new Set<string>();
      for (let i = 0; i < n; i++) {
        const k = key();
        if (used.has(k)) continue;
        used.add(k);
        if (rand(4) === 0) {
          const end = `k${(parseInt(k.slice(1)) + 1 + rand(3)).toString().padStart(2, '0')}`;
          t.deleteRange(b(k), b(end));
          for (const mk of [...next.keys()]) if (mk >= k && mk < end) next.delete(mk);
          for (const mk of states[cur]!.keys()) if (mk >= k && mk < end) used.add(mk);
        } else {
          const v = `v${step}.${i}`;
          t.put(b(k), b(v), 0n);
          const prev = next.get(k);
          next.set(k, {
            value: v,
            create: prev ? prev.create : cur + 1,
            mod: cur + 1,
            version: prev ? prev.version + 1 : 1,
          });
        }
      }
      t.end();
      if (t.changes().length > 0) states.push(next);
      assert.equal(s.rev(), states.length - 1, `seed ${seed} step ${step}`);
    } else if (op === 5 && cur > compacted + 1) {
      const rev = compacted + 1 + rand(cur - compacted);
      s.compact(rev);
      compacted = rev;
    } else {
      const rev = rand(cur + 2);
      const lo = key();
      const hi =
        rand(3) === 0 ? undefined : `k${(parseInt(lo.slice(1)) + rand(6)).toString().padStart(2, '0')}`;
      const limit = rand(3) === 0 ? 1 + rand(4) : 0;
      if (rev > cur) {
        assert.throws(() => s.range(b(lo), hi === undefined ? undefined : b(hi), { rev }), {
          kind: 'future-rev',
        });
        continue;
      }
      const at = rev === 0 ? cur : rev;
      if (at < compacted) {
        assert.throws(() => s.range(b(lo), hi === undefined ? undefined : b(hi), { rev }), {
          kind: 'compacted',
        });
        continue;
      }
      const got = s.range(b(lo), hi === undefined ? undefined : b(hi), { rev, limit });
      const want = [...states[at]!.entries()]
        .filter(([k]) => (hi === undefined ? k === lo : k >= lo && k < hi))
        .sort((x, y) => (x[0] < y[0] ? -1 : 1));
      assert.equal(got.count, want.length, `seed ${seed} step ${step}: count`);
      assert.equal(got.rev, cur);
      const w = limit ? want.slice(0, limit) : want;
      assert.deepEqual(
        got.kvs.map((kv) => [
          kv.key.toString(),
          kv.value.toString(),
          kv.createRevision,
          kv.modRevision,
          kv.version,
        ]),
        w.map(([k, x]) => [k, x.value, x.create, x.mod, x.version]),
        `seed ${seed} step ${step}: range ${lo}..${hi} at ${rev}`,
      );
    }
  }
  // The revision log replays the model's differences.
  if (compacted < s.rev()) {
    for (const batch of s.eventsSince(compacted + 1, s.rev(), 1e9)) {
      // The last event of each key in a revision is its state after it (a txn may put then delete).
      const last = new Map(batch.events.map((ev) => [ev.kv.key.toString(), ev]));
      for (const ev of last.values()) {
        const k = ev.kv.key.toString();
        const after = states[batch.rev]!.get(k);
        if (ev.type === 0)
          assert.equal(after?.value, ev.kv.value.toString(), `seed ${seed} rev ${batch.rev}`);
        else assert.equal(after, undefined, `seed ${seed} rev ${batch.rev}`);
      }
    }
  }
  const r = new MvccStore();
  r.restore(Buffer.concat([...s.serialize(4096)]));
  assert.deepEqual(r.hashKV(), s.hashKV(), `seed ${seed}: hash after restore`);
  // A restored member serves watchers the same history as the live one.
  const from = Math.max(compacted, 1);
  assert.deepEqual(
    r.eventsSince(from, r.rev(), 1e9),
    s.eventsSince(from, s.rev(), 1e9),
    `seed ${seed}: events after restore`,
  );
});
