// The revisioned key space: an ordered key index (B+tree) of per-key histories, a revision-ordered log
// of events for watchers, write transactions that share one main revision, and compaction.
import btree from 'sorted-btree';
import { BinaryReader, BinaryWriter, ownedCopy } from './binary.js';
import { storedVersionSize, writeStoredVersion } from './etcd-format.js';
import { crc32c } from '../wal/crc32c.js';
import {
  ErrCompacted,
  ErrFutureRev,
  EventType,
  MvccError,
  type Event,
  type KeyValue,
  type RangeOptions,
  type RangeResult,
} from './types.js';

/** One stored version of a key; a tombstone has version 0. `sub` orders the ops of one revision. */
interface Rec {
  kv: KeyValue;
  sub: number;
}

/** One stored version of a key as versions() and encode() see it. */
export interface StoredVersion {
  kv: KeyValue;
  /** The version's place among the changes of its revision (etcd's sub revision). */
  sub: number;
}

/** Every stored version of one key, oldest first (generations are delimited by tombstones). */
interface KeyHistory {
  key: Buffer;
  recs: Rec[];
}

/** The events written at one revision, in sub-revision order. */
export interface RevisionEvents {
  rev: number;
  events: Event[];
}

/**
 * Per stored version: the bytes held besides key and value (the version record, its event for watchers,
 * the Buffer objects). Measured with Node 20: about 600 bytes per version with small values.
 */
export const VERSION_OVERHEAD_BYTES = 512;
const RECORD_OVERHEAD = VERSION_OVERHEAD_BYTES;
const EMPTY = Buffer.alloc(0);

// sorted-btree is CommonJS with `exports.default`: under NodeNext the default import is the whole module.
// (tsx and other loaders may add one more level of `default`: resolve whichever is the class.)
const BTree: typeof btree.default = ((m: any) =>
  typeof m === 'function' ? m : typeof m.default === 'function' ? m.default : m.default.default)(btree);
type BTree<K, V> = InstanceType<typeof btree.default<K, V>>;
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Keys in the index are the key bytes as a latin1 string: JS string order is then byte order. */
export const keyString = (b: Buffer): string => b.toString('latin1');

/** `end` semantics shared by range, delete and watch: undefined = single key, empty = to the end. */
export type RangeEnd = Buffer | undefined;

export interface MvccStoreOptions {
  /** Called after each write transaction that changed something, with the events of its revision. */
  onCommit?: (batch: RevisionEvents) => void;
}

export class MvccStore {
  private index = new BTree<string, KeyHistory>(undefined, byteOrder);
  private currentRev = 1;
  /** -1 until the first compaction, as etcd (which then accepts a compaction at revision 0). */
  private compactRev = -1;
  /** Events by revision, for revisions > compactRev; `logStart` is the offset of the first live entry. */
  private log: RevisionEvents[] = [];
  private logStart = 0;
  private bytes = 0;
  /** The deletions made at the compact revision: gone from the key index, still owed to watchers. */
  private compactDeletes: Rec[] = [];
  private inTxn = false;
  onCommit: ((batch: RevisionEvents) => void) | undefined;

  constructor(opts: MvccStoreOptions = {}) {
    this.onCommit = opts.onCommit;
  }

  /** The store's current revision (1 for an empty store, as etcd). */
  rev(): number {
    return this.currentRev;
  }

  /** The revision of the last compaction (-1 = never compacted, as etcd reports it). */
  compactRevision(): number {
    return this.compactRev;
  }

  /** Number of live keys at the current revision. */
  keyCount(): number {
    let n = 0;
    for (const h of this.index.values()) if (isLive(h.recs[h.recs.length - 1]!.kv)) n++;
    return n;
  }

  /** An estimate of the bytes a disk-backed store would hold for this key space (keys + values + history). */
  size(): number {
    return this.bytes;
  }

  /** Reads [key, end) at `opts.rev` (0 = current). */
  range(key: Buffer, end: RangeEnd, opts: RangeOptions = {}): RangeResult {
    return this.rangeAt(key, end, opts, this.currentRev);
  }

