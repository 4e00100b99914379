// A minimal writer and reader of the bbolt (go.etcd.io/bbolt) B+tree file format, the format of etcd's
// backend db and of `etcdctl snapshot save` files. It lets backups be streamed in etcd's own format (so
// real `etcdctl snapshot status/restore` accept them) and lets our restore read snapshots from real etcd.
//
// Only what etcd needs: one level of buckets under the root, each holding plain key/value pairs. The
// writer bulk-loads a fresh file (no free pages, nothing unreachable, so bbolt's tx.Check() is clean);
// the reader walks whatever a real bbolt produced, including inline buckets and overflow pages.

/** One top-level bucket: its name and its key/value pairs (any order in; the writer sorts them bytewise). */
export interface BoltBucket {
  name: Buffer;
  entries: Array<[Buffer, Buffer]>;
}

const MAGIC = 0xed0cdaed;
const VERSION = 2;
const PAGE_HEADER = 16;
const ELEM = 16; // leaf and branch elements are both 16 bytes
const META_SIZE = 64;
const META_SUMMED = 56; // the checksum covers the meta struct up to the checksum field itself
const BUCKET_HEADER = 16;

const BRANCH = 0x01;
const LEAF = 0x02;
const META = 0x04;
const FREELIST = 0x10;
const BUCKET_FLAG = 0x01; // leaf element flag: the value is a bucket header
/** writeBoltSteps yields after this many pages. */
const PAGES_PER_STEP = 256;

// bbolt refuses longer keys (ErrKeyTooLarge), so a file with one could not be used by it.
const MAX_KEY = 32768;
const MIN_PAGE = 512;
const MAX_PAGE = 1 << 20;

/** bbolt's "no freelist" marker in meta.freelist (written when the freelist is not persisted). */
const NO_FREELIST_HALF = 0xffffffff;

const U64_MASK = (1n << 64n) - 1n;

function fnv1a64(b: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < b.length; i++) {
    h ^= BigInt(b[i]!);
    h = (h * 0x100000001b3n) & U64_MASK;
  }
  return h;
}

function validPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE && n <= MAX_PAGE && (n & (n - 1)) === 0;
}

function writeU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 2 ** 32, off);
  b.writeUInt32LE(Math.floor(v / 2 ** 32), off + 4);
}

// Page ids and counts are far below 2^53 in any real file; a corrupt huge value becomes an imprecise but
// still huge number, which every range check then rejects.
function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off + 4) * 2 ** 32 + b.readUInt32LE(off);
}

// ---------------------------------------------------------------------------------------------- writer

interface LeafItem {
  key: Buffer;
  value: Buffer;
  flags: number;
}

interface Child {
  key: Buffer; // the first key below this page: its key in the parent branch
  pgid: number;
}

/**
 * Hands out page ids in order and lays the pages out where they go in the file: one buffer, grown by
 * doubling, that is the file itself once the metas and the freelist are written in front.
 */
class Pages {
  next = 3; // 0 and 1 are the metas, 2 the freelist
  private file: Buffer;

  constructor(readonly pageSize: number) {
    this.file = Buffer.alloc(64 * pageSize);
  }

  /** A zeroed page image big enough for `content` bytes (with overflow pages if needed), header filled. */
  alloc(flags: number, count: number, content: number): { id: number; buf: Buffer } {
    const span = Math.max(1, Math.ceil(content / this.pageSize));
    const id = this.next;
    this.next += span;
    const end = this.next * this.pageSize;
    if (end > this.file.length) {
      let size = this.file.length * 2;
      while (size < end) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.file.copy(grown, 0, 0, id * this.pageSize);
      this.file = grown;
    }
    const buf = this.file.subarray(id * this.pageSize, end).fill(0);
    writeU64(buf, 0, id);
    buf.writeUInt16LE(flags, 8);
    buf.writeUInt16LE(count, 10);
    buf.writeUInt32LE(span - 1, 12);
    return { id, buf };
  }

