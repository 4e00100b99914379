// How etcd 3.4 stores a version in its backend (bbolt's "key" bucket), which is also what its HashKV hashes
// and what its backups hold: the key is the revision (main and sub as 8-byte big-endian integers around a
// '_', plus a 't' for a tombstone), the value an mvccpb.KeyValue (proto3: zero fields left out; a
// tombstone's holds only the key).
import { writeUvarint } from '../wal/encoding.js';
import type { KeyValue } from './types.js';

/** The 17-byte revision key (18 with the tombstone mark). */
export function revisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const out = Buffer.allocUnsafe(tombstone ? 18 : 17);
  writeRevision(out, 0, main, sub, tombstone);
  return out;
}

/** Writes a revision key at `o`; returns the offset after it. */
function writeRevision(out: Buffer, o: number, main: number, sub: number, tombstone: boolean): number {
  out.writeUInt32BE(Math.floor(main / 2 ** 32), o);
  out.writeUInt32BE(main >>> 0, o + 4);
  out[o + 8] = 0x5f; // '_'
  out.writeUInt32BE(Math.floor(sub / 2 ** 32), o + 9);
  out.writeUInt32BE(sub >>> 0, o + 13);
  if (!tombstone) return o + 17;
  out[o + 17] = 0x74; // 't'
  return o + 18;
}

/**
 * Writes a version as etcd's backend holds it, revision key then KeyValue (what etcd's HashKV hashes), at
 * `o` in `out`, which must have storedVersionSize(kv) bytes from there; returns the offset after it.
 */
export function writeStoredVersion(out: Buffer, o: number, kv: KeyValue, sub: number): number {
  o = writeRevision(out, o, kv.modRevision, sub, kv.version === 0);
  return writeKeyValue(out, o, kv);
}

/** An upper bound of writeStoredVersion's bytes. */
export function storedVersionSize(kv: KeyValue): number {
  return 18 + kvSizeBound(kv);
}

export function parseRevisionKey(k: Buffer): { main: number; sub: number; tombstone: boolean } {
  if ((k.length !== 17 && k.length !== 18) || k[8] !== 0x5f || (k.length === 18 && k[17] !== 0x74))
    throw new Error(`not an etcd revision key (${k.toString('hex')})`);
  return {
    main: Number(k.readBigUInt64BE(0)),
    sub: Number(k.readBigUInt64BE(9)),
    tombstone: k.length === 18,
  };
}

/** The stored value of a version: mvccpb.KeyValue {key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6}. */
export function encodeStoredKeyValue(kv: KeyValue): Buffer {
  const out = Buffer.allocUnsafe(kvSizeBound(kv));
  return out.subarray(0, writeKeyValue(out, 0, kv));
}

/** Room for a KeyValue: each varint at most 10 bytes (a 64-bit value), one byte per tag. */
function kvSizeBound(kv: KeyValue): number {
  return 11 + kv.key.length + 44 + 11 + kv.value.length;
}

function writeKeyValue(out: Buffer, o: number, kv: KeyValue): number {
  out[o++] = (1 << 3) | 2;
  o = writeUvarint(out, o, kv.key.length);
  o += kv.key.copy(out, o);
  if (kv.version === 0) return o; // a tombstone holds only its key
  if (kv.createRevision) {
    out[o++] = 2 << 3;
    o = writeUvarint(out, o, kv.createRevision);
  }
  if (kv.modRevision) {
    out[o++] = 3 << 3;
    o = writeUvarint(out, o, kv.modRevision);
  }
  out[o++] = 4 << 3;
  o = writeUvarint(out, o, kv.version);
  if (kv.value.length) {
    out[o++] = (5 << 3) | 2;
    o = writeUvarint(out, o, kv.value.length);
    o += kv.value.copy(out, o);
  }
  if (kv.lease) {
    out[o++] = 6 << 3;
    o = putVarint64(out, o, kv.lease);
  }
  return o;
}

/** One varint field (number 1-15) of a protobuf message, as proto3 writes it: nothing for zero. */
export function varintField(field: number, v: bigint): Buffer {
  if (v === 0n) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(11);
  out[0] = field << 3;
  return out.subarray(0, putVarint64(out, 1, v));
}

/** One length-delimited field (bytes, string or message; number 1-15): nothing for an empty one, as proto3. */
export function bytesField(field: number, v: Uint8Array): Buffer {
  if (v.length === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(11 + v.length);
  out[0] = (field << 3) | 2;
  const o = writeUvarint(out, 1, v.length);
  out.set(v, o);
  return out.subarray(0, o + v.length);
}

/** Writes a 64-bit integer as a varint at `o` (a negative one in ten bytes, as Go writes int64). */
function putVarint64(out: Buffer, o: number, v: bigint): number {
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out[o++] = Number(x & 0x7fn) | 0x80;
    x >>= 7n;
  }
  out[o++] = Number(x);
  return o;
}
