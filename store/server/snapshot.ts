// The bytes of a Raft snapshot of this server: membership + the state machine's snapshot, framed so a
// reader can tell a truncated or foreign file from a good one (the snap file adds its own CRC).
import type { Membership } from './members.js';

const MAGIC = Buffer.from('EKLSNAP1');

export function encodeSnapshotData(membership: Membership, stateMachine: Uint8Array): Buffer {
  const meta = Buffer.from(JSON.stringify(membership.toJSON()));
  const head = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(meta.length, MAGIC.length);
  return Buffer.concat([head, meta, stateMachine]);
}

export function decodeSnapshotData(data: Uint8Array): { membership: unknown; stateMachine: Buffer } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < MAGIC.length + 4 || !b.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('snapshot data is not a store snapshot (bad magic)');
  }
  const n = b.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (start + n > b.length) throw new Error('snapshot data is truncated');
  return {
    membership: JSON.parse(b.subarray(start, start + n).toString('utf8')),
    stateMachine: b.subarray(start + n),
  };
}

/**
 * The backup format this store streamed before it wrote etcd's own (store/backup/): the length, the snapshot
 * data, zero padding to a multiple of 512 bytes, then the sha256. Restore still reads it (decodeBackup).
 */
export function encodeBackup(data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64BE(BigInt(data.length));
  const len = head.length + data.length;
  const pad = (512 - (len % 512)) % 512;
  return Buffer.concat([head, data, Buffer.alloc(pad)]);
}

export function decodeBackup(file: Buffer): Buffer {
  if (file.length < 8 + 32) throw new Error('backup file is too short');
  const n = Number(file.readBigUInt64BE(0));
  if (8 + n > file.length - 32) throw new Error('backup file is truncated');
  return file.subarray(8, 8 + n);
}
