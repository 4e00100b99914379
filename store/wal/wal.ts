// The write-ahead log: append-only segment files of CRC-chained records (entries, hard states, snapshot
// markers), group-committed with an asynchronous fdatasync, recovered with torn-tail repair on open.
import { mkdir, open, readdir, readFile, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry, HardState, SnapshotMetadata } from '../raft/index.js';
import {
  ByteReader,
  DecodeError,
  readEntry,
  readHardState,
  readSnapshotMetadata,
  readWALMetadata,
  type WALMetadata,
} from './encoding.js';
import { WALCorruptError, WALError } from './errors.js';
import { fsyncDir, isErrno, writeAll, writeAllSync } from './fsutil.js';
import { FrameReader, FrameWriter, RecordType } from './record.js';

export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
/** Encoded bytes save() holds in memory before it starts writing them out without waiting for sync(). */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * How far ahead of the data the last segment is filled with zeros. An fdatasync after a write that grows
 * the file must also commit the file system's metadata (the new size and blocks); a write into space that
 * already exists need not, which made each sync about 1.5-2x faster on ext4 here. etcd preallocates whole
 * 64 MiB segments with fallocate; Node has no fallocate, so the zeros are written, a chunk at a time, in
 * the same writev as the data that needs them. Recovery reads zeros after the last record as the end.
 */
export const DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024;
/** Appends up to this size are written on the event loop (see WAL.writeBufs). */
const SYNC_WRITE_MAX_BYTES = 256 * 1024;
/** etcd warns when one fdatasync takes longer than this. */
const SLOW_FSYNC_SECONDS = 1;

/** What the WAL logs through; common/Logger fits. */
export interface WALLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface WALOptions {
  /** A segment is cut once it grows past this many bytes (default 64 MiB, as etcd). */
  segmentSizeBytes?: number;
  /** See DEFAULT_MAX_BUFFERED_BYTES. */
  maxBufferedBytes?: number;
  logger?: WALLogger;
  /** See DEFAULT_PREALLOCATE_BYTES; 0 writes no zeros (the file ends where the data ends). */
  preallocateBytes?: number;
  /** Called with the duration of every fdatasync/fsync on the append path, for a histogram. */
  onFsync?: (seconds: number) => void;
}

/** Where replay starts: a snapshot's index and term ({0, 0} for "from the beginning"). */
export interface WALSnapshot {
  index: number;
  term: number;
}

export interface WALReadResult {
  metadata: WALMetadata;
  /** The last hard state in the log (all zero if none was saved). */
  hardState: HardState;
  /** The entries after the snapshot, in index order, after applying every truncation in the log. */
  entries: Entry[];
  /** The last snapshot marker in the segments read (the one replay started from, or a newer one). */
  snapshot: SnapshotMetadata | null;
}

interface Segment {
  seq: number;
  /** The index of the first entry this segment was cut for (entries in it have index >= this). */
  index: number;
  name: string;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: '', commit: 0 });

export function segmentName(seq: number, index: number): string {
  return `${hex16(seq)}-${hex16(index)}.wal`;
}

export function parseSegmentName(name: string): { seq: number; index: number } | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  const seq = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) return null;
  return { seq, index };
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** For tests and tools that want no output. */
export const silentLogger: WALLogger = { info: () => {}, warn: () => {} };
/** The default: warnings (a cut torn tail, a slow fsync) reach stderr even if the caller passed no logger. */
const stderrLogger: WALLogger = {
  info: () => {},
  warn: (msg, fields) => process.stderr.write(`WARN [wal] ${msg} ${fields ? JSON.stringify(fields) : ''}\n`),
};

type QueueItem =
  { kind: 'data'; seq: number; buf: Buffer } | { kind: 'cut'; seq: number; segment: Segment; header: Buffer };

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type State = 'opened' | 'appending' | 'closed';

