// Errors the WAL, the snapshotter and the data-dir lock report: values with a code a caller can act on.

export type WALErrorCode =
  /** A record in the middle of the log (or in a completed segment) is damaged: the member must not start. */
  | 'WAL_CORRUPT'
  /** WAL.create found a WAL already there. */
  | 'WAL_EXISTS'
  /** WAL.open found no WAL (or no segment old enough to start reading at the snapshot). */
  | 'WAL_NOT_FOUND'
  /** The snapshot we were asked to start from has no marker in the WAL. */
  | 'WAL_SNAPSHOT_NOT_FOUND'
  /** The WAL has a marker at the snapshot's index but with another term. */
  | 'WAL_SNAPSHOT_MISMATCH'
  /** A write or fsync failed earlier; what is on disk is unknown, so the WAL refuses all further work. */
  | 'WAL_FAILED'
  /** Used after close(), or appended to before readAll(). */
  | 'WAL_BAD_STATE'
  /** A caller broke the contract (an entry gap, a record over the size bound, a bad id). */
  | 'WAL_INVALID_ARGUMENT';

export class WALError extends Error {
  constructor(
    readonly code: WALErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WALError';
  }
}

/** A damaged record that recovery must not skip. Names the segment file and the record's byte offset. */
export class WALCorruptError extends WALError {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super('WAL_CORRUPT', `wal: corrupt record in ${file} at byte offset ${offset}: ${reason}`);
    this.name = 'WALCorruptError';
  }
}

export type SnapshotErrorCode =
  /** No snap file matches any snapshot marker in the WAL. */
  | 'SNAP_NOT_FOUND'
  /** A snap file failed its CRC or could not be decoded. */
  | 'SNAP_CORRUPT';

export class SnapshotError extends Error {
  constructor(
    readonly code: SnapshotErrorCode,
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** Another live process holds the data dir. */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(
    readonly dir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(
      `data dir ${dir} is in use by process ${pid} (lock file ${lockFile}); ` +
        `stop that process, or remove the lock file if you are sure it is not running`,
    );
    this.name = 'DataDirLockedError';
  }
}