  /** The file so far: every page up to the high-water mark (metas and freelist zeroed, to be written). */
  take(): Buffer {
    const out = this.file.subarray(0, this.next * this.pageSize);
    out.fill(0, 0, 3 * this.pageSize);
    return out;
  }
}

/**
 * Splits items (by their element-plus-data size) into consecutive page-sized groups. A group takes at least
 * `minPerPage` items even if they do not fit (its page then gets overflow pages), so an item too big for a
 * page on its own still finds a home. Returns the group end indexes.
 */
function groupBySize(sizes: number[], pageSize: number, minPerPage: number): number[] {
  const ends: number[] = [];
  let used = PAGE_HEADER;
  let count = 0;
  for (let i = 0; i < sizes.length; i++) {
    const s = ELEM + sizes[i]!;
    if (count >= minPerPage && (used + s > pageSize || count === 0xffff)) {
      ends.push(i);
      used = PAGE_HEADER;
      count = 0;
    }
    used += s;
    count++;
  }
  ends.push(sizes.length);
  return ends;
}

function* writeLeaves(pages: Pages, items: LeafItem[]): Generator<void, Child[]> {
  // Even an empty bucket needs its one (empty) leaf page as the root.
  if (items.length === 0) return [{ key: Buffer.alloc(0), pgid: pages.alloc(LEAF, 0, PAGE_HEADER).id }];
  const ends = groupBySize(
    items.map((it) => it.key.length + it.value.length),
    pages.pageSize,
    1,
  );
  yield;
  const out: Child[] = [];
  let start = 0;
  for (const end of ends) {
    const n = end - start;
    let size = PAGE_HEADER + n * ELEM;
    for (let i = start; i < end; i++) size += items[i]!.key.length + items[i]!.value.length;
    const { id, buf } = pages.alloc(LEAF, n, size);
    let data = PAGE_HEADER + n * ELEM;
    for (let i = start; i < end; i++) {
      const it = items[i]!;
      const e = PAGE_HEADER + (i - start) * ELEM;
      buf.writeUInt32LE(it.flags, e);
      buf.writeUInt32LE(data - e, e + 4); // pos is relative to the element itself
      buf.writeUInt32LE(it.key.length, e + 8);
      buf.writeUInt32LE(it.value.length, e + 12);
      it.key.copy(buf, data);
      data += it.key.length;
      it.value.copy(buf, data);
      data += it.value.length;
    }
    out.push({ key: items[start]!.key, pgid: id });
    start = end;
    if (out.length % PAGES_PER_STEP === 0) yield;
  }
  return out;
}

function* writeBranches(pages: Pages, children: Child[]): Generator<void, Child[]> {
  const ends = groupBySize(
    children.map((c) => c.key.length),
    pages.pageSize,
    // At least two children per branch, so each level is smaller than the one below even when keys are
    // so long that a page holds only one of them (the page then gets overflow pages instead).
    2,
  );
  // Greedy packing can leave a lone child in the last branch; bbolt would merge such an underfull node on
  // its next write, so borrow one from the previous group (or join it) to start out balanced.
  if (ends.length >= 2 && ends[ends.length - 1]! - ends[ends.length - 2]! === 1) {
    const prevStart = ends.length >= 3 ? ends[ends.length - 3]! : 0;
    if (ends[ends.length - 2]! - prevStart >= 3) ends[ends.length - 2]!--;
    else ends.splice(ends.length - 2, 1);
  }
  const out: Child[] = [];
  let start = 0;
  for (const end of ends) {
    const n = end - start;
    let size = PAGE_HEADER + n * ELEM;
    for (let i = start; i < end; i++) size += children[i]!.key.length;
    const { id, buf } = pages.alloc(BRANCH, n, size);
    let data = PAGE_HEADER + n * ELEM;
    for (let i = start; i < end; i++) {
      const c = children[i]!;
      const e = PAGE_HEADER + (i - start) * ELEM;
      buf.writeUInt32LE(data - e, e);
      buf.writeUInt32LE(c.key.length, e + 4);
      writeU64(buf, e + 8, c.pgid);
      c.key.copy(buf, data);
      data += c.key.length;
    }
    out.push({ key: children[start]!.key, pgid: id });
    start = end;
    if (out.length % PAGES_PER_STEP === 0) yield;
  }
  return out;
}