  private rangeAt(key: Buffer, end: RangeEnd, opts: RangeOptions, curRev: number): RangeResult {
    let rev = opts.rev ?? 0;
    if (rev > curRev) throw ErrFutureRev();
    if (rev <= 0) rev = curRev;
    if (rev < this.compactRev) throw ErrCompacted();
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const kvs: KeyValue[] = [];
    let count = 0;
    this.scan(key, end, (h) => {
      const kv = versionAt(h, rev);
      if (kv === undefined) return;
      count++;
      if (!opts.count && kvs.length < limit) kvs.push(kv);
    });
    return { kvs, rev: curRev, count };
  }

  /** Visits the history of every key in [key, end) in key order. */
  private scan(key: Buffer, end: RangeEnd, visit: (h: KeyHistory) => void): void {
    const lo = keyString(key);
    if (end === undefined) {
      const h = this.index.get(lo);
      if (h) visit(h);
      return;
    }
    if (end.length === 0) {
      const max = this.index.maxKey();
      if (max === undefined || max < lo) return;
      this.index.forRange(lo, max, true, (_k, h) => void visit(h));
      return;
    }
    const hi = keyString(end);
    if (hi <= lo) return;
    this.index.forRange(lo, hi, false, (_k, h) => void visit(h));
  }

  /** Starts a write transaction; every change in it gets main revision rev()+1. Must be ended. */
  write(): WriteTxn {
    if (this.inTxn) throw new Error('mvcc: nested write transaction');
    this.inTxn = true;
    return new WriteTxn(this);
  }

  /** Removes history at or below `rev`, keeping the latest version of each key live at `rev`. */
  compact(rev: number): void {
    if (rev <= this.compactRev) throw ErrCompacted();
    if (rev > this.currentRev) throw ErrFutureRev();
    const emptied: string[] = [];
    const deletesAtRev: Rec[] = [];
    this.index.forEachPair((k, h) => {
      const recs = h.recs;
      let i = lastAtOrBelow(recs, rev);
      if (i < 0) return;
      if (!isLive(recs[i]!.kv)) {
        if (recs[i]!.kv.modRevision === rev) deletesAtRev.push(recs[i]!);
        i++;
      }
      if (i <= 0) return;
      for (let j = 0; j < i; j++) this.bytes -= recSize(recs[j]!.kv);
      // A new array, never splice: a snapshot being streamed may still hold the old one.
      h.recs = recs.slice(i);
      if (h.recs.length === 0) emptied.push(k);
    });
    for (const k of emptied) this.index.delete(k);
    // Watchers may still start at the compact revision itself (etcd allows it, and clients retry at the
    // compact_revision they were given), and a watcher that was behind may need it next. So revision
    // `rev` stays in the log: its puts that are still the latest version of their key, and its deletes
    // (kept aside in `compactDeletes`, also in snapshots, as the key index drops them), without prev_kv
    // (the versions before are gone). etcd loses those deletes: a watcher resuming there misses them.
    this.compactDeletes = deletesAtRev;
    const deleted = new Set(deletesAtRev.map((r) => r.kv));
    while (this.logStart < this.log.length && this.log[this.logStart]!.rev < rev) this.logStart++;
    const atRev = this.log[this.logStart];
    if (atRev && atRev.rev === rev) {
      const kept = (e: Event) =>
        e.type === EventType.DELETE
          ? deleted.has(e.kv)
          : this.index.get(keyString(e.kv.key))?.recs[0]?.kv === e.kv;
      const events = atRev.events.filter(kept).map((e) => ({ type: e.type, kv: e.kv, prevKv: null }));
      if (events.length > 0) this.log[this.logStart] = { rev, events };
      else this.logStart++;
    }
    if (this.logStart > 1024 && this.logStart * 2 > this.log.length) {
      this.log = this.log.slice(this.logStart);
      this.logStart = 0;
    }
    this.compactRev = rev;
  }

  /**
   * Events of revisions in [fromRev, toRev], whole revisions only, stopping once `maxEvents` is reached
   * (at least one revision is returned if any exists). Throws ErrCompacted if fromRev < compactRev.
   */
  eventsSince(fromRev: number, toRev: number, maxEvents: number): RevisionEvents[] {
    if (fromRev < this.compactRev) throw ErrCompacted();
    const out: RevisionEvents[] = [];
    let i = this.logIndexOf(fromRev);
    let n = 0;
    for (; i < this.log.length; i++) {
      const b = this.log[i]!;
      if (b.rev > toRev) break;
      if (out.length > 0 && n + b.events.length > maxEvents) break;
      out.push(b);
      n += b.events.length;
    }
    return out;
  }

