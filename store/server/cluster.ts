// Cluster membership changes as the server applies them: the context a member change carries through Raft,
// how an applied ConfChange updates the Membership, the readiness checks etcd makes before a change, and
// etcd's errors for them.
import { status } from '@grpc/grpc-js';
import { RpcError, type MemberInfo } from '../api/index.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from '../raft/index.js';
import type { Member, Membership } from './members.js';

export const ClusterErrors = {
  notLeader: () => new RpcError(status.FAILED_PRECONDITION, 'etcdserver: not leader'),
  learnerNotReady: () =>
    new RpcError(
      status.FAILED_PRECONDITION,
      'etcdserver: can only promote a learner member which is in sync with leader',
    ),
  tooManyLearners: () =>
    new RpcError(status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  unhealthy: () => new RpcError(status.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  memberIdExists: () => new RpcError(status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  leaderTransferTimeout: () =>
    new RpcError(status.UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'),
  /** etcd's ErrGPRCNotSupportedForLearner. */
  notSupportedForLearner: () => new RpcError(status.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  removed: () =>
    new RpcError(status.UNAVAILABLE, 'etcdserver: the member has been permanently removed from the cluster'),
};

/** etcd promotes a learner only once its log reaches this share of the leader's. */
export const LEARNER_READY_PERCENT = 0.9;
/** etcd allows one learner at a time. */
export const MAX_LEARNERS = 1;

export type MemberOp = 'add' | 'remove' | 'promote' | 'update';

/** What a member ConfChange carries besides Raft's own fields. */
export interface MemberContext {
  op: MemberOp;
  id: string;
  name: string;
  peerURLs: string[];
  isLearner: boolean;
  /** Lets the proposer find its change when it is applied. */
  req: string;
}

export function encodeMemberContext(c: MemberContext): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify(c)));
}

export function decodeMemberContext(b: Uint8Array | undefined): MemberContext | undefined {
  if (!b || b.byteLength === 0) return undefined;
  const o = JSON.parse(Buffer.from(b).toString('utf8')) as MemberContext;
  if (typeof o.op !== 'string' || typeof o.id !== 'string') {
    throw new Error(`malformed member change context: ${Buffer.from(b).toString('utf8')}`);
  }
  return o;
}

/**
 * The Raft change for a member operation. MemberUpdate has no Raft effect: AddLearnerNode on an existing
 * member is refused by Raft's membership rules on every member alike (a no-op), and the context carries
 * the new peer URLs to the membership.
 */
export function confChangeFor(c: MemberContext, nodeId: NodeId): ConfChange {
  const type =
    c.op === 'add'
      ? c.isLearner
        ? ConfChangeType.AddLearnerNode
        : ConfChangeType.AddNode
      : c.op === 'remove'
        ? ConfChangeType.RemoveNode
        : c.op === 'promote'
          ? ConfChangeType.PromoteLearner
          : ConfChangeType.AddLearnerNode;
  return { type, nodeId, context: encodeMemberContext(c) };
}

/**
 * Applies an applied member change to the membership, judged by the ConfState Raft reached, so that the
 * membership and Raft's configuration never disagree. Returns what changed for the transport.
 */
export function applyMemberChange(
  m: Membership,
  c: MemberContext,
  cs: ConfState,
  nodeId: NodeId,
): { added?: Member; removed?: bigint; updated?: Member } {
  const id = BigInt('0x' + c.id);
  const isVoter = cs.voters.includes(nodeId);
  const isLearner = cs.learners.includes(nodeId);
  const cur = m.members.get(id);
  switch (c.op) {
    case 'add':
      // Raft would take a removed id back (its ConfState forgets removals); the membership never does, and
      // MemberAdd never proposes one (a new id hashes the current time).
      if ((isVoter || isLearner) && !cur && !m.removed.has(id)) {
        const added: Member = {
          id,
          name: c.name,
          peerURLs: [...c.peerURLs].sort(),
          clientURLs: [],
          isLearner,
        };
        m.members.set(id, added);
        return { added };
      }
      return {};
    case 'promote':
      if (cur && isVoter) cur.isLearner = false;
      return {};
    case 'remove':
      if (cur && !isVoter && !isLearner) {
        m.members.delete(id);
        m.removed.add(id);
        return { removed: id };
      }
      return {};
    case 'update':
      if (cur) {
        cur.peerURLs = [...c.peerURLs].sort();
        return { updated: cur };
      }
      return {};
  }
}

export function memberToJSON(m: MemberInfo): Record<string, unknown> {
  return { ...m, id: m.id.toString(16) };
}

export function memberFromJSON(o: Record<string, unknown>): MemberInfo {
  return {
    id: BigInt('0x' + String(o['id'])),
    name: String(o['name'] ?? ''),
    peerURLs: (o['peerURLs'] as string[]) ?? [],
    clientURLs: (o['clientURLs'] as string[]) ?? [],
    isLearner: !!o['isLearner'],
  };
}

/** Raft's configuration after one more ConfChange, as Raft applies it (MemberUpdate's AddLearnerNode on a voter is a no-op). */
export function nextConfState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const id = cc.nodeId;
  switch (cc.type) {
    case ConfChangeType.AddNode:
    case ConfChangeType.PromoteLearner:
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.AddLearnerNode:
      if (!voters.has(id)) learners.add(id);
      break;
    case ConfChangeType.RemoveNode:
      voters.delete(id);
      learners.delete(id);
      break;
  }
  return { voters: [...voters], learners: [...learners] };
}

/**
 * etcd's --force-new-cluster: the ConfChanges that leave `self` the only member of `cs` (the configuration
 * at the last committed entry), one removal per other member, with the contexts MemberRemove would give them.
 */
export function forceNewClusterChanges(self: NodeId, cs: ConfState, m: Membership): ConfChange[] {
  const out: ConfChange[] = [];
  for (const id of [...cs.voters, ...cs.learners].sort()) {
    if (id === self) continue;
    const member = m.members.get(BigInt('0x' + id));
    const ctx: MemberContext = {
      op: 'remove',
      id,
      name: member?.name ?? '',
      peerURLs: member ? [...member.peerURLs] : [],
      isLearner: cs.learners.includes(id),
      req: `force-new-cluster/${id}`,
    };
    out.push(confChangeFor(ctx, id));
  }
  return out;
}
