// Tests for the bbolt writer/reader: round trips (small, empty, deep and overflowing trees), rejection of
// corrupt files, a hand-built file with an inline bucket, and, when etcd 3.4 is installed, real etcdctl
// reading our files (status, restore, serve) and our reader reading real etcd snapshots and db files.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { freePorts, hasCommand, run, startRealEtcd, tempDir } from '../../test/support/index.js';
import { rawClient } from '../api/index.js';
import { crc32c } from '../wal/crc32c.js';
import { readBolt, writeBolt, type BoltBucket } from './bolt.js';

const B = (s: string) => Buffer.from(s, 'latin1');

function sortedEntries(entries: Array<[Buffer, Buffer]>): Array<[Buffer, Buffer]> {
  return [...entries].sort((a, b) => Buffer.compare(a[0], b[0]));
}

function assertSame(got: Map<string, Array<[Buffer, Buffer]>>, want: BoltBucket[]): void {
  assert.deepEqual(
    [...got.keys()],
    want.map((b) => b.name.toString('latin1')).sort((a, b) => Buffer.compare(B(a), B(b))),
  );
  for (const b of want) {
    const g = got.get(b.name.toString('latin1'))!;
    const w = sortedEntries(b.entries);
    assert.equal(g.length, w.length, `entry count of ${b.name}`);
    for (let i = 0; i < w.length; i++) {
      if (!g[i]![0].equals(w[i]![0]) || !g[i]![1].equals(w[i]![1])) {
        assert.fail(`bucket ${b.name} entry ${i} differs: key ${g[i]![0].toString('hex')}`);
      }
    }
  }
}

/** Deterministic pseudo-random bytes, so failures replay. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

// A few raw-format helpers for inspecting and corrupting files (little-endian, 16-byte page header).
const u64 = (b: Buffer, off: number) => Number(b.readBigUInt64LE(off));
const metaOf = (f: Buffer, slot: number, pageSize = 4096) => slot * pageSize + 16;
/** The root page id of the named bucket, via the root bucket's single leaf page. */
function bucketRoot(f: Buffer, name: string, pageSize = 4096): { elemValueOff: number; root: number } {
  const rootPage = u64(f, metaOf(f, 0, pageSize) + 16) * pageSize;
  const count = f.readUInt16LE(rootPage + 10);
  for (let i = 0; i < count; i++) {
    const e = rootPage + 16 + i * 16;
    const k = e + f.readUInt32LE(e + 4);
    const key = f.subarray(k, k + f.readUInt32LE(e + 8)).toString('latin1');
    const v = k + f.readUInt32LE(e + 8);
    if (key === name) return { elemValueOff: v, root: u64(f, v) };
  }
  throw new Error(`no bucket ${name}`);
}

function treeDepth(f: Buffer, root: number, pageSize = 4096): number {
  let depth = 1;
  let p = root * pageSize;
  while (f.readUInt16LE(p + 8) === 0x01) {
    p = u64(f, p + 16 + 8) * pageSize; // the first child
    depth++;
  }
  return depth;
}

/**
 * Checks the shape the writer promises below `pgid`: each branch has at least two children and its keys
 * are its children's first keys. Returns the subtree's first key.
 */
function checkShape(f: Buffer, pgid: number, pageSize: number): Buffer {
  const p = pgid * pageSize;
  const count = f.readUInt16LE(p + 10);
  const keyAt = (i: number, ksizeOff: number) => {
    const e = p + 16 + i * 16;
    const k = e + f.readUInt32LE(e + (ksizeOff === 8 ? 4 : 0));
    return f.subarray(k, k + f.readUInt32LE(e + ksizeOff));
  };
  if (f.readUInt16LE(p + 8) === 0x02) return count ? keyAt(0, 8) : Buffer.alloc(0);
  assert.ok(count >= 2, `branch page ${pgid} has ${count} children`);
  for (let i = 0; i < count; i++) {
    const child = u64(f, p + 16 + i * 16 + 8);
    assert.ok(checkShape(f, child, pageSize).equals(keyAt(i, 4)), `branch key ${i} of page ${pgid}`);
  }
  return keyAt(0, 4);
}