/**
 * A write-ahead log in one directory.
 *
 * Durability contract: save() and saveSnapshotMarker() only encode into memory. When the promise from
 * sync() resolves, every record saved before that sync() call is on stable storage (written and
 * fdatasync'ed, and any segment created on the way fsync'ed with its directory). Records saved while a
 * sync is running go into the next one: a caller can batch one Raft Ready per save + sync and prepare the
 * next Ready meanwhile. Once any write or fsync fails the WAL fails for good (every later call rejects
 * with WAL_FAILED): after a failed fsync the kernel may have dropped the dirty pages, so retrying could
 * report data durable that is not.
 */
export class WAL {
  private state: State;
  private readonly logger: WALLogger;
  private readonly segmentSizeBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly preallocateBytes: number;
  private readonly onFsync: ((seconds: number) => void) | undefined;

  // Encoder side: what save() has produced so far.
  private writer: FrameWriter;
  private metadata: WALMetadata | null;
  private lastHardState: HardState = EMPTY_HARD_STATE;
  /** Index of the last entry saved (or the snapshot marker, if later): the next entry may be at most +1. */
  private enti = 0;
  /** Bytes in the newest segment, counting those not yet written. */
  private segmentBytes = 0;
  private lastSeq: number;

  // Flusher side: what is on disk.
  private queue: QueueItem[] = [];
  private queued = 0;
  private durable = 0;
  private waiters: Waiter[] = [];
  private running = false;
  private flushing: Promise<void> = Promise.resolve();
  private failure: WALError | null = null;
  private fh: FileHandle | null = null;
  private fileOffset = 0;
  /** Size of the current segment file: the data, then zeros written ahead of it (preallocation). */
  private fileSize = 0;
  /** Segments on disk, oldest first; the last is the one being appended to. */
  private segments: Segment[];
  /** Replay starting point, between open() and readAll(): a snapshot, and the segment to read from. */
  private readonly from: WALSnapshot;
  private readFrom = 0;

  private constructor(
    readonly dir: string,
    segments: Segment[],
    from: WALSnapshot,
    opts: WALOptions,
    state: State,
  ) {
    this.state = state;
    this.segments = segments;
    this.from = from;
    this.logger = opts.logger ?? stderrLogger;
    this.segmentSizeBytes = opts.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.preallocateBytes = Math.min(opts.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES, ZEROS.length);
    this.onFsync = opts.onFsync;
    if (!(this.segmentSizeBytes > 0)) throw new RangeError('segmentSizeBytes must be positive');
    this.writer = new FrameWriter(0);
    this.metadata = null;
    this.lastSeq = segments.length ? segments[segments.length - 1]!.seq : 0;
  }

