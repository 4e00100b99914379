// Public surface of the peer transport: Raft messages, snapshots and forwarded calls between members.
export {
  PeerTransport,
  PeerCallError,
  fetchMembership,
  MAX_MESSAGE_FRAME,
  MAX_QUEUED_BYTES,
  SNAPSHOT_CHUNK,
  type Hello,
  type PeerHandler,
  type Purpose,
} from './transport.js';
export { encodeMessage, decodeMessage, CodecError } from './codec.js';
export { encodeFrame, FrameReader, FrameKind, FrameError } from './framing.js';
