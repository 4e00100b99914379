// Data types of the revisioned key space (mirroring mvccpb.KeyValue and mvccpb.Event) and its errors.

/** mvccpb.KeyValue. A deleted key's event carries only `key` and `modRevision` (the rest zero). */
export interface KeyValue {
  key: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Buffer;
  lease: bigint;
}

/** mvccpb.Event.EventType numbers. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** mvccpb.Event. `prevKv` is filled only for watchers that asked for it. */
export interface Event {
  type: EventType;
  kv: KeyValue;
  prevKv?: KeyValue | null;
}

/** A revision: `main` is the store revision of the write, `sub` the op's position inside it. */
export interface Revision {
  main: number;
  sub: number;
}

export interface RangeOptions {
  /** 0 = no limit. */
  limit?: number;
  /** 0 = current revision. */
  rev?: number;
  /** Only count; return no kvs. */
  count?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** The revision the range was served at (the store's current revision, seen from the reader). */
  rev: number;
  /** Number of keys in the range at `rev`, before `limit`. */
  count: number;
}

/** Why an mvcc operation failed; the applier turns these into etcd's gRPC errors. */
export type MvccErrorKind =
  'compacted' | 'future-rev' | 'duplicate-watch-id' | 'empty-watcher-range' | 'too-many-watchers';

export class MvccError extends Error {
  constructor(
    readonly kind: MvccErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'MvccError';
  }
}

export const ErrCompacted = (): MvccError =>
  new MvccError('compacted', 'mvcc: required revision has been compacted');
export const ErrFutureRev = (): MvccError =>
  new MvccError('future-rev', 'mvcc: required revision is a future revision');