function fnv1a64(b: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of b) h = ((h ^ BigInt(x)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

/** Recomputes a meta page's checksum after a deliberate edit. */
function resum(f: Buffer, metaStart: number): void {
  f.writeBigUInt64LE(fnv1a64(f.subarray(metaStart, metaStart + 56)), metaStart + 56);
}

/**
 * Appends `n` pages past the high-water mark and raises it in both metas; with `free`, lists them in the
 * freelist using the long form (count 0xFFFF, the real count in the first u64), as a real file might.
 */
function withExtraPages(good: Buffer, n: number, free: boolean, pageSize = 4096): Buffer {
  const hwm = good.length / pageSize;
  const f = Buffer.concat([good, Buffer.alloc(n * pageSize)]);
  for (const slot of [0, 1]) {
    f.writeBigUInt64LE(BigInt(hwm + n), metaOf(f, slot, pageSize) + 40);
    resum(f, metaOf(f, slot, pageSize));
  }
  if (free) {
    const fl = u64(f, metaOf(f, 0, pageSize) + 32) * pageSize;
    f.writeUInt16LE(0xffff, fl + 10);
    f.writeBigUInt64LE(BigInt(n), fl + 16);
    for (let i = 0; i < n; i++) f.writeBigUInt64LE(BigInt(hwm + i), fl + 24 + i * 8);
  }
  return f;
}

test('round trip: small buckets, an empty bucket, varied key lengths', () => {
  const buckets: BoltBucket[] = [
    {
      name: B('zeta'),
      entries: [
        [B('b'), B('2')],
        [B('a'), B('1')],
        [B('c'), Buffer.alloc(0)],
      ],
    },
    { name: B('empty'), entries: [] },
    {
      name: B('varied'),
      entries: Array.from({ length: 300 }, (_, i) => [
        Buffer.alloc(1 + ((i * 37) % 700), i % 256),
        B(`value-${i}`),
      ]),
    },
    { name: Buffer.from([0xff, 0x00, 0x80]), entries: [[Buffer.from([0]), Buffer.from([1])]] },
  ];
  for (const pageSize of [4096, 512, 65536]) {
    const f = writeBolt(buckets, { pageSize });
    assert.equal(f.length % pageSize, 0);
    assertSame(readBolt(f), buckets);
  }
  // A bucket that is empty still gets its own (empty leaf) root page.
  const f = writeBolt(buckets);
  const { root } = bucketRoot(f, 'empty');
  assert.ok(root >= 3);
  assert.equal(f.readUInt16LE(root * 4096 + 8), 0x02);
  assert.equal(f.readUInt16LE(root * 4096 + 10), 0);
  // No buckets at all is a valid (empty) file too.
  assert.deepEqual([...readBolt(writeBolt([])).entries()], []);
});

test('round trip: 50,000 entries (several branch levels) and values larger than a page (overflow)', () => {
  const rand = rng(42);
  const big: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i < 50_000; i++) {
    big.push([B(`/registry/pods/ns-${i % 97}/pod-${i}`), randomBytes(rand, Math.floor(rand() * 40))]);
  }
  const overflow: Array<[Buffer, Buffer]> = [
    [B('a'), randomBytes(rand, 4096)],
    [B('b'), randomBytes(rand, 100_000)],
    [B('c'), randomBytes(rand, 10)],
    [Buffer.alloc(32768, 'k'), randomBytes(rand, 9000)], // the largest key bbolt allows
    [B('d'), randomBytes(rand, 4080)],
  ];
  for (let i = 0; i < 50; i++) overflow.push([B(`m${i}`), randomBytes(rand, Math.floor(rand() * 12000))]);
  const buckets = [
    { name: B('big'), entries: big },
    { name: B('overflow'), entries: overflow },
  ];
  const f = writeBolt(buckets);
  assertSame(readBolt(f), buckets);
  assert.ok(treeDepth(f, bucketRoot(f, 'big').root) >= 3, 'a root branch over branches over leaves');
  checkShape(f, bucketRoot(f, 'big').root, 4096);
  checkShape(f, bucketRoot(f, 'overflow').root, 4096);
  // Smaller pages make the same data deeper still.
  const f512 = writeBolt(buckets, { pageSize: 512 });
  assertSame(readBolt(f512), buckets);
  assert.ok(treeDepth(f512, bucketRoot(f512, 'big', 512).root, 512) >= 5);
  checkShape(f512, bucketRoot(f512, 'big', 512).root, 512);
  checkShape(f512, bucketRoot(f512, 'overflow', 512).root, 512);
});

test('the writer rejects what bbolt could not hold', () => {
  assert.throws(
    () =>
      writeBolt([
        {
          name: B('b'),
          entries: [
            [B('k'), B('1')],
            [B('k'), B('2')],
          ],
        },
      ]),
    /duplicate/,
  );
  assert.throws(() => writeBolt([{ name: B('b'), entries: [[Buffer.alloc(0), B('1')]] }]), /empty key/);
  assert.throws(
    () =>
      writeBolt([
        { name: B('b'), entries: [] },
        { name: B('b'), entries: [] },
      ]),
    /duplicate bucket name/,
  );
  assert.throws(() => writeBolt([{ name: B('b'), entries: [[Buffer.alloc(32769), B('1')]] }]), /exceeds/);
  assert.throws(() => writeBolt([], { pageSize: 1000 }), /page size/);
});

test('corrupt files are rejected with a clear error', () => {
  const good = writeBolt([{ name: B('b'), entries: [[B('k'), B('v')]] }]);
  const copy = () => Buffer.from(good);

  let f: Buffer = copy();
  f.writeUInt32LE(0x12345678, metaOf(f, 0));
  f.writeUInt32LE(0x12345678, metaOf(f, 1));
  assert.throws(
    () => readBolt(f),
    /not a valid bbolt file: meta page 0: bad magic 0x12345678; meta page 1: bad magic/,
  );

  f = copy();
  f.writeUInt32LE(3, metaOf(f, 0) + 4);
  f.writeUInt32LE(3, metaOf(f, 1) + 4);
  assert.throws(() => readBolt(f), /unsupported version 3/);

  f = copy();
  f[metaOf(f, 0) + 48] ^= 1; // txid
  f[metaOf(f, 1) + 48] ^= 1;
  assert.throws(() => readBolt(f), /meta page 0: checksum mismatch.*meta page 1: checksum mismatch/);

  // One broken meta is survivable: the reader falls back to the other one, whichever it is.
  for (const slot of [0, 1]) {
    f = copy();
    f[metaOf(f, slot) + 48] ^= 1;
    assert.deepEqual([...readBolt(f).keys()], ['b']);
  }
  const small = writeBolt([{ name: B('b'), entries: [[B('k'), B('v')]] }], { pageSize: 1024 });
  small.writeUInt32LE(0, metaOf(small, 0)); // meta 0 gone: meta 1 must be found at 1024 all the same
  assert.deepEqual([...readBolt(small).keys()], ['b']);

  assert.throws(() => readBolt(good.subarray(0, good.length - 4096)), /truncated file/);
  assert.throws(() => readBolt(good.subarray(0, good.length - 1)), /truncated file/);
  assert.throws(() => readBolt(good.subarray(0, 40)), /not a bbolt file: only 40 bytes/);
  assert.throws(() => readBolt(Buffer.alloc(0)), /not a bbolt file/);
  assert.throws(() => readBolt(Buffer.alloc(8192, 0x61)), /bad magic 0x61616161/);

  // Trailing bytes (etcd's sha256) are fine, and so are free pages (listed in the long freelist form).
  assert.deepEqual([...readBolt(Buffer.concat([good, Buffer.alloc(32, 7)])).keys()], ['b']);
  assert.deepEqual([...readBolt(withExtraPages(good, 3, true)).keys()], ['b']);
  f = withExtraPages(good, 3, true);
  f.writeBigUInt64LE(3n, 2 * 4096 + 24); // page 3, the root bucket, listed as free
  assert.throws(() => readBolt(f), /page 3 is in use but listed as free/);
  f = withExtraPages(good, 3, true);
  f.writeBigUInt64LE(1_000_000n, 2 * 4096 + 16); // a count that runs off the page
  assert.throws(() => readBolt(f), /freelist page 2 overruns its page/);

  // Page ids out of range, wrong page types, a page referenced twice, a nested bucket.
  f = copy();
  const { elemValueOff } = bucketRoot(f, 'b');
  f.writeBigUInt64LE(99n, elemValueOff);
  assert.throws(() => readBolt(f), /bucket "b": page id 99 out of range \[2, 5\)/);

  f = copy();
  f.writeBigUInt64LE(1n, elemValueOff);
  assert.throws(() => readBolt(f), /page id 1 out of range/);

  f = copy();
  f.writeBigUInt64LE(2n, elemValueOff); // the freelist page
  assert.throws(() => readBolt(f), /page 2 is referenced twice/);

  f = copy();
  f.writeUInt16LE(0x10, bucketRoot(f, 'b').root * 4096 + 8);
  assert.throws(() => readBolt(f), /page 3 has type 0x10, not a branch or leaf/);

  f = copy();
  f.writeUInt16LE(0x02, 2 * 4096 + 8);
  assert.throws(() => readBolt(f), /freelist page 2 has type 0x2/);

  f = copy();
  f.writeUInt32LE(5, bucketRoot(f, 'b').root * 4096 + 12); // an overflow count past the end of the file
  assert.throws(() => readBolt(f), /runs past page 5/);

  f = copy();
  f.writeUInt32LE(1, bucketRoot(f, 'b').root * 4096 + 16); // element flags: a bucket value
  assert.throws(() => readBolt(f), /bucket "b" holds a nested bucket "k"/);

  f = copy();
  f.writeUInt32LE(5000, bucketRoot(f, 'b').root * 4096 + 16 + 12); // vsize past the page
  assert.throws(() => readBolt(f), /runs past its page/);

  f = copy();
  for (const slot of [0, 1]) {
    f.writeBigUInt64LE(1000n, metaOf(f, slot) + 40); // high-water mark beyond the file
    resum(f, metaOf(f, slot));
  }
  assert.throws(() => readBolt(f), /truncated file: the meta says 1000 pages/);
});

test('reads an inline bucket and picks the meta with the higher txid (hand-built file)', () => {
  const ps = 4096;
  const f = Buffer.alloc(5 * ps);
  const header = (id: number, flags: number, count: number) => {
    f.writeBigUInt64LE(BigInt(id), id * ps);
    f.writeUInt16LE(flags, id * ps + 8);
    f.writeUInt16LE(count, id * ps + 10);
  };
  const leaf = (entries: Array<[number, Buffer, Buffer]>): Buffer => {
    const page = Buffer.alloc(
      16 + entries.length * 16 + entries.reduce((n, [, k, v]) => n + k.length + v.length, 0),
    );
    page.writeUInt16LE(0x02, 8);
    page.writeUInt16LE(entries.length, 10);
    let data = 16 + entries.length * 16;
    entries.forEach(([flags, k, v], i) => {
      const e = 16 + i * 16;
      page.writeUInt32LE(flags, e);
      page.writeUInt32LE(data - e, e + 4);
      page.writeUInt32LE(k.length, e + 8);
      page.writeUInt32LE(v.length, e + 12);
      k.copy(page, data);
      v.copy(page, data + k.length);
      data += k.length + v.length;
    });
    return page;
  };
  // Bucket "in" is inline (root 0, its leaf page right after the bucket header); bucket "out" is on page 4.
  const inline = Buffer.concat([
    Buffer.alloc(16),
    leaf([
      [0, B('x'), B('1')],
      [0, B('yy'), B('22')],
    ]),
  ]);
  const outHeader = Buffer.alloc(16);
  outHeader.writeBigUInt64LE(4n, 0);
  leaf([
    [1, B('in'), inline],
    [1, B('out'), outHeader],
  ]).copy(f, 3 * ps);
  header(3, 0x02, 2);
  leaf([[0, B('k'), B('v')]]).copy(f, 4 * ps);
  header(4, 0x02, 1);
  header(2, 0x10, 0);
  const meta = (slot: number, root: number, txid: number) => {
    header(slot, 0x04, 0);
    const s = slot * ps + 16;
    f.writeUInt32LE(0xed0cdaed, s);
    f.writeUInt32LE(2, s + 4);
    f.writeUInt32LE(ps, s + 8);
    f.writeBigUInt64LE(BigInt(root), s + 16);
    f.writeBigUInt64LE(2n, s + 32);
    f.writeBigUInt64LE(5n, s + 40);
    f.writeBigUInt64LE(BigInt(txid), s + 48);
    resum(f, s);
  };
  meta(0, 3, 8);
  meta(1, 4, 7); // older, and pointing at a page that is not a root bucket: must not be chosen
  const got = readBolt(f);
  assert.deepEqual(
    [...got].map(([name, es]) => [name, es.map(([k, v]) => `${k}=${v}`)]),
    [
      ['in', ['x=1', 'yy=22']],
      ['out', ['k=v']],
    ],
  );
  // With the newer meta broken, the older one is used (and here its root is not a valid root bucket).
  f[16 + 48] ^= 1;
  assert.throws(() => readBolt(f), /root bucket holds a plain key "k"/);
});

// ------------------------------------------------------------------------------------------ real etcd

const ETCDCTL = { ETCDCTL_API: '3' };

function haveEtcd(t: TestContext): boolean {
  if (hasCommand('etcd') && hasCommand('etcdctl')) return true;
  t.skip('etcd/etcdctl not on PATH');
  return false;
}

function revKey(main: number, sub = 0): Buffer {
  const k = Buffer.alloc(17);
  k.writeBigUInt64BE(BigInt(main), 0);
  k[8] = 0x5f;
  k.writeBigUInt64BE(BigInt(sub), 9);
  return k;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? byte | 0x80 : byte);
  } while (v);
  return Buffer.from(out);
}