  /** Position in the log of the first revision >= rev. */
  private logIndexOf(rev: number): number {
    let lo = this.logStart;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.rev < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * etcd's HashKV, computed as etcd 3.4 computes it: a CRC-32C over "key" and then, in revision order, each
   * stored version with mod revision <= rev (0 = current) as etcd's backend stores it (revision key, then
   * the mvccpb.KeyValue). Members that applied the same requests (and compactions) get the same hash, and so
   * does a real etcd given the same requests.
   */
  hashKV(rev = 0): { hash: number; compactRevision: number; hashRevision: number; currentRevision: number } {
    const job = this.hashJob(rev);
    while (!job.step(Infinity));
    return job.result();
  }

  /**
   * hashKV without holding the event loop: the state is captured when called, then hashed
   * `versionsPerTurn` versions at a time, yielding between them while writes and compactions go on.
   */
  async hashKVAsync(
    rev = 0,
    versionsPerTurn = 20_000,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; currentRevision: number }> {
    const job = this.hashJob(rev);
    while (!job.step(versionsPerTurn)) await new Promise((r) => setImmediate(r));
    return job.result();
  }

  private hashJob(rev: number) {
    // etcd refuses a hash at the compact revision itself, unlike a read there.
    if (rev > 0 && rev <= this.compactRev) throw ErrCompacted();
    if (rev > this.currentRev) throw ErrFutureRev();
    const currentRevision = this.currentRev;
    if (rev <= 0) rev = currentRevision;
    const compactRevision = this.compactRev;
    // The same consistent view as serialize(): each key's version array of the moment.
    const view: Rec[][] = [];
    for (const h of this.index.values()) view.push(h.recs);
    // etcd hashes its backend's "key" bucket in revision order: gather, then sort, then hash.
    //
    // Which versions at or below the compaction revision it hashes is etcd 3.4's rule, kept so that the
    // hashes agree: only those a compaction at the *hash* revision would keep (each key's latest version
    // at `rev` unless that is a tombstone), or, when there is none, all that the compaction left. (etcd
    // 3.5 asks what a compaction at the compaction revision keeps, which is everything still stored.)
    const picked: Rec[] = [];
    const unkept: Rec[] = [];
    let keepCount = 0;
    let k = 0;
    let sorted = false;
    let i = 0;
    let hash = crc32c(0, KEY_BUCKET);
    return {
      /** Handles about `budget` more versions; true when done. */
      step(budget: number): boolean {
        let n = 0;
        for (; k < view.length && n < budget; k++) {
          const recs = view[k]!;
          const last = lastAtOrBelow(recs, rev);
          const keep = last >= 0 && isLive(recs[last]!.kv) ? recs[last] : undefined;
          if (keep) keepCount++;
          for (const r of recs) {
            if (r.kv.modRevision > rev) break;
            if (r.kv.modRevision > compactRevision || r === keep) picked.push(r);
            else unkept.push(r);
            n++;
          }
        }
        if (k < view.length) return false;
        if (!sorted) {
          if (keepCount === 0) picked.push(...unkept);
          picked.sort((a, b) => a.kv.modRevision - b.kv.modRevision || a.sub - b.sub);
          sorted = true;
          return false;
        }
        // CRC-32C is a stream: the versions are written into one scratch buffer, checksummed when it fills.
        let scratch = Buffer.allocUnsafe(64 * 1024);
        let used = 0;
        for (; i < picked.length && n < budget; i++, n++) {
          const r = picked[i]!;
          const need = storedVersionSize(r.kv);
          if (used + need > scratch.length) {
            hash = crc32c(hash, scratch, 0, used);
            used = 0;
            if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
          }
          used = writeStoredVersion(scratch, used, r.kv, r.sub);
        }
        hash = crc32c(hash, scratch, 0, used);
        return i >= picked.length;
      },
      result() {
        return { hash, compactRevision, hashRevision: rev, currentRevision };
      },
    };
  }

