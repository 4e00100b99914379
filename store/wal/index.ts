// Public surface of the write-ahead log, snap files and data-dir lock: what a store node persists.
export {
  WAL,
  DEFAULT_SEGMENT_SIZE_BYTES,
  DEFAULT_MAX_BUFFERED_BYTES,
  segmentName,
  parseSegmentName,
  silentLogger,
  type WALOptions,
  type WALLogger,
  type WALReadResult,
  type WALSnapshot,
} from './wal.js';
export type { WALMetadata } from './encoding.js';
export { Snapshotter, snapName, DEFAULT_SNAPSHOTS_KEPT } from './snapshotter.js';
export { lockDataDir, LOCK_FILE, type DataDirLock } from './lock.js';
export {
  WALError,
  WALCorruptError,
  SnapshotError,
  DataDirLockedError,
  type WALErrorCode,
  type SnapshotErrorCode,
} from './errors.js';
export { crc32c } from './crc32c.js';

import { join } from 'node:path';

/** etcd's layout under --data-dir. */
export function walDir(dataDir: string): string {
  return join(dataDir, 'member', 'wal');
}

export function snapDir(dataDir: string): string {
  return join(dataDir, 'member', 'snap');
}
