// Compact binary encoding of what the WAL and snap files persist: unsigned varints (LEB128, as protobuf)
// for indexes and terms, length-prefixed UTF-8 for member ids, raw bytes for entry data.
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../raft/index.js';

/** The member and cluster a WAL belongs to; written into every segment, checked on every read. */
export interface WALMetadata {
  memberId: string;
  clusterId: string;
}

/** Bound on one id string (member ids are 16 hex digits in etcd; names in the simulator). */
export const MAX_ID_BYTES = 1024;
/** Bound on the members listed in one ConfState. */
export const MAX_MEMBERS = 10_000;

/** Thrown by the decoders; the WAL turns it into a WALCorruptError naming the file and offset. */
export class DecodeError extends Error {}

export function uvarintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  n = Math.floor(n / 0x10000000);
  while (n > 0) {
    size++;
    n = Math.floor(n / 0x80);
  }
  return size;
}

/** Writes `n` (a non-negative safe integer) at `off`; returns the offset after it. */
export function writeUvarint(buf: Uint8Array, off: number, n: number): number {
  // Division rather than shifts: JS bit operators truncate to 32 bits and indexes may pass 2^32.
  while (n >= 0x80) {
    buf[off++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[off++] = n;
  return off;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function stringSize(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  return uvarintSize(n) + n;
}

export function writeString(buf: Uint8Array, off: number, s: string): number {
  const bytes = utf8.encode(s);
  off = writeUvarint(buf, off, bytes.length);
  buf.set(bytes, off);
  return off + bytes.length;
}

/** A bounds-checked cursor over a byte range; every read past `end` is a DecodeError. */
export class ByteReader {
  constructor(
    readonly buf: Uint8Array,
    public off: number,
    readonly end: number,
  ) {}

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.off >= this.end) throw new DecodeError('truncated varint');
      const b = this.buf[this.off++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new DecodeError('varint exceeds 2^53');
        return result;
      }
      mul *= 0x80;
    }
    throw new DecodeError('varint longer than 8 bytes');
  }

  u8(): number {
    if (this.off >= this.end) throw new DecodeError('truncated byte');
    return this.buf[this.off++]!;
  }

  u32(): number {
    if (this.off + 4 > this.end) throw new DecodeError('truncated u32');
    const b = this.buf;
    const o = this.off;
    this.off += 4;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }

  string(): string {
    const n = this.uvarint();
    if (n > MAX_ID_BYTES) throw new DecodeError(`string of ${n} bytes exceeds ${MAX_ID_BYTES}`);
    if (this.off + n > this.end) throw new DecodeError('truncated string');
    let s: string;
    try {
      s = utf8Decoder.decode(this.buf.subarray(this.off, this.off + n));
    } catch {
      throw new DecodeError('string is not valid UTF-8');
    }
    this.off += n;
    return s;
  }

  /** A copy, so a decoded entry does not pin the whole segment buffer in memory. */
  rest(): Uint8Array {
    // Not buf.slice(): on a Buffer that is a view, not a copy.
    const out = new Uint8Array(this.end - this.off);
    out.set(this.buf.subarray(this.off, this.end));
    this.off = this.end;
    return out;
  }

  done(): void {
    if (this.off !== this.end) throw new DecodeError(`${this.end - this.off} unexpected trailing bytes`);
  }
}

export function checkId(what: string, s: string): void {
  if (Buffer.byteLength(s, 'utf8') > MAX_ID_BYTES)
    throw new RangeError(`${what} exceeds ${MAX_ID_BYTES} bytes`);
}

function checkUint(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
}

// ---- Entry: index, term, type, data (the rest of the record). ----

export function entrySize(e: Entry): number {
  return uvarintSize(e.index) + uvarintSize(e.term) + 1 + e.data.length;
}

export function writeEntry(buf: Uint8Array, off: number, e: Entry): number {
  checkUint('entry index', e.index);
  checkUint('entry term', e.term);
  off = writeUvarint(buf, off, e.index);
  off = writeUvarint(buf, off, e.term);
  buf[off++] = e.type;
  buf.set(e.data, off);
  return off + e.data.length;
}

export function readEntry(r: ByteReader): Entry {
  const index = r.uvarint();
  const term = r.uvarint();
  const type = r.u8() as EntryType;
  return { index, term, type, data: r.rest() };
}

// ---- HardState: term, commit, vote. ----

export function hardStateSize(h: HardState): number {
  return uvarintSize(h.term) + uvarintSize(h.commit) + stringSize(h.vote);
}

export function writeHardState(buf: Uint8Array, off: number, h: HardState): number {
  checkUint('hard state term', h.term);
  checkUint('hard state commit', h.commit);
  checkId('hard state vote', h.vote);
  off = writeUvarint(buf, off, h.term);
  off = writeUvarint(buf, off, h.commit);
  return writeString(buf, off, h.vote);
}

export function readHardState(r: ByteReader): HardState {
  const term = r.uvarint();
  const commit = r.uvarint();
  const vote = r.string();
  r.done();
  return { term, vote, commit };
}

// ---- SnapshotMetadata: index, term, voters, learners. Shared by the WAL marker and snap files. ----

export function snapshotMetadataSize(m: SnapshotMetadata): number {
  let n = uvarintSize(m.index) + uvarintSize(m.term);
  n += uvarintSize(m.confState.voters.length);
  for (const v of m.confState.voters) n += stringSize(v);
  n += uvarintSize(m.confState.learners.length);
  for (const l of m.confState.learners) n += stringSize(l);
  return n;
}

export function writeSnapshotMetadata(buf: Uint8Array, off: number, m: SnapshotMetadata): number {
  checkUint('snapshot index', m.index);
  checkUint('snapshot term', m.term);
  const { voters, learners } = m.confState;
  if (voters.length + learners.length > MAX_MEMBERS)
    throw new RangeError(`conf state exceeds ${MAX_MEMBERS} members`);
  off = writeUvarint(buf, off, m.index);
  off = writeUvarint(buf, off, m.term);
  off = writeUvarint(buf, off, voters.length);
  for (const v of voters) off = writeString(buf, off, v);
  off = writeUvarint(buf, off, learners.length);
  for (const l of learners) off = writeString(buf, off, l);
  return off;
}

function readIds(r: ByteReader): string[] {
  const n = r.uvarint();
  if (n > MAX_MEMBERS) throw new DecodeError(`conf state lists ${n} members, over ${MAX_MEMBERS}`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string());
  return out;
}

export function readSnapshotMetadata(r: ByteReader): SnapshotMetadata {
  const index = r.uvarint();
  const term = r.uvarint();
  const voters = readIds(r);
  const learners = readIds(r);
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}

export function encodeSnapshotMetadata(m: SnapshotMetadata): Uint8Array {
  const buf = new Uint8Array(snapshotMetadataSize(m));
  const end = writeSnapshotMetadata(buf, 0, m);
  if (end !== buf.length) throw new Error('snapshot metadata size mismatch');
  return buf;
}

// ---- WALMetadata: member id, cluster id. ----

export function walMetadataSize(m: WALMetadata): number {
  return stringSize(m.memberId) + stringSize(m.clusterId);
}

export function writeWALMetadata(buf: Uint8Array, off: number, m: WALMetadata): number {
  checkId('member id', m.memberId);
  checkId('cluster id', m.clusterId);
  off = writeString(buf, off, m.memberId);
  return writeString(buf, off, m.clusterId);
}

export function readWALMetadata(r: ByteReader): WALMetadata {
  const memberId = r.string();
  const clusterId = r.string();
  r.done();
  return { memberId, clusterId };
}