/** Bulk-loads sorted items bottom-up and returns the root page id. */
function* writeTree(pages: Pages, items: LeafItem[]): Generator<void, number> {
  let level = yield* writeLeaves(pages, items);
  while (level.length > 1) level = yield* writeBranches(pages, level);
  return level[0]!.pgid;
}

function sortedUnique<T>(xs: T[], key: (x: T) => Buffer, what: string): T[] {
  let out = xs;
  // Backups usually arrive in key order already; checking is much cheaper than sorting.
  for (let i = 1; i < out.length; i++) {
    if (Buffer.compare(key(out[i - 1]!), key(out[i]!)) > 0) {
      out = [...xs].sort((a, b) => Buffer.compare(key(a), key(b)));
      break;
    }
  }
  for (let i = 0; i < out.length; i++) {
    const k = key(out[i]!);
    if (k.length === 0) throw new Error(`writeBolt: empty ${what}`);
    if (k.length > MAX_KEY) throw new Error(`writeBolt: ${what} of ${k.length} bytes exceeds ${MAX_KEY}`);
    if (i > 0 && k.equals(key(out[i - 1]!))) {
      throw new Error(`writeBolt: duplicate ${what} ${k.toString('hex')}`);
    }
  }
  return out;
}

function writeMeta(file: Buffer, pageSize: number, slot: 0 | 1, m: MetaFields): void {
  const off = slot * pageSize;
  writeU64(file, off, slot);
  file.writeUInt16LE(META, off + 8);
  const s = off + PAGE_HEADER;
  file.writeUInt32LE(MAGIC, s);
  file.writeUInt32LE(VERSION, s + 4);
  file.writeUInt32LE(pageSize, s + 8);
  file.writeUInt32LE(0, s + 12); // flags
  writeU64(file, s + 16, m.root);
  writeU64(file, s + 24, 0); // root bucket sequence
  writeU64(file, s + 32, m.freelist);
  writeU64(file, s + 40, m.pgid);
  file.writeBigUInt64LE(m.txid, s + 48);
  file.writeBigUInt64LE(fnv1a64(file.subarray(s, s + META_SUMMED)), s + META_SUMMED);
}

interface MetaFields {
  root: number;
  freelist: number;
  pgid: number;
  txid: bigint;
}

