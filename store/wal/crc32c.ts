// CRC-32C (Castagnoli), table-driven with slicing-by-8, used to checksum WAL records and snapshot files.
//
// The API is "update a finished CRC with more bytes" (like Go's crc32.Update), so the WAL can chain one
// record's CRC into the next (a rolling CRC) and the snapshotter can checksum a file chunk by chunk.

/** The reflected Castagnoli polynomial (iSCSI, ext4, etcd's WAL use the same one). */
const POLY = 0x82f63b78;

// Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further along, which lets
// the inner loop fold 8 input bytes per iteration instead of 1.
const TABLES = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLES[n] = c >>> 0;
}
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 8; k++) {
    const prev = TABLES[(k - 1) * 256 + n]!;
    TABLES[k * 256 + n] = (prev >>> 8) ^ TABLES[prev & 0xff]!;
  }
}
const T0 = TABLES.subarray(0, 256);
const T1 = TABLES.subarray(256, 512);
const T2 = TABLES.subarray(512, 768);
const T3 = TABLES.subarray(768, 1024);
const T4 = TABLES.subarray(1024, 1280);
const T5 = TABLES.subarray(1280, 1536);
const T6 = TABLES.subarray(1536, 1792);
const T7 = TABLES.subarray(1792, 2048);

/**
 * Returns the CRC-32C of `crc`'s input followed by `buf[start, end)`. Pass 0 to start a new checksum.
 * crc32c(crc32c(0, a), b) === crc32c(0, a ++ b).
 */
export function crc32c(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = ~crc >>> 0;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const lo = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[hi & 0xff]! ^
      T2[(hi >>> 8) & 0xff]! ^
      T1[(hi >>> 16) & 0xff]! ^
      T0[hi >>> 24]!;
    i += 8;
  }
  while (i < end) c = (c >>> 8) ^ T0[(c ^ buf[i++]!) & 0xff]!;
  return ~c >>> 0;
}

/**
 * Scans `buf[start, end)` for the shortest prefix whose CRC (continuing `crc`) equals `target`; returns the
 * end offset of that prefix, or -1. Recovery uses it to tell a damaged length field (the record's stored
 * CRC matches a shorter body that really is in the file) from a record torn off by a crash.
 */
export function crc32cFindPrefix(
  crc: number,
  buf: Uint8Array,
  start: number,
  end: number,
  target: number,
): number {
  let c = ~crc >>> 0;
  const want = ~target >>> 0;
  for (let i = start; i < end; i++) {
    c = (c >>> 8) ^ T0[(c ^ buf[i]!) & 0xff]!;
    if (c >>> 0 === want) return i + 1;
  }
  return -1;
}