/** mvccpb.KeyValue, proto3 (zero fields omitted). */
function encodeKV(kv: {
  key: Buffer;
  create: number;
  mod: number;
  version: number;
  value: Buffer;
  lease?: number;
}) {
  const parts: Buffer[] = [];
  const bytes = (f: number, b: Buffer) => parts.push(varint((f << 3) | 2), varint(b.length), b);
  const int = (f: number, n: number) => n && parts.push(varint(f << 3), varint(n));
  bytes(1, kv.key);
  int(2, kv.create);
  int(3, kv.mod);
  int(4, kv.version);
  if (kv.value.length) bytes(5, kv.value);
  int(6, kv.lease ?? 0);
  return Buffer.concat(parts);
}

function decodeKV(b: Buffer): Record<number, Buffer | number> {
  const out: Record<number, Buffer | number> = {};
  let i = 0;
  const readVarint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = b[i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return Number(v);
    }
  };
  while (i < b.length) {
    const tag = readVarint();
    if ((tag & 7) === 0) out[tag >> 3] = readVarint();
    else if ((tag & 7) === 2) {
      const n = readVarint();
      out[tag >> 3] = b.subarray(i, i + n);
      i += n;
    } else throw new Error(`unexpected wire type in ${b.toString('hex')}`);
  }
  return out;
}

