// How a ConfChange travels inside a log entry's data, and the membership rules applied when it is applied.
import type { ConfChange, ConfState, NodeId } from './types.js';
import { ConfChangeType } from './types.js';

const KINDS: Record<number, string> = {
  [ConfChangeType.AddNode]: 'AddNode',
  [ConfChangeType.RemoveNode]: 'RemoveNode',
  [ConfChangeType.AddLearnerNode]: 'AddLearnerNode',
  [ConfChangeType.PromoteLearner]: 'PromoteLearner',
};

export function confChangeTypeName(t: ConfChangeType): string {
  return KINDS[t] ?? `ConfChangeType(${t})`;
}

/** JSON keeps the entry readable in a WAL dump; the context travels as base64. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const obj: Record<string, unknown> = { type: cc.type, nodeId: cc.nodeId };
  if (cc.context && cc.context.byteLength > 0) obj['context'] = Buffer.from(cc.context).toString('base64');
  return new TextEncoder().encode(JSON.stringify(obj));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const obj = JSON.parse(new TextDecoder().decode(data)) as {
    type: unknown;
    nodeId: unknown;
    context?: unknown;
  };
  if (
    typeof obj.type !== 'number' ||
    !(obj.type in KINDS) ||
    typeof obj.nodeId !== 'string' ||
    obj.nodeId === ''
  ) {
    throw new Error(`raft: malformed conf change entry: ${new TextDecoder().decode(data)}`);
  }
  const cc: ConfChange = { type: obj.type as ConfChangeType, nodeId: obj.nodeId };
  if (typeof obj.context === 'string') cc.context = new Uint8Array(Buffer.from(obj.context, 'base64'));
  return cc;
}

/**
 * The membership after one change, or an error string when the change is invalid (then it is a no-op on every
 * member alike, since every member applies the same entry). Only one server changes per step, so any majority
 * of the old voters intersects any majority of the new ones.
 */
export function applyToConfState(cs: ConfState, cc: ConfChange): { cs: ConfState; error?: string } {
  const voters = new Set<NodeId>(cs.voters);
  const learners = new Set<NodeId>(cs.learners);
  const id = cc.nodeId;
  switch (cc.type) {
    case ConfChangeType.AddNode:
      if (voters.has(id)) return { cs, error: `${id} is already a voter` };
      // etcd treats AddNode on a learner as a promotion.
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.PromoteLearner:
      if (!learners.has(id)) return { cs, error: `${id} is not a learner` };
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.AddLearnerNode:
      if (voters.has(id))
        return { cs, error: `${id} is a voter; remove it before adding it back as a learner` };
      if (learners.has(id)) return { cs, error: `${id} is already a learner` };
      learners.add(id);
      break;
    case ConfChangeType.RemoveNode:
      if (!voters.has(id) && !learners.has(id)) return { cs, error: `${id} is not a member` };
      voters.delete(id);
      learners.delete(id);
      if (voters.size === 0) return { cs, error: `removing ${id} would leave no voters` };
      break;
    default:
      return { cs, error: `unknown conf change type ${String(cc.type)}` };
  }
  return { cs: { voters: [...voters].sort(), learners: [...learners].sort() } };
}