  /**
   * The whole key space with its history as it is now, as chunks of about `chunkBytes`; `restore` takes
   * their concatenation. The state is captured when this is called (one pointer per key), so the chunks
   * may be pulled across event-loop turns while writes and compactions go on.
   */
  serialize(chunkBytes = 1 << 20): Generator<Buffer> {
    const rev = this.currentRev;
    const compactRev = this.compactRev;
    const compactDeletes = this.compactDeletes;
    // Versions are immutable, writes only append above `rev`, compaction replaces arrays: holding each
    // key's array of the moment is a consistent view.
    const view: [Buffer, Rec[]][] = [];
    for (const h of this.index.values()) view.push([h.key, h.recs]);
    return (function* () {
      const w = new BinaryWriter(Math.min(chunkBytes * 2, 1 << 22));
      w.raw(SNAPSHOT_MAGIC);
      w.uvarint(rev).svarint(compactRev).uvarint(view.length);
      for (const [key, recs] of view) {
        const n = lastAtOrBelow(recs, rev) + 1;
        if (n <= 0) throw new Error('mvcc: snapshot: a key without versions at the snapshot revision');
        w.bytes(key).uvarint(n);
        for (let i = 0; i < n; i++) writeRec(w, recs[i]!);
        if (w.length >= chunkBytes) yield w.take();
      }
      w.uvarint(compactDeletes.length);
      for (const d of compactDeletes) w.bytes(d.kv.key).uvarint(d.sub);
      w.raw(SNAPSHOT_END);
      yield w.take();
    })();
  }

  /**
   * Every stored version as it is now, keys in byte order and each key's versions oldest first (a
   * tombstone has version 0): what a snapshot holds, for writing it in another format. The versions are
   * those of the moment of the call, even if they are read while writes and compactions go on.
   */
  versions(): Iterable<StoredVersion> {
    // Captured now, read later: as in serialize(), each key's array of the moment is a consistent view.
    const rev = this.currentRev;
    const view: Rec[][] = [];
    for (const h of this.index.values()) view.push(h.recs);
    return (function* () {
      for (const recs of view) {
        for (const r of recs) {
          if (r.kv.modRevision > rev) break;
          yield { kv: r.kv, sub: r.sub };
        }
      }
    })();
  }

  /**
   * The serialized form (what restore() takes) of a key space given as its versions, e.g. read from
   * another store's backup. Versions may come in any order; `currentRev` is at least the newest one's.
   */
  static encode(currentRev: number, compactRev: number, versions: Iterable<StoredVersion>): Buffer {
    const byKey = new Map<string, Rec[]>();
    for (const v of versions) {
      const ks = keyString(v.kv.key);
      let recs = byKey.get(ks);
      if (!recs) byKey.set(ks, (recs = []));
      recs.push({ kv: v.kv, sub: v.sub });
    }
    const w = new BinaryWriter(1 << 16);
    w.raw(SNAPSHOT_MAGIC);
    w.uvarint(currentRev).svarint(compactRev).uvarint(byKey.size);
    for (const ks of [...byKey.keys()].sort(byteOrder)) {
      const recs = byKey.get(ks)!.sort((a, b) => a.kv.modRevision - b.kv.modRevision || a.sub - b.sub);
      w.bytes(recs[0]!.kv.key).uvarint(recs.length);
      for (const r of recs) writeRec(w, r);
    }
    w.uvarint(0);
    w.raw(SNAPSHOT_END);
    return w.finish();
  }

