// Public surface of the Raft consensus core.
export * from './types.js';
export { newMessage, isLocalMessage, isResponseMessage, type Message, type MessageType } from './message.js';
export {
  RaftError,
  ErrProposalDropped,
  ErrCompacted,
  ErrSnapOutOfDate,
  ErrUnavailable,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  type RaftErrorCode,
} from './errors.js';
export { MemoryStorage, emptySnapshot, isEmptySnapshot, type Storage, type InitialState } from './storage.js';
export { type Config, type ReadState, type Role, type LogLevel } from './raft.js';
export {
  RawNode,
  type RawNodeConfig,
  type Ready,
  type SoftState,
  type Status,
  type ProgressStatus,
} from './rawnode.js';
export { encodeConfChange, decodeConfChange, confChangeTypeName } from './confchange.js';