/** What `etcdctl snapshot status` computes: CRC-32C over every bucket name, key and value, in order. */
function etcdHash(buckets: Map<string, Array<[Buffer, Buffer]>>): number {
  let h = 0;
  for (const [name, entries] of buckets) {
    h = crc32c(h, B(name));
    for (const [k, v] of entries) h = crc32c(crc32c(h, k), v);
  }
  return h;
}

async function snapshotStatus(file: string) {
  const r = await run('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: ETCDCTL });
  assert.equal(r.code, 0, `etcdctl snapshot status failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
}

test("bbolt's own consistency check (tx.Check, run by etcdctl snapshot status) passes on our files", async (t) => {
  if (!haveEtcd(t)) return;
  const tmp = tempDir('bolt-check-');
  t.after(tmp.remove);
  const rand = rng(7);
  const buckets: BoltBucket[] = [
    {
      name: B('deep'),
      entries: Array.from({ length: 20_000 }, (_, i) => [
        B(`key-${i}-${'x'.repeat(i % 50)}`),
        randomBytes(rand, i % 30),
      ]),
    },
    {
      name: B('overflow'),
      entries: [
        [Buffer.alloc(32768, 'k'), randomBytes(rand, 9000)],
        ...Array.from({ length: 40 }, (_, i): [Buffer, Buffer] => [B(`o${i}`), randomBytes(rand, i * 400)]),
      ],
    },
    { name: B('empty'), entries: [] },
  ];
  const check = async (label: string, f: Buffer, expectOk = true) => {
    const path = join(tmp.path, `${label}.db`);
    writeFileSync(path, f);
    const r = await run('etcdctl', ['snapshot', 'status', path, '-w', 'json'], { env: ETCDCTL });
    if (!expectOk) return `${r.stdout}${r.stderr}`;
    assert.equal(r.code, 0, `${label}: ${r.stdout}${r.stderr}`);
    const st = JSON.parse(r.stdout);
    assert.equal(st.totalKey, 20_041, label);
    assert.equal(st.hash, etcdHash(readBolt(f)), label);
    return '';
  };
  for (const pageSize of [4096, 512, 16384]) await check(`ps${pageSize}`, writeBolt(buckets, { pageSize }));
  const f = writeBolt(buckets);
  await check('free-pages', withExtraPages(f, 3, true));
  // The check is really on: pages that are neither reachable nor free are reported.
  assert.match(await check('unreachable', withExtraPages(f, 2, false), false), /unreachable unfreed/);
});

test('real etcdctl accepts a file from writeBolt as an etcd snapshot (status, restore, serve)', async (t) => {
  if (!haveEtcd(t)) return;
  const tmp = tempDir('bolt-etcd-');
  t.after(tmp.remove);

  // 3000 revisions over 500 keys (so versions climb), a few values larger than a page.
  const revs = 3000;
  const keyEntries: Array<[Buffer, Buffer]> = [];
  const latest = new Map<string, { create: number; version: number; value: Buffer; mod: number }>();
  for (let rev = 1; rev <= revs; rev++) {
    const key = `/registry/things/t-${rev % 500}`;
    const prev = latest.get(key);
    const value = rev % 700 === 0 ? Buffer.alloc(10_000, rev % 256) : B(`value of ${key} at ${rev}`);
    const cur = { create: prev?.create ?? rev, version: (prev?.version ?? 0) + 1, value, mod: rev };
    latest.set(key, cur);
    keyEntries.push([revKey(rev), encodeKV({ key: B(key), ...cur })]);
  }
  const ci = Buffer.alloc(8);
  ci.writeBigUInt64BE(BigInt(revs));
  const buckets: BoltBucket[] = [
    { name: B('key'), entries: keyEntries },
    { name: B('meta'), entries: [[B('consistent_index'), ci]] },
    ...['lease', 'alarm', 'members', 'members_removed', 'cluster'].map((n) => ({ name: B(n), entries: [] })),
  ];
  const db = writeBolt(buckets);
  const file = join(tmp.path, 'snap.db');
  writeFileSync(file, Buffer.concat([db, createHash('sha256').update(db).digest()]));

  const st = await snapshotStatus(file);
  assert.equal(st.revision, revs);
  assert.equal(st.totalKey, revs + 1);
  assert.equal(st.totalSize, db.length);
  assert.equal(st.hash, etcdHash(readBolt(db)));

  // Restore it into a data dir and serve it: the keys, values and revisions must be ours.
  const [peerPort] = await freePorts(1);
  const peer = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(tmp.path, 'restored');
  const r = await run(
    'etcdctl',
    ['snapshot', 'restore', file, '--data-dir', dataDir, '--name', 'r'].concat([
      '--initial-cluster',
      `r=${peer}`,
      '--initial-advertise-peer-urls',
      peer,
    ]),
    { env: ETCDCTL },
  );
  assert.equal(r.code, 0, `etcdctl snapshot restore failed: ${r.stdout}${r.stderr}`);
  const etcd = await startRealEtcd([], { dataDir, name: 'r', peerPort });
  t.after(() => etcd.proc.kill('SIGKILL'));
  const c = rawClient(etcd.endpoint);
  try {
    for (const key of ['/registry/things/t-0', '/registry/things/t-200', '/registry/things/t-499']) {
      const want = latest.get(key)!;
      const resp = await c.kv.Range({ key: B(key) });
      assert.equal(Number(resp.header.revision), revs);
      assert.equal(resp.kvs.length, 1);
      const kv = resp.kvs[0];
      assert.ok(Buffer.from(kv.value).equals(want.value), `value of ${key}`);
      assert.equal(Number(kv.modRevision), want.mod);
      assert.equal(Number(kv.createRevision), want.create);
      assert.equal(Number(kv.version), want.version);
    }
    const all = await c.kv.Range({ key: B('/registry/'), rangeEnd: B('/registry0'), countOnly: true });
    assert.equal(Number(all.count), 500);
  } finally {
    c.close();
    await etcd.proc.kill('SIGTERM');
  }
});

test('reads real etcd snapshots and db files; rewriting them keeps etcdctl hash and totals', async (t) => {
  if (!haveEtcd(t)) return;
  const tmp = tempDir('bolt-etcd-');
  t.after(tmp.remove);
  const dataDir = join(tmp.path, 'data');
  const etcd = await startRealEtcd([], { dataDir, name: 't' });
  t.after(() => etcd.proc.kill('SIGKILL'));

  const c = rawClient(etcd.endpoint);
  const n = 3000;
  const valueOf = (i: number) => (i % 1000 === 999 ? Buffer.alloc(20_000, i % 256) : B(`v${i}`));
  const putAt = new Map<number, number>(); // revision -> i
  try {
    // One put per revision; concurrent in batches so a few thousand take a couple of seconds.
    for (let start = 0; start < n; start += 200) {
      const batch = Array.from({ length: Math.min(200, n - start) }, (_, j) => start + j);
      const resps = await Promise.all(
        batch.map((i) => c.kv.Put({ key: B(`/k/${i % 1200}`), value: valueOf(i) })),
      );
      resps.forEach((r, j) => putAt.set(Number(r.header.revision), batch[j]!));
    }
  } finally {
    c.close();
  }
  const lastRev = Math.max(...putAt.keys());
  assert.equal(lastRev, n + 1); // revision 1 is the empty store

  const snap = join(tmp.path, 'snap.db');
  const save = await run('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', snap], {
    env: ETCDCTL,
  });
  assert.equal(save.code, 0, `etcdctl snapshot save failed: ${save.stdout}${save.stderr}`);
  const snapBytes = readFileSync(snap);
  assert.equal(snapBytes.length % 4096, 32, 'pages plus the sha256 etcd appends');

  const got = readBolt(snapBytes);
  for (const name of ['key', 'meta', 'lease', 'alarm', 'members', 'cluster']) assert.ok(got.has(name), name);
  const keys = got.get('key')!;
  assert.equal(keys.length, n, 'one entry per revision');
  assert.deepEqual(keys[0]![0], revKey(2));
  const [lastKey, lastValue] = keys[keys.length - 1]!;
  assert.equal(Number(lastKey.readBigUInt64BE(0)), lastRev);
  assert.equal(lastKey[8], 0x5f);
  const kv = decodeKV(lastValue);
  assert.equal(kv[3], lastRev, 'mod_revision');
  assert.equal(String(kv[1]), `/k/${putAt.get(lastRev)! % 1200}`);
  // Every revision decodes to what was put at it, values larger than a page included.
  for (const [k, v] of keys) {
    const rev = Number(k.readBigUInt64BE(0));
    const d = decodeKV(v);
    const put = putAt.get(rev)!;
    assert.equal(d[3], rev);
    assert.equal(String(d[1]), `/k/${put % 1200}`);
    assert.ok((d[5] as Buffer).equals(valueOf(put)), `value at revision ${rev}`);
  }
  assert.ok(got.get('meta')!.some(([k]) => k.toString() === 'consistent_index'));

  // Our rewrite of the real snapshot is the same database to etcdctl.
  const real = await snapshotStatus(snap);
  assert.equal(real.hash, etcdHash(got));
  const rewritten = writeBolt([...got].map(([name, entries]) => ({ name: B(name), entries })));
  const rewrittenFile = join(tmp.path, 'rewritten.db');
  writeFileSync(rewrittenFile, rewritten);
  const ours = await snapshotStatus(rewrittenFile);
  assert.deepEqual(
    { hash: ours.hash, revision: ours.revision, totalKey: ours.totalKey },
    { hash: real.hash, revision: lastRev, totalKey: real.totalKey },
  );

  // The live db file (larger than its high-water mark, inline buckets and all) reads too once etcd stops.
  await etcd.proc.kill('SIGTERM');
  const live = readBolt(readFileSync(join(dataDir, 'member', 'snap', 'db')));
  assert.equal(live.get('key')!.length, n);
  assert.ok(live.get('key')!.every(([k, v], j) => k.equals(keys[j]![0]) && v.equals(keys[j]![1])));
});
