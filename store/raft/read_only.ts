// ReadIndex bookkeeping on the leader: read requests waiting for a heartbeat quorum to confirm leadership.
import type { Message } from './message.js';
import type { NodeId } from './types.js';

export interface ReadIndexStatus {
  /** The original MsgReadIndex (from a follower, or local with from === ''). */
  req: Message;
  /** The commit index when the request arrived: the read is served once applied reaches it. */
  index: number;
  acks: Set<NodeId>;
}

/** Contexts are bytes on the wire; a string key lets us index them. */
export function ctxKey(ctx: Uint8Array): string {
  return Buffer.from(ctx).toString('base64');
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly maxPending: number) {}

  size(): number {
    return this.queue.length;
  }

  /** False if the queue is full (the request is dropped; the client retries). */
  addRequest(index: number, m: Message): boolean {
    const key = ctxKey(m.context);
    if (this.pending.has(key)) return true;
    if (this.queue.length >= this.maxPending) return false;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Record a heartbeat answer carrying ctx; returns the acks so far (undefined for an unknown ctx). */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(ctxKey(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Requests up to and including ctx are confirmed: a heartbeat round that confirms a later request also
   * confirms every earlier one, since the leader was still leader when it sent it.
   */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = ctxKey(ctx);
    const i = this.queue.indexOf(key);
    if (i < 0) return [];
    const done = this.queue.slice(0, i + 1);
    this.queue = this.queue.slice(i + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.context;
  }
}
