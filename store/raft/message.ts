// The messages Raft members exchange, plus the local kinds the caller feeds into step(); plain data only.
import type { Entry, NodeId, Snapshot } from './types.js';

export type MessageType =
  // local: a tick asking for an election / a heartbeat round / a quorum check
  | 'MsgHup'
  | 'MsgBeat'
  | 'MsgCheckQuorum'
  // local: transport feedback
  | 'MsgUnreachable'
  | 'MsgSnapStatus'
  // between members
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgSnap'
  | 'MsgTransferLeader'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp';

/** Every field is always present (empty when unused) so that a wire codec never has to guess. */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /** MsgApp: term of the entry at `index`; MsgVote: candidate's last term; reject MsgAppResp: hint term. */
  logTerm: number;
  /** MsgApp: index preceding `entries`; MsgAppResp: last index matched (or rejected probe index). */
  index: number;
  entries: Entry[];
  commit: number;
  /** Only on MsgSnap. */
  snapshot?: Snapshot;
  reject: boolean;
  rejectHint: number;
  /** ReadIndex request context, or "transfer" on a vote forced by leadership transfer. */
  context: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * A message with every field defaulted: callers and tests only spell out what matters. Built as one literal of
 * a fixed shape (snapshot added only on MsgSnap) so that the hot paths stay monomorphic.
 */
export function newMessage(m: Partial<Message> & { type: MessageType }): Message {
  const msg: Message = {
    type: m.type,
    to: m.to ?? '',
    from: m.from ?? '',
    term: m.term ?? 0,
    logTerm: m.logTerm ?? 0,
    index: m.index ?? 0,
    entries: m.entries ?? [],
    commit: m.commit ?? 0,
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0,
    context: m.context ?? EMPTY,
  };
  if (m.snapshot) msg.snapshot = m.snapshot;
  return msg;
}

/** Local messages never cross the network. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === 'MsgHup' ||
    t === 'MsgBeat' ||
    t === 'MsgCheckQuorum' ||
    t === 'MsgUnreachable' ||
    t === 'MsgSnapStatus'
  );
}

/** Responses: a member must not treat them as a sign of a live leader. */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === 'MsgAppResp' ||
    t === 'MsgVoteResp' ||
    t === 'MsgPreVoteResp' ||
    t === 'MsgHeartbeatResp' ||
    t === 'MsgReadIndexResp' ||
    t === 'MsgUnreachable' ||
    t === 'MsgSnapStatus'
  );
}

export function voteRespType(t: MessageType): MessageType {
  if (t === 'MsgVote') return 'MsgVoteResp';
  if (t === 'MsgPreVote') return 'MsgPreVoteResp';
  throw new Error(`not a vote message: ${t}`);
}
