// The data that Raft persists and exchanges: log entries, hard state, snapshots, membership.
// Shared with store/wal (which persists them) and store/server (which carries them between members).

/** A member's id: etcd shows it as 16 hex digits; the simulator uses short names. Never reused. */
export type NodeId = string;

export const enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to Raft; an empty payload is the no-op a new leader appends. */
  data: Uint8Array;
}

/** What must be on disk before a member sends a message or acknowledges anything. */
export interface HardState {
  term: number;
  vote: NodeId | '';
  commit: number;
}

/** The membership a snapshot was taken at. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The state machine's serialized state at metadata.index; opaque to Raft. */
  data: Uint8Array;
}

export const enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  AddLearnerNode = 2,
  /** Promote a learner to voter (etcd calls this AddNode on an existing learner). */
  PromoteLearner = 3,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft: the server puts the member's name and peer URLs here. */
  context?: Uint8Array;
}