  /** True if `dir` holds at least one WAL segment. */
  static async exists(dir: string): Promise<boolean> {
    try {
      return (await readdir(dir)).some((n) => SEGMENT_RE.test(n));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /**
   * Creates a new WAL in `dir` (which must not hold one): the first segment holds the metadata and an
   * empty snapshot marker. It is built in `<dir>.tmp` and renamed into place, so a crash never leaves a
   * half-made WAL behind. The returned WAL is ready for appends.
   */
  static async create(dir: string, metadata: WALMetadata, opts: WALOptions = {}): Promise<WAL> {
    if (await WAL.exists(dir))
      throw new WALError('WAL_EXISTS', `wal: ${dir} already holds a write-ahead log`);
    const tmpDir = `${dir}.tmp`;
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true });
    const first: Segment = { seq: 0, index: 0, name: segmentName(0, 0) };
    const w = new FrameWriter(0, 4096);
    w.crcRecord(0);
    w.metadata(metadata);
    w.snapshot({ index: 0, term: 0, confState: { voters: [], learners: [] } });
    const header = w.take()!;
    const fh = await open(join(tmpDir, first.name), 'w');
    try {
      await writeAll(fh, [header], 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(tmpDir);
    try {
      await rmdir(dir); // an empty directory left by whoever made the data dir
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await rename(tmpDir, dir);
    // The parents too: `member/` may have been created just now by mkdir above.
    await fsyncDir(dirname(dir));
    await fsyncDir(dirname(dirname(dir)));

    const wal = new WAL(dir, [first], { index: 0, term: 0 }, opts, 'appending');
    wal.metadata = metadata;
    wal.writer = new FrameWriter(w.crc);
    wal.segmentBytes = header.length;
    wal.fh = await open(join(dir, first.name), 'r+');
    wal.fileOffset = header.length;
    wal.fileSize = header.length;
    return wal;
  }

  /**
   * Opens the WAL in `dir` for replay from `from` (the snapshot the state machine was restored from).
   * Call readAll() next; appends are allowed after it.
   */
  static async open(
    dir: string,
    from: WALSnapshot = { index: 0, term: 0 },
    opts: WALOptions = {},
  ): Promise<WAL> {
    const logger = opts.logger ?? stderrLogger;
    const all = await listSegments(dir, logger, true);
    if (all.length === 0) throw new WALError('WAL_NOT_FOUND', `wal: no segments in ${dir}`);
    const run = continuousTail(dir, all);
    let start = -1;
    for (let i = 0; i < run.length; i++) if (run[i]!.index <= from.index) start = i;
    if (start < 0) {
      const skipped = all.length - run.length;
      throw new WALError(
        'WAL_NOT_FOUND',
        `wal: no segment in ${dir} starts at or before index ${from.index} (oldest usable segment ` +
          `${run[0]!.name}${skipped ? `, ${skipped} older segments cut off by a sequence gap` : ''})`,
      );
    }
    const wal = new WAL(dir, run, from, opts, 'opened');
    wal.readFrom = start;
    return wal;
  }

  /**
   * The snapshot markers in the WAL that a snap file may be loaded for: those at or below the last
   * committed index (a marker written just before a crash, ahead of its hard state, does not count).
   * Reads without repairing anything.
   */
  static async validSnapshotMarkers(
    dir: string,
    opts: { logger?: WALLogger } = {},
  ): Promise<SnapshotMetadata[]> {
    const logger = opts.logger ?? stderrLogger;
    const run = continuousTail(dir, await listSegments(dir, logger, false));
    if (run.length === 0) throw new WALError('WAL_NOT_FOUND', `wal: no segments in ${dir}`);
    const markers: SnapshotMetadata[] = [];
    let hardState: HardState = EMPTY_HARD_STATE;
    await decodeLog(dir, run, (type, r) => {
      if (type === RecordType.Snapshot) {
        const m = readSnapshotMetadata(r);
        r.done();
        markers.push(m);
      } else if (type === RecordType.State) {
        hardState = readHardState(r);
      }
    });
    return markers.filter((m) => m.index <= hardState.commit);
  }

  /**
   * Operator repair for a member that refuses to start after a power loss tore its last write in the
   * middle (a lost sector with data after it): cuts the last segment at its first damaged record,
   * whatever follows. Records after the cut are gone even if they had been acknowledged, so this is a
   * deliberate step (etcd operators would rather remove and re-add such a member), never automatic.
   * Returns what was cut, or null if the last segment has no damage. Hold the data-dir lock.
   */
  static async repairTail(
    dir: string,
    opts: { logger?: WALLogger } = {},
  ): Promise<{ file: string; offset: number; discardedBytes: number; reason: string } | null> {
    const logger = opts.logger ?? stderrLogger;
    const run = continuousTail(dir, await listSegments(dir, logger, true));
    if (run.length === 0) throw new WALError('WAL_NOT_FOUND', `wal: no segments in ${dir}`);
    const file = join(dir, run[run.length - 1]!.name);
    const buf = await readFile(file);
    // A segment's chain starts at its own crc record, so the last segment can be checked on its own.
    const reader = new FrameReader(buf, 0);
    for (let first = true; ; first = false) {
      const f = reader.next();
      if (f.kind === 'end') return null;
      if (f.kind === 'damaged' && f.zeroFill && !first) return null; // preallocated space, not damage
      if (f.kind === 'damaged') {
        if (first)
          throw new WALCorruptError(file, f.offset, `${f.reason} (the segment has no intact header)`);
        const fh = await open(file, 'r+');
        try {
          await fh.truncate(f.offset);
          await fh.sync();
        } finally {
          await fh.close();
        }
        const cut = { file, offset: f.offset, discardedBytes: buf.length - f.offset, reason: f.reason };
        logger.warn('wal: repair cut the last segment', cut);
        return cut;
      }
      if (f.type === RecordType.Crc) reader.crc = buf.readUInt32LE(f.bodyStart + 1);
    }
  }

  /**
   * Replays the log from the snapshot given to open(). A torn tail on the last segment (a crash in the
   * middle of an append) is cut off and logged; damage anywhere else throws WALCorruptError.
   */
  async readAll(): Promise<WALReadResult> {
    if (this.state !== 'opened')
      throw new WALError('WAL_BAD_STATE', `wal: readAll() is only allowed once, after open()`);
    const from = this.from;
    let metadata: WALMetadata | null = null;
    let hardState: HardState = { ...EMPTY_HARD_STATE };
    const entries: Entry[] = [];
    let snapshot: SnapshotMetadata | null = null;
    let matched = from.index === 0 && from.term === 0;
    let enti = 0;

    const reading = this.segments.slice(this.readFrom);
    const tail = await decodeLog(this.dir, reading, (type, r, file, offset) => {
      switch (type) {
        case RecordType.Metadata: {
          const m = readWALMetadata(r);
          if (metadata === null) metadata = m;
          else if (m.memberId !== metadata.memberId || m.clusterId !== metadata.clusterId) {
            throw new WALCorruptError(
              file,
              offset,
              `metadata ${JSON.stringify(m)} differs from ${JSON.stringify(metadata)}`,
            );
          }
          break;
        }
        case RecordType.Entry: {
          const e = readEntry(r);
          if (e.index > from.index) {
            const pos = e.index - from.index - 1;
            if (pos > entries.length) {
              throw new WALCorruptError(
                file,
                offset,
                `entry ${e.index} leaves a gap after index ${from.index + entries.length} ` +
                  `(replay started at snapshot index ${from.index})`,
              );
            }
            // Raft truncation: an entry at an index already seen replaces it and everything after it.
            entries.length = pos;
            entries.push(e);
          }
          enti = e.index;
          break;
        }
        case RecordType.State:
          hardState = readHardState(r);
          break;
        case RecordType.Snapshot: {
          const m = readSnapshotMetadata(r);
          r.done();
          if (m.index === from.index) {
            if (m.term !== from.term) {
              throw new WALError(
                'WAL_SNAPSHOT_MISMATCH',
                `wal: snapshot marker at index ${m.index} has term ${m.term}, expected ${from.term} (${file} offset ${offset})`,
              );
            }
            matched = true;
          }
          snapshot = m;
          if (m.index > enti) enti = m.index;
          break;
        }
        default:
          throw new WALCorruptError(file, offset, `unknown record type ${type}`);
      }
    });

    if (!matched) {
      throw new WALError(
        'WAL_SNAPSHOT_NOT_FOUND',
        `wal: no snapshot marker for index ${from.index} term ${from.term} in ${this.dir}`,
      );
    }
    if (metadata === null) {
      throw new WALCorruptError(join(this.dir, reading[0]!.name), 0, 'no metadata record');
    }

    const last = this.segments[this.segments.length - 1]!;
    const lastPath = join(this.dir, last.name);
    const fh = await open(lastPath, 'r+');
    try {
      if (tail.cut) {
        this.logger.warn('wal: cut torn tail of last segment', {
          file: lastPath,
          offset: tail.cut.offset,
          discardedBytes: tail.cut.discarded,
          reason: tail.cut.reason,
        });
        await fh.truncate(tail.cut.offset);
        await fh.sync();
      }
    } catch (err) {
      await fh.close();
      throw err;
    }

    this.fh = fh;
    this.fileOffset = tail.end;
    this.fileSize = tail.cut ? tail.cut.offset : tail.size;
    this.segmentBytes = tail.end;
    this.writer = new FrameWriter(tail.crc);
    this.metadata = metadata;
    this.lastHardState = hardState;
    this.enti = enti;
    this.lastSeq = last.seq;
    this.state = 'appending';
    return { metadata, hardState, entries, snapshot };
  }

  /** Index of the last entry saved (or of a later snapshot marker). */
  get lastIndex(): number {
    return this.enti;
  }

  /**
   * Buffers `entries` (consecutive, the first at most lastIndex + 1: an earlier index truncates the log
   * there) and then `hardState` (skipped if null or unchanged). Nothing is durable until sync() resolves.
   */
  save(hardState: HardState | null, entries: readonly Entry[]): void {
    this.checkAppendable();
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (!(first >= 1 && first <= this.enti + 1)) {
        throw new WALError(
          'WAL_INVALID_ARGUMENT',
          `wal: entry ${first} would leave a gap after ${this.enti}`,
        );
      }
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.index !== first + i) {
          throw new WALError(
            'WAL_INVALID_ARGUMENT',
            `wal: entries not consecutive at position ${i} (index ${entries[i]!.index})`,
          );
        }
      }
    }
    const writeState = hardState !== null && !sameHardState(hardState, this.lastHardState);
    const mark = this.writer.mark();
    const before = this.writer.size;
    try {
      for (const e of entries) this.writer.entry(e);
      if (writeState) this.writer.hardState(hardState);
    } catch (err) {
      this.writer.rollback(mark);
      throw new WALError('WAL_INVALID_ARGUMENT', `wal: cannot encode record: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.segmentBytes += this.writer.size - before;
    if (entries.length > 0) this.enti = entries[entries.length - 1]!.index;
    if (writeState)
      this.lastHardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    this.afterAppend();
  }

  /**
   * Buffers a snapshot marker: the state machine has a snapshot at (index, term), so replay may start
   * there. Save the snap file before the marker, and sync() before purging anything.
   */
  saveSnapshotMarker(meta: SnapshotMetadata): void {
    this.checkAppendable();
    const before = this.writer.size;
    const mark = this.writer.mark();
    try {
      this.writer.snapshot(meta);
    } catch (err) {
      this.writer.rollback(mark);
      throw new WALError(
        'WAL_INVALID_ARGUMENT',
        `wal: cannot encode snapshot marker: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    this.segmentBytes += this.writer.size - before;
    if (meta.index > this.enti) this.enti = meta.index;
    this.afterAppend();
  }

  /** Resolves when everything saved before this call is durable. See the class comment. */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== 'appending') {
      return Promise.reject(new WALError('WAL_BAD_STATE', `wal: sync() on a WAL that is ${this.state}`));
    }
    this.seal();
    const target = this.queued;
    if (target <= this.durable) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.kick();
    });
  }

  /**
   * Deletes the segments that hold only entries before `index` (normally the index of a snapshot that
   * is durable on disk), keeping the segment that contains `index` and every later one. With `maxFiles`
   * (etcd's --max-wals), the oldest of those go only while more than `maxFiles` segments remain, and 0
   * deletes nothing. Returns the names of the deleted files.
   */
  async releaseLockTo(index: number, maxFiles?: number): Promise<string[]> {
    if (this.state !== 'appending')
      throw new WALError('WAL_BAD_STATE', `wal: releaseLockTo() on a WAL that is ${this.state}`);
    let keepFrom = 0;
    for (let i = 0; i < this.segments.length; i++) if (this.segments[i]!.index <= index) keepFrom = i;
    keepFrom = Math.min(keepFrom, this.segments.length - 1);
    if (maxFiles !== undefined)
      keepFrom = maxFiles === 0 ? 0 : Math.min(keepFrom, Math.max(0, this.segments.length - maxFiles));
    const doomed = this.segments.splice(0, keepFrom);
    // Oldest first: a crash part way leaves a gap-free run of newer segments, which open() handles.
    for (const s of doomed) {
      try {
        await unlink(join(this.dir, s.name));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    if (doomed.length > 0) {
      await fsyncDir(this.dir);
      this.logger.info('wal: purged segments', {
        dir: this.dir,
        upToIndex: index,
        files: doomed.map((s) => s.name),
      });
    }
    return doomed.map((s) => s.name);
  }

  /** Names of the segment files on disk, oldest first (the last one is being appended to). */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  /**
   * Syncs what was saved, gives back the preallocated space (a stopped member's last segment ends where
   * its data ends, as every other segment does), then closes the file. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'appending' && !this.failure) {
        await this.sync();
        while (this.running) await this.flushing;
        if (this.fh && this.fileSize > this.fileOffset && !this.failure) {
          await this.fh.truncate(this.fileOffset);
          await this.fh.datasync();
          this.fileSize = this.fileOffset;
        }
      }
    } finally {
      this.state = 'closed';
      while (this.running) await this.flushing;
      const fh = this.fh;
      this.fh = null;
      await fh?.close();
    }
  }

  private checkAppendable(): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'appending') {
      throw new WALError(
        'WAL_BAD_STATE',
        this.state === 'opened' ? 'wal: call readAll() before appending' : 'wal: the WAL is closed',
      );
    }
  }

  private afterAppend(): void {
    if (this.segmentBytes >= this.segmentSizeBytes) this.cut();
    // Bound memory: a caller that saves a lot without syncing gets its bytes written out in the background.
    if (this.writer.size >= this.maxBufferedBytes) {
      this.seal();
      this.kick();
    }
  }

  /**
   * Queues a segment cut at this record boundary. The new segment starts with a crc record carrying the
   * chain over, the metadata and the last hard state, so it can be read on its own once older ones are
   * purged. Its name holds the index the next entry will have.
   */
  private cut(): void {
    this.seal();
    const seq = this.lastSeq + 1;
    const index = this.enti + 1;
    const segment: Segment = { seq, index, name: segmentName(seq, index) };
    const w = new FrameWriter(this.writer.crc, 4096);
    w.crcRecord(this.writer.crc);
    w.metadata(this.metadata!);
    w.hardState(this.lastHardState);
    this.writer.crc = w.crc;
    const header = w.take()!;
    this.queue.push({ kind: 'cut', seq: ++this.queued, segment, header });
    this.segmentBytes = header.length;
    this.lastSeq = seq;
  }

  /** Moves the encoded bytes into the write queue. */
  private seal(): void {
    const buf = this.writer.take();
    if (buf) this.queue.push({ kind: 'data', seq: ++this.queued, buf });
  }

  private kick(): void {
    if (this.running || this.failure) return;
    this.running = true;
    this.flushing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const items = this.queue.splice(0, this.queue.length);
        let pending: Buffer[] = [];
        for (const item of items) {
          if (item.kind === 'data') {
            pending.push(item.buf);
          } else {
            await this.write(pending);
            pending = [];
            await this.switchSegment(item.segment, item.header);
          }
        }
        await this.write(pending);
        await this.timedSync(false);
        this.durable = items[items.length - 1]!.seq;
        while (this.waiters.length > 0 && this.waiters[0]!.target <= this.durable)
          this.waiters.shift()!.resolve();
      }
    } catch (err) {
      this.fail(err);
    } finally {
      // Cleared in the same tick the loop sees an empty queue, so a sync() called from a resolved
      // waiter's continuation always finds either a running loop that will see its data, or none.
      this.running = false;
    }
  }

  private async write(bufs: Buffer[]): Promise<void> {
    if (bufs.length === 0) return;
    let len = 0;
    for (const b of bufs) len += b.length;
    const end = this.fileOffset + len;
    if (end > this.fileSize && this.preallocateBytes > 0) {
      // The same writev carries the zeros that extend the file, so the sync after it pays for the file
      // system's metadata once per preallocateBytes rather than on every write.
      bufs.push(ZEROS.subarray(0, this.preallocateBytes));
      await this.writeBufs(bufs, len + this.preallocateBytes);
      this.fileSize = end + this.preallocateBytes;
    } else {
      await this.writeBufs(bufs, len);
      if (end > this.fileSize) this.fileSize = end;
    }
    this.fileOffset = end;
  }

  /**
   * A small append is a copy into the page cache: done on the event loop it saves a thread-pool round trip
   * (a thread wake-up and an event-loop turn) per batch, which measured 1.2-1.7x more syncs/s for
   * one-entry batches here. Larger writes (a big batch, the preallocation zeros) go to the thread pool.
   * Either way the fdatasync that makes the data durable runs off the event loop.
   */
  private async writeBufs(bufs: Buffer[], len: number): Promise<void> {
    if (len <= SYNC_WRITE_MAX_BYTES) writeAllSync(this.fh!.fd, bufs, this.fileOffset);
    else await writeAll(this.fh!, bufs, this.fileOffset);
  }

  private async timedSync(full: boolean): Promise<void> {
    const t0 = performance.now();
    if (full) await this.fh!.sync();
    else await this.fh!.datasync();
    const seconds = (performance.now() - t0) / 1000;
    this.onFsync?.(seconds);
    if (seconds > SLOW_FSYNC_SECONDS) {
      this.logger.warn('wal: slow fdatasync', {
        took: `${seconds.toFixed(3)}s`,
        expected: `${SLOW_FSYNC_SECONDS}s`,
      });
    }
  }

  private async switchSegment(segment: Segment, header: Buffer): Promise<void> {
    // The finished segment must be durable before the next one exists: recovery only forgives damage in
    // the last segment (and zeros after the data only there, so the preallocated space goes first).
    if (this.fileSize > this.fileOffset) {
      await this.fh!.truncate(this.fileOffset);
      this.fileSize = this.fileOffset;
    }
    await this.timedSync(false);
    await this.fh!.close();
    this.fh = null;
    const path = join(this.dir, segment.name);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await writeAll(fh, [header], 0);
      await fh.sync();
    } catch (err) {
      await fh.close();
      throw err;
    }
    await rename(tmp, path);
    await fsyncDir(this.dir);
    this.fh = fh;
    this.fileOffset = header.length;
    this.fileSize = header.length;
    this.segments.push(segment);
    this.logger.info('wal: cut segment', { file: path });
  }

  private fail(err: unknown): void {
    const failure =
      err instanceof WALError
        ? err
        : new WALError('WAL_FAILED', `wal: write failed: ${(err as Error).message}`, { cause: err });
    this.failure = failure;
    this.queue = [];
    for (const w of this.waiters.splice(0)) w.reject(failure);
    this.logger.warn('wal: failed; refusing further writes', { error: failure.message });
  }
}

