// The WAL's record framing: an 8-byte header (body length, rolling CRC32C), the body (a type byte and the
// payload, whitened), zero padding to the next 8-byte boundary. FrameWriter encodes a batch; FrameReader
// walks a segment and classifies damage so recovery can tell a torn tail from corruption.
import type { Entry, HardState, SnapshotMetadata } from '../raft/index.js';
import { crc32c, crc32cFindPrefix } from './crc32c.js';
import {
  entrySize,
  hardStateSize,
  snapshotMetadataSize,
  walMetadataSize,
  writeEntry,
  writeHardState,
  writeSnapshotMetadata,
  writeWALMetadata,
  type WALMetadata,
} from './encoding.js';

/** Record kinds; the numbers are etcd's walpb record types, so a reader who knows etcd recognizes them. */
export enum RecordType {
  Metadata = 1,
  Entry = 2,
  State = 3,
  Crc = 4,
  Snapshot = 5,
}

export const HEADER_BYTES = 8;
export const ALIGN = 8;
/** Bound on one record's body; a header claiming more is damage, not a record. */
export const MAX_BODY_BYTES = 128 * 1024 * 1024;

/** The unit a disk persists atomically; a write lost in a power failure reads back as whole zero sectors. */
export const SECTOR_BYTES = 512;

/**
 * The whitening key. On disk a body is XORed with it (byte i with KEY[i % 4096]) so that written records
 * never contain a 512-byte run of zeros, whatever the entries hold: an all-zero sector inside the log
 * then proves a write that never reached the disk (a torn write), not data. The key is fixed (xorshift32
 * from a constant seed), so this is a format detail, not secrecy.
 */
const KEY = (() => {
  const key = new Uint8Array(4096);
  let x = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    key[i] = (x >>> 0) & 0xff || 0x5a;
  }
  return key;
})();

/** XORs buf[start, end) with the key from its start; applying it twice restores the bytes. */
export function whiten(buf: Uint8Array, start: number, end: number): void {
  for (let i = start, k = 0; i < end; i++, k = (k + 1) & 4095) buf[i] = buf[i]! ^ KEY[k]!;
}

/** Header + body + padding. Arithmetic, not bit masks: a damaged length may be near 2^32. */
export function frameSize(bodyLen: number): number {
  const n = HEADER_BYTES + bodyLen;
  return n + ((ALIGN - (n % ALIGN)) % ALIGN);
}

/**
 * Encodes records into one growing buffer, chaining each record's CRC into the next. A crc record
 * carries the running CRC across a segment boundary; its own header CRC covers only its body, because
 * it is what (re)starts the chain.
 */
export class FrameWriter {
  private buf: Buffer;
  private len = 0;

