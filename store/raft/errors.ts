// Errors the Raft core returns as values, each with a code the caller can act on.

export type RaftErrorCode =
  | 'ProposalDropped'
  | 'Compacted'
  | 'SnapOutOfDate'
  | 'Unavailable'
  | 'SnapshotTemporarilyUnavailable'
  | 'StepLocalMsg'
  | 'StepPeerNotFound';

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}

/** The proposal was not appended: no leader known, a leadership transfer is in progress, a membership change is
 * already pending, or the uncommitted tail is full. Retrying later may succeed. */
export const ErrProposalDropped = new RaftError('ProposalDropped', 'raft proposal dropped');
/** The requested index is before the first index kept in storage (compacted into a snapshot). */
export const ErrCompacted = new RaftError('Compacted', 'requested index is unavailable due to compaction');
/** The snapshot offered is older than the one already in storage. */
export const ErrSnapOutOfDate = new RaftError(
  'SnapOutOfDate',
  'requested index is older than the existing snapshot',
);
/** The requested entries are beyond the last index in storage. */
export const ErrUnavailable = new RaftError('Unavailable', 'requested entry at index is unavailable');
/** The storage is building a snapshot; the leader retries later. */
export const ErrSnapshotTemporarilyUnavailable = new RaftError(
  'SnapshotTemporarilyUnavailable',
  'snapshot is temporarily unavailable',
);
export const ErrStepLocalMsg = new RaftError('StepLocalMsg', 'raft: cannot step raft local message');
export const ErrStepPeerNotFound = new RaftError('StepPeerNotFound', 'raft: cannot step as peer not found');