  /** Replaces this store's contents with a serialized one (reads and checks the whole input). */
  restore(data: Buffer): void {
    const r = new BinaryReader(data);
    const magic = r.raw(SNAPSHOT_MAGIC.length);
    if (!magic.equals(SNAPSHOT_MAGIC)) throw new Error('mvcc: snapshot: bad magic');
    const currentRev = r.uvarint();
    const compactRev = r.svarint();
    const nkeys = r.uvarint();
    const index = new BTree<string, KeyHistory>(undefined, byteOrder);
    const byRev = new Map<number, { sub: number; ev: Event }[]>();
    let bytes = 0;
    for (let i = 0; i < nkeys; i++) {
      const key = r.bytes();
      const n = r.uvarint();
      const recs: Rec[] = [];
      for (let j = 0; j < n; j++) {
        const rec = readRec(r, key);
        if (rec.kv.modRevision > currentRev) throw new Error('mvcc: snapshot: record above current revision');
        const before = recs[j - 1];
        if (
          before &&
          (rec.kv.modRevision < before.kv.modRevision ||
            (rec.kv.modRevision === before.kv.modRevision && rec.sub <= before.sub))
        ) {
          throw new Error('mvcc: snapshot: records out of order');
        }
        recs.push(rec);
        bytes += recSize(rec.kv);
        if (rec.kv.modRevision >= compactRev) {
          const prev = j > 0 && isLive(recs[j - 1]!.kv) ? recs[j - 1]!.kv : null;
          const ev: Event = {
            type: isLive(rec.kv) ? EventType.PUT : EventType.DELETE,
            kv: rec.kv,
            prevKv: prev,
          };
          let list = byRev.get(rec.kv.modRevision);
          if (!list) byRev.set(rec.kv.modRevision, (list = []));
          list.push({ sub: rec.sub, ev });
        }
      }
      if (n === 0) throw new Error('mvcc: snapshot: key without records');
      const ks = keyString(key);
      if (i > 0 && index.maxKey()! >= ks) throw new Error('mvcc: snapshot: keys out of order');
      index.set(ks, { key, recs });
    }
    const compactDeletes: Rec[] = [];
    for (let n = r.uvarint(), i = 0; i < n; i++) {
      const key = r.bytes();
      const rec: Rec = {
        kv: { key, createRevision: 0, modRevision: compactRev, version: 0, value: EMPTY, lease: 0n },
        sub: r.uvarint(),
      };
      compactDeletes.push(rec);
      let list = byRev.get(compactRev);
      if (!list) byRev.set(compactRev, (list = []));
      list.push({ sub: rec.sub, ev: { type: EventType.DELETE, kv: rec.kv, prevKv: null } });
    }
    if (!r.raw(SNAPSHOT_END.length).equals(SNAPSHOT_END)) throw new Error('mvcc: snapshot: bad trailer');
    if (r.remaining !== 0) throw new Error('mvcc: snapshot: trailing bytes');
    const log: RevisionEvents[] = [...byRev.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([rev, list]) => ({ rev, events: list.sort((a, b) => a.sub - b.sub).map((x) => x.ev) }));
    this.index = index;
    this.currentRev = currentRev;
    this.compactRev = compactRev;
    this.log = log;
    this.logStart = 0;
    this.bytes = bytes;
    this.compactDeletes = compactDeletes;
  }

  // --- used by WriteTxn ---

  /** @internal */ _history(ks: string): KeyHistory | undefined {
    return this.index.get(ks);
  }
  /** @internal */ _append(key: Buffer, rec: Rec): void {
    const ks = keyString(key);
    let h = this.index.get(ks);
    if (!h) {
      h = { key, recs: [] };
      this.index.set(ks, h);
    }
    // A key may change twice in one revision (etcd lets a txn delete from a key onwards and put a key in
    // that range): both versions are kept, ordered by sub revision, and reads see the later one.
    h.recs.push(rec);
    this.bytes += recSize(rec.kv);
  }
  /** @internal */ _scan(key: Buffer, end: RangeEnd, visit: (h: KeyHistory) => void): void {
    this.scan(key, end, visit);
  }
  /** @internal */ _rangeAt(key: Buffer, end: RangeEnd, opts: RangeOptions, curRev: number): RangeResult {
    return this.rangeAt(key, end, opts, curRev);
  }
  /** @internal */ _commit(events: Event[]): void {
    this.inTxn = false;
    if (events.length === 0) return;
    this.currentRev++;
    // The history keeps this array until compaction: a right-sized copy, not the transaction's array, which
    // push() grew to room for 17 (136 wasted bytes for the usual single event).
    const batch = { rev: this.currentRev, events: events.slice() };
    this.log.push(batch);
    this.onCommit?.(batch);
  }
}

/** A write transaction: reads see its own earlier writes; all its changes share one main revision. */
export class WriteTxn {
  /** The store revision when the transaction began. */
  readonly beginRev: number;
  private readonly events: Event[] = [];
  private ended = false;

  constructor(private readonly store: MvccStore) {
    this.beginRev = store.rev();
  }