/** Shared, never written to: the source of preallocation zeros. */
const ZEROS = Buffer.alloc(DEFAULT_PREALLOCATE_BYTES);

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Segment files in `dir`, by sequence number. Leftover `.wal.tmp` files (a crash during a cut) go. */
async function listSegments(dir: string, logger: WALLogger, removeTemp: boolean): Promise<Segment[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const out: Segment[] = [];
  for (const name of names) {
    const p = parseSegmentName(name);
    if (p) out.push({ ...p, name });
    else if (removeTemp && name.endsWith('.wal.tmp')) {
      logger.warn('wal: removing unfinished segment left by a crash', { file: join(dir, name) });
      await unlink(join(dir, name));
    }
  }
  out.sort((a, b) => a.seq - b.seq);
  return out;
}

/** The newest run of segments with consecutive sequence numbers (older ones before a gap were purged). */
function continuousTail(dir: string, segs: Segment[]): Segment[] {
  let i = segs.length - 1;
  while (i > 0 && segs[i - 1]!.seq === segs[i]!.seq - 1) i--;
  const run = segs.slice(Math.max(i, 0));
  for (let k = 1; k < run.length; k++) {
    if (run[k]!.index < run[k - 1]!.index) {
      throw new WALCorruptError(
        join(dir, run[k]!.name),
        0,
        `segment index goes backwards after ${run[k - 1]!.name}`,
      );
    }
  }
  return run;
}