  constructor(
    /** The running CRC: the CRC of the last record encoded. */
    public crc: number,
    private readonly initialCapacity = 64 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  /** Bytes encoded and not yet taken. */
  get size(): number {
    return this.len;
  }

  entry(e: Entry): void {
    const n = entrySize(e);
    this.frame(RecordType.Entry, n, (b, o) => writeEntry(b, o, e));
  }

  hardState(h: HardState): void {
    this.frame(RecordType.State, hardStateSize(h), (b, o) => writeHardState(b, o, h));
  }

  metadata(m: WALMetadata): void {
    this.frame(RecordType.Metadata, walMetadataSize(m), (b, o) => writeWALMetadata(b, o, m));
  }

  snapshot(m: SnapshotMetadata): void {
    this.frame(RecordType.Snapshot, snapshotMetadataSize(m), (b, o) => writeSnapshotMetadata(b, o, m));
  }

  /** Starts a segment: records the CRC the chain continues from. */
  crcRecord(prev: number): void {
    this.frame(RecordType.Crc, 4, (b, o) => {
      b[o] = prev & 0xff;
      b[o + 1] = (prev >>> 8) & 0xff;
      b[o + 2] = (prev >>> 16) & 0xff;
      b[o + 3] = (prev >>> 24) & 0xff;
      return o + 4;
    });
  }

  /** A point to roll back to if encoding a batch fails part way. */
  mark(): { len: number; crc: number } {
    return { len: this.len, crc: this.crc };
  }

  rollback(m: { len: number; crc: number }): void {
    this.len = m.len;
    this.crc = m.crc;
  }

  /**
   * Hands over the encoded bytes (a copy of their own: the caller owns them) and starts again in the same
   * buffer. Handing over the buffer itself meant a new 64 KiB one per batch: with one small batch per
   * request, 64 KiB of memory outside V8's heap per put, which made V8 collect garbage every few hundred
   * puts ("external memory pressure", 4-6 ms each). A copy of a small batch comes from Node's buffer pool.
   */
  take(): Buffer | null {
    if (this.len === 0) return null;
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    // Start small again: one huge batch should not keep a huge buffer alive.
    if (this.buf.length > this.initialCapacity) this.buf = Buffer.allocUnsafe(this.initialCapacity);
    this.len = 0;
    return out;
  }

  private frame(type: RecordType, payloadLen: number, write: (buf: Buffer, off: number) => number): void {
    const bodyLen = 1 + payloadLen;
    if (bodyLen > MAX_BODY_BYTES)
      throw new RangeError(`record of ${bodyLen} bytes exceeds ${MAX_BODY_BYTES}`);
    const size = frameSize(bodyLen);
    this.ensure(size);
    const start = this.len;
    const buf = this.buf;
    const bodyStart = start + HEADER_BYTES;
    buf[bodyStart] = type;
    // A throw here (an invalid field) leaves len and crc untouched, so the batch stays well-formed.
    const end = write(buf, bodyStart + 1);
    if (end !== bodyStart + bodyLen)
      throw new Error(`record encoder wrote ${end - bodyStart} of ${bodyLen} bytes`);
    buf.fill(0, end, start + size);
    const carried = type === RecordType.Crc ? prevOf(buf, bodyStart) : 0;
    whiten(buf, bodyStart, end);
    // The CRC covers the bytes as they are on disk, so recovery checks what it reads before un-whitening.
    const crc =
      type === RecordType.Crc ? crc32c(0, buf, bodyStart, end) : crc32c(this.crc, buf, bodyStart, end);
    buf.writeUInt32LE(bodyLen, start);
    buf.writeUInt32LE(crc, start + 4);
    this.crc = type === RecordType.Crc ? carried : crc;
    this.len = start + size;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

export type Frame =
  | { kind: 'record'; offset: number; type: number; bodyStart: number; bodyEnd: number }
  | { kind: 'end' }
  | {
      kind: 'damaged';
      offset: number;
      reason: string;
      /** True when this is what a crash leaves (see the recovery rules in README.md), false for corruption. */
      tornTail: boolean;
      /** True when everything from `offset` to the end of the buffer is zeros (e.g. preallocated space). */
      zeroFill?: boolean;
    };

function allZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/** True if a sector-aligned block overlapping [start, end) is all zeros (to the end of the file). */
function lostSector(buf: Uint8Array, start: number, end: number): boolean {
  for (let s = start - (start % SECTOR_BYTES); s < end; s += SECTOR_BYTES) {
    if (allZero(buf, s, Math.min(s + SECTOR_BYTES, buf.length))) return true;
  }
  return false;
}

/** The CRC a crc record's body carries (read from the plain, un-whitened body). */
function prevOf(buf: Uint8Array, bodyStart: number): number {
  const o = bodyStart + 1;
  return (buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16) | (buf[o + 3]! << 24)) >>> 0;
}

/**
 * Walks the frames of one segment. The caller keeps `crc` (the running CRC) right across crc records,
 * which it checks against the chain itself.
 */
export class FrameReader {
  offset = 0;

  constructor(
    private readonly buf: Uint8Array,
    public crc: number,
  ) {}

  next(): Frame {
    const buf = this.buf;
    const off = this.offset;
    const size = buf.length;
    if (off === size) return { kind: 'end' };
    if (size - off < HEADER_BYTES) {
      return {
        kind: 'damaged',
        offset: off,
        reason: `truncated record header (${size - off} bytes)`,
        tornTail: true,
      };
    }
    const bodyLen = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
    const stored =
      (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24)) >>> 0;
    const bodyStart = off + HEADER_BYTES;
    if (bodyLen === 0 && stored === 0) {
      // A real header is never zero (the length is at least 1), and a header never straddles a sector, so
      // this one was never written: the write holding it (and so every later one) was never synced.
      const rest = allZero(buf, bodyStart, size);
      return {
        kind: 'damaged',
        offset: off,
        reason: rest
          ? 'zero-filled space'
          : 'zeroed record header (a write that never reached the disk) with data after it',
        tornTail: true,
        zeroFill: rest,
      };
    }
    const frameEnd = off + frameSize(bodyLen);
    if (bodyLen === 0 || bodyLen > MAX_BODY_BYTES || frameEnd > size) {
      // A crash leaves a prefix of what was written, so a header whose record runs past the end of the file
      // is what a torn append looks like, unless its CRC matches a shorter body that is in the file: then
      // the length field itself was damaged and the records after it were real.
      const realEnd = crc32cFindPrefix(this.crc, buf, bodyStart, size, stored);
      // (A body that is whole but lacks its padding is simply torn.)
      if (realEnd > bodyStart && realEnd - bodyStart !== bodyLen) {
        return {
          kind: 'damaged',
          offset: off,
          reason: `record length field damaged (says ${bodyLen} bytes, CRC matches ${realEnd - bodyStart})`,
          tornTail: false,
        };
      }
      const reason =
        bodyLen === 0 || bodyLen > MAX_BODY_BYTES
          ? `invalid record length ${bodyLen}`
          : `record of ${bodyLen} bytes runs past the end of the file (${size - bodyStart} bytes left)`;
      return {
        kind: 'damaged',
        offset: off,
        reason,
        tornTail: frameEnd > size || allZero(buf, bodyStart, size),
      };
    }
    const bodyEnd = bodyStart + bodyLen;
    const type = buf[bodyStart]! ^ KEY[0]!;
    const crc =
      type === RecordType.Crc
        ? crc32c(0, buf, bodyStart, bodyEnd)
        : crc32c(this.crc, buf, bodyStart, bodyEnd);
    if (crc !== stored) {
      // A torn write if nothing follows, or if part of this record reads as a zero sector: whitened
      // data never does, so that sector was never written, and no sync covering this record (or any
      // record after it, which a later sync would cover) ever completed.
      const last = allZero(buf, frameEnd, size);
      const lost = !last && lostSector(buf, off, frameEnd);
      return {
        kind: 'damaged',
        offset: off,
        reason:
          `CRC mismatch (stored ${hex32(stored)}, computed ${hex32(crc)})` +
          (lost ? '; part of it reads as a zeroed sector (a write that never reached the disk)' : ''),
        tornTail: last || lost,
      };
    }
    if (!allZero(buf, bodyEnd, frameEnd)) {
      return { kind: 'damaged', offset: off, reason: 'non-zero record padding', tornTail: false };
    }
    whiten(buf, bodyStart, bodyEnd);
    if (type !== RecordType.Crc) this.crc = crc;
    this.offset = frameEnd;
    return { kind: 'record', offset: off, type, bodyStart, bodyEnd };
  }
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