  /** The revision reads see: the new revision once something changed. */
  rev(): number {
    return this.events.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  changes(): readonly Event[] {
    return this.events;
  }

  range(key: Buffer, end: RangeEnd, opts: RangeOptions = {}): RangeResult {
    this.check();
    return this.store._rangeAt(key, end, opts, this.rev());
  }

  /** Writes key=value attached to `lease` (0n = none); returns the revision and the previous live version. */
  put(key: Buffer, value: Buffer, lease: bigint): { rev: number; prev: KeyValue | undefined } {
    this.check();
    const rev = this.beginRev + 1;
    const h = this.store._history(keyString(key));
    const last = h?.recs[h.recs.length - 1]?.kv;
    const prev = last && isLive(last) ? last : undefined;
    const kv: KeyValue = {
      key: h ? h.key : ownedCopy(key),
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      value: ownedCopy(value),
      lease,
    };
    this.store._append(kv.key, { kv, sub: this.events.length });
    this.events.push({ type: EventType.PUT, kv, prevKv: prev ?? null });
    return { rev, prev };
  }

  /** Deletes every live key in [key, end); returns the deleted versions (in key order). */
  deleteRange(key: Buffer, end: RangeEnd): { deleted: KeyValue[]; rev: number } {
    this.check();
    const live: KeyHistory[] = [];
    this.store._scan(key, end, (h) => {
      if (isLive(h.recs[h.recs.length - 1]!.kv)) live.push(h);
    });
    const rev = this.beginRev + 1;
    const deleted: KeyValue[] = [];
    for (const h of live) {
      const prev = h.recs[h.recs.length - 1]!.kv;
      const kv: KeyValue = {
        key: h.key,
        createRevision: 0,
        modRevision: rev,
        version: 0,
        value: EMPTY,
        lease: 0n,
      };
      this.store._append(h.key, { kv, sub: this.events.length });
      this.events.push({ type: EventType.DELETE, kv, prevKv: prev });
      deleted.push(prev);
    }
    return { deleted, rev: this.rev() };
  }

  /** Commits: the store's revision becomes rev() and watchers are told. */
  end(): void {
    this.check();
    this.ended = true;
    this.store._commit(this.events);
  }

  private check(): void {
    if (this.ended) throw new Error('mvcc: write transaction already ended');
  }
}

const SNAPSHOT_MAGIC = Buffer.from('EKLMVCC1');
/** etcd's HashKV starts with the name of the bucket it hashes. */
const KEY_BUCKET = Buffer.from('key');
const SNAPSHOT_END = Buffer.from('EKLMEND1');

/** A live version (a tombstone has version 0). */
function isLive(kv: KeyValue): boolean {
  return kv.version > 0;
}

function recSize(kv: KeyValue): number {
  return kv.key.length + kv.value.length + RECORD_OVERHEAD;
}

/** Index of the last record with modRevision <= rev, or -1. */
function lastAtOrBelow(recs: Rec[], rev: number): number {
  // Most reads are at the current revision: check the newest record first.
  const n = recs.length;
  if (n === 0) return -1;
  if (recs[n - 1]!.kv.modRevision <= rev) return n - 1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (recs[mid]!.kv.modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The version of a key visible at `rev`, or undefined if absent (never written, deleted, or compacted). */
function versionAt(h: KeyHistory, rev: number): KeyValue | undefined {
  const i = lastAtOrBelow(h.recs, rev);
  if (i < 0) return undefined;
  const kv = h.recs[i]!.kv;
  return isLive(kv) ? kv : undefined;
}

function writeRec(w: BinaryWriter, r: Rec): void {
  const kv = r.kv;
  w.uvarint(kv.modRevision)
    .uvarint(r.sub)
    .uvarint(kv.createRevision)
    .uvarint(kv.version)
    .i64(kv.lease)
    .bytes(kv.value);
}

function readRec(r: BinaryReader, key: Buffer): Rec {
  const modRevision = r.uvarint();
  const sub = r.uvarint();
  const createRevision = r.uvarint();
  const version = r.uvarint();
  const lease = r.i64();
  const value = r.bytes();
  return { kv: { key, createRevision, modRevision, version, value, lease }, sub };
}

export { MvccError };