/** A complete bbolt file (page size 4096 unless given; the length is a multiple of the page size). */
export function writeBolt(buckets: BoltBucket[], opts: { pageSize?: number } = {}): Buffer {
  const steps = writeBoltSteps(buckets, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * writeBolt in steps: the generator yields every few hundred pages and returns the file, so a caller can
 * build a big file between event-loop turns.
 */
export function* writeBoltSteps(
  buckets: BoltBucket[],
  opts: { pageSize?: number } = {},
): Generator<void, Buffer> {
  const pageSize = opts.pageSize ?? 4096;
  if (!validPageSize(pageSize)) {
    throw new Error(`writeBolt: page size ${pageSize} is not a power of two in [${MIN_PAGE}, ${MAX_PAGE}]`);
  }
  const pages = new Pages(pageSize);
  const rootItems: LeafItem[] = [];
  for (const b of sortedUnique(buckets, (b) => b.name, 'bucket name')) {
    const entries = sortedUnique(b.entries, (e) => e[0], `key in bucket ${b.name.toString('latin1')}`);
    yield;
    const items = entries.map(([key, value]) => ({ key, value, flags: 0 }));
    yield;
    // Always a page-backed bucket (never inline): simpler, and bbolt reads both alike.
    const root = yield* writeTree(pages, items);
    const header = Buffer.alloc(BUCKET_HEADER);
    writeU64(header, 0, root);
    rootItems.push({ key: b.name, value: header, flags: BUCKET_FLAG });
  }
  const root = yield* writeTree(pages, rootItems);

  const hwm = pages.next;
  const file = pages.take();
  // The freelist page: no free ids (count 0).
  writeU64(file, 2 * pageSize, 2);
  file.writeUInt16LE(FREELIST, 2 * pageSize + 8);
  // bbolt writes txid n into meta page n % 2; both metas describe the same tree, so either one is usable.
  writeMeta(file, pageSize, 0, { root, freelist: 2, pgid: hwm, txid: 2n });
  writeMeta(file, pageSize, 1, { root, freelist: 2, pgid: hwm, txid: 3n });
  return file;
}

// ---------------------------------------------------------------------------------------------- reader

interface Meta {
  pageSize: number;
  root: number;
  freelist: number | null;
  pgid: number;
  txid: bigint;
}

/** Parses the meta page at `off`; returns the reason as a string if it is not a valid meta. */
function parseMeta(file: Buffer, off: number): Meta | string {
  if (file.length < off + PAGE_HEADER + META_SIZE) return 'file too short to hold it';
  const flags = file.readUInt16LE(off + 8);
  const s = off + PAGE_HEADER;
  const magic = file.readUInt32LE(s);
  if (magic !== MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
  const version = file.readUInt32LE(s + 4);
  if (version !== VERSION) return `unsupported version ${version}`;
  const stored = file.readBigUInt64LE(s + META_SUMMED);
  const sum = fnv1a64(file.subarray(s, s + META_SUMMED));
  if (stored !== sum)
    return `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${sum.toString(16)})`;
  if (flags !== META) return `page type 0x${flags.toString(16)} is not a meta page`;
  const pageSize = file.readUInt32LE(s + 8);
  if (!validPageSize(pageSize)) return `implausible page size ${pageSize}`;
  const noFreelist =
    file.readUInt32LE(s + 32) === NO_FREELIST_HALF && file.readUInt32LE(s + 36) === NO_FREELIST_HALF;
  return {
    pageSize,
    root: readU64(file, s + 16),
    freelist: noFreelist ? null : readU64(file, s + 32),
    pgid: readU64(file, s + 40),
    txid: file.readBigUInt64LE(s + 48),
  };
}

/** Picks the valid meta with the higher txid, finding meta page 1 even if meta page 0 is unreadable. */
function chooseMeta(file: Buffer): Meta {
  if (file.length < PAGE_HEADER + META_SIZE) {
    throw new Error(`readBolt: not a bbolt file: only ${file.length} bytes`);
  }
  const m0 = parseMeta(file, 0);
  let m1: Meta | string = 'not found';
  if (typeof m0 !== 'string') {
    m1 = parseMeta(file, m0.pageSize);
  } else {
    // Without a valid meta 0 the page size is unknown: try the one meta 0 claims, then the usual ones.
    const claimed = file.readUInt32LE(8 + PAGE_HEADER);
    const candidates = [claimed, 4096];
    for (let p = MIN_PAGE; p <= 65536; p *= 2) candidates.push(p);
    for (const p of candidates) {
      if (!validPageSize(p)) continue;
      const m = parseMeta(file, p);
      if (typeof m !== 'string' && m.pageSize === p) {
        m1 = m;
        break;
      }
      if (p === claimed || p === 4096) m1 = m; // report the most likely reason if none is found
    }
  }
  if (typeof m0 === 'string' && typeof m1 === 'string') {
    throw new Error(`readBolt: not a valid bbolt file: meta page 0: ${m0}; meta page 1: ${m1}`);
  }
  if (typeof m0 === 'string') return m1 as Meta;
  if (typeof m1 === 'string') return m0;
  return m1.txid > m0.txid ? m1 : m0;
}

/**
 * Reads every top-level bucket of a bbolt file: name (as a latin1 string) -> entries in key order.
 * Throws an Error with a clear message on anything that is not a valid bbolt file (bad magic/version/
 * checksum in both meta pages, page ids out of range, wrong page types, truncated file). Nested buckets
 * inside a top-level bucket: throw (etcd does not use them). Trailing bytes after the last page (etcd
 * appends a 32-byte sha256 to snapshots) are ignored.
 */
export function readBolt(file: Buffer): Map<string, Array<[Buffer, Buffer]>> {
  const meta = chooseMeta(file);
  const { pageSize, pgid: hwm } = meta;
  if (hwm < 3) throw new Error(`readBolt: implausible high-water mark ${hwm} in meta (txid ${meta.txid})`);
  if (file.length < hwm * pageSize) {
    throw new Error(
      `readBolt: truncated file: the meta says ${hwm} pages of ${pageSize} bytes (${hwm * pageSize} bytes) ` +
        `but the file has ${file.length}`,
    );
  }
  // Per page id: 1 = in use (metas, freelist, tree pages), 2 = listed as free. A tree page seen twice, or
  // both free and in use, means the file is corrupt (or we would loop forever on a cycle).
  const state = new Uint8Array(hwm);
  state[0] = state[1] = 1;

  const page = (id: number, what: string) => {
    if (!Number.isInteger(id) || id < 2 || id >= hwm) {
      throw new Error(`readBolt: ${what}: page id ${id} out of range [2, ${hwm})`);
    }
    const off = id * pageSize;
    const headerId = readU64(file, off);
    if (headerId !== id) throw new Error(`readBolt: ${what}: page ${id} has id ${headerId} in its header`);
    const overflow = file.readUInt32LE(off + 12);
    if (id + overflow >= hwm) {
      throw new Error(`readBolt: ${what}: page ${id} with ${overflow} overflow pages runs past page ${hwm}`);
    }
    for (let i = id; i <= id + overflow; i++) {
      if (state[i] === 1) throw new Error(`readBolt: ${what}: page ${i} is referenced twice`);
      if (state[i] === 2) throw new Error(`readBolt: ${what}: page ${i} is in use but listed as free`);
      state[i] = 1;
    }
    return {
      flags: file.readUInt16LE(off + 8),
      count: file.readUInt16LE(off + 10),
      start: off,
      end: off + (overflow + 1) * pageSize,
    };
  };

  if (meta.freelist !== null) {
    const fl = page(meta.freelist, 'freelist');
    if (fl.flags !== FREELIST) {
      throw new Error(`readBolt: freelist page ${meta.freelist} has type 0x${fl.flags.toString(16)}`);
    }
    let n = fl.count;
    let ids = fl.start + PAGE_HEADER;
    if (n === 0xffff) {
      // The count did not fit in the header: the first u64 holds it.
      n = readU64(file, ids);
      ids += 8;
    }
    if (ids + n * 8 > fl.end) throw new Error(`readBolt: freelist page ${meta.freelist} overruns its page`);
    for (let i = 0; i < n; i++) {
      const id = readU64(file, ids + i * 8);
      if (id < 2) throw new Error(`readBolt: freelist lists meta page ${id} as free`);
      // Ids at or past the high-water mark do not matter to a reader, so they are not an error here.
      if (id >= hwm) continue;
      if (state[id] === 1) throw new Error(`readBolt: freelist lists page ${id}, which is in use, as free`);
      state[id] = 2;
    }
  }

  /** Calls `visit` for each leaf element of the tree at `root`, in order. */
  const walk = (
    root: number,
    what: string,
    visit: (buf: Buffer, elem: number, end: number) => void,
    depth = 0,
  ): void => {
    if (depth > 64) throw new Error(`readBolt: ${what}: tree deeper than 64 levels`);
    const p = page(root, what);
    const elems = p.start + PAGE_HEADER;
    if (elems + p.count * ELEM > p.end)
      throw new Error(`readBolt: ${what}: page ${root} elements overrun it`);
    if (p.flags === LEAF) {
      for (let i = 0; i < p.count; i++) visit(file, elems + i * ELEM, p.end);
    } else if (p.flags === BRANCH) {
      if (p.count === 0) throw new Error(`readBolt: ${what}: branch page ${root} is empty`);
      for (let i = 0; i < p.count; i++) walk(readU64(file, elems + i * ELEM + 8), what, visit, depth + 1);
    } else {
      throw new Error(
        `readBolt: ${what}: page ${root} has type 0x${p.flags.toString(16)}, not a branch or leaf`,
      );
    }
  };

  const leafElem = (buf: Buffer, e: number, end: number, what: string) => {
    const flags = buf.readUInt32LE(e);
    const k = e + buf.readUInt32LE(e + 4);
    const v = k + buf.readUInt32LE(e + 8);
    const vEnd = v + buf.readUInt32LE(e + 12);
    if (vEnd > end) throw new Error(`readBolt: ${what}: a leaf element's key/value runs past its page`);
    return { flags, key: buf.subarray(k, v), value: buf.subarray(v, vEnd) };
  };

  const out = new Map<string, Array<[Buffer, Buffer]>>();
  let prevName: Buffer | null = null;
  walk(meta.root, 'root bucket', (buf, e, end) => {
    const b = leafElem(buf, e, end, 'root bucket');
    const name = b.key.toString('latin1');
    if (!(b.flags & BUCKET_FLAG))
      throw new Error(`readBolt: root bucket holds a plain key ${JSON.stringify(name)}`);
    if (b.value.length < BUCKET_HEADER)
      throw new Error(`readBolt: bucket ${JSON.stringify(name)}: short header`);
    if (prevName && Buffer.compare(prevName, b.key) >= 0)
      throw new Error(`readBolt: bucket names out of order`);
    prevName = b.key;

    const what = `bucket ${JSON.stringify(name)}`;
    const entries: Array<[Buffer, Buffer]> = [];
    const take = (buf: Buffer, e: number, end: number) => {
      const kv = leafElem(buf, e, end, what);
      if (kv.flags & BUCKET_FLAG) {
        throw new Error(
          `readBolt: ${what} holds a nested bucket ${JSON.stringify(kv.key.toString('latin1'))}`,
        );
      }
      const last = entries[entries.length - 1];
      if (last && Buffer.compare(last[0], kv.key) >= 0)
        throw new Error(`readBolt: ${what}: keys out of order`);
      // Copies, so the result neither pins nor aliases the (possibly huge) file buffer.
      entries.push([Buffer.from(kv.key), Buffer.from(kv.value)]);
    };
    const root = readU64(b.value, 0);
    if (root === 0) {
      // An inline bucket: a whole leaf page (header and elements) stored in the value after the header.
      const inline = b.value.subarray(BUCKET_HEADER);
      if (inline.length < PAGE_HEADER) throw new Error(`readBolt: ${what}: inline page is truncated`);
      const flags = inline.readUInt16LE(8);
      const count = inline.readUInt16LE(10);
      if (flags !== LEAF) throw new Error(`readBolt: ${what}: inline page has type 0x${flags.toString(16)}`);
      if (PAGE_HEADER + count * ELEM > inline.length)
        throw new Error(`readBolt: ${what}: inline page overruns`);
      for (let i = 0; i < count; i++) take(inline, PAGE_HEADER + i * ELEM, inline.length);
    } else {
      walk(root, what, take);
    }
    out.set(name, entries);
  });
  return out;
}