interface DecodedTail {
  /** Where appends continue in the last segment. */
  end: number;
  /** The running CRC after the last good record. */
  crc: number;
  /** Size of the last segment file (beyond `end` only zeros: preallocated space, or a torn tail). */
  size: number;
  cut: { offset: number; discarded: number; reason: string } | null;
}

/**
 * Reads `segs` in order, checking the CRC chain, and hands every record but crc records to `visit`.
 * Damage is a WALCorruptError unless it is a torn tail of the last segment, which is reported back.
 */
async function decodeLog(
  dir: string,
  segs: Segment[],
  visit: (type: number, r: ByteReader, file: string, offset: number) => void,
): Promise<DecodedTail> {
  let crc = 0;
  let chained = false;
  let result: DecodedTail = { end: 0, crc: 0, size: 0, cut: null };
  for (let s = 0; s < segs.length; s++) {
    const file = join(dir, segs[s]!.name);
    const isLast = s === segs.length - 1;
    const buf = await readFile(file);
    const reader = new FrameReader(buf, crc);
    let first = true;
    let cut: DecodedTail['cut'] = null;
    for (;;) {
      const f = reader.next();
      if (f.kind === 'end') break;
      if (f.kind === 'damaged') {
        // Zeros from a record boundary to the end of the last segment: space the writer preallocated.
        if (isLast && f.zeroFill && !first) break;
        if (isLast && f.tornTail && !first) {
          cut = { offset: f.offset, discarded: buf.length - f.offset, reason: f.reason };
          break;
        }
        const why = !isLast
          ? `${f.reason} (in a completed segment, which a crash cannot tear)`
          : first
            ? `${f.reason} (the segment has no intact header)`
            : `${f.reason} (non-zero data follows it, so it may be acknowledged data and not a torn write; ` +
              `if the disk lost power mid-write, WAL.repairTail can cut the last segment here)`;
        throw new WALCorruptError(file, f.offset, why);
      }
      if (f.type === RecordType.Crc) {
        if (!first) throw new WALCorruptError(file, f.offset, 'crc record in the middle of a segment');
        if (f.bodyEnd - f.bodyStart !== 5)
          throw new WALCorruptError(file, f.offset, 'crc record of the wrong size');
        const carried = buf.readUInt32LE(f.bodyStart + 1);
        if (chained && carried !== reader.crc) {
          throw new WALCorruptError(
            file,
            f.offset,
            `CRC chain broken between segments (carried ${carried}, previous segment ended at ${reader.crc})`,
          );
        }
        reader.crc = carried;
        chained = true;
        first = false;
        continue;
      }
      if (first) throw new WALCorruptError(file, f.offset, 'segment does not start with a crc record');
      const r = new ByteReader(buf, f.bodyStart + 1, f.bodyEnd);
      try {
        visit(f.type, r, file, f.offset);
      } catch (err) {
        if (err instanceof DecodeError) {
          throw new WALCorruptError(
            file,
            f.offset,
            `undecodable ${RecordType[f.type] ?? f.type} record: ${err.message}`,
          );
        }
        throw err;
      }
    }
    crc = reader.crc;
    if (first) throw new WALCorruptError(file, 0, 'empty segment');
    result = { end: cut ? cut.offset : reader.offset, crc, size: buf.length, cut };
  }
  return result;
}
