// What the leader knows about one follower's log, and the flow-control state it replicates to it in.
import { Inflights } from './inflights.js';

/**
 * probe: one MsgApp per heartbeat until the follower's match is found;
 * replicate: optimistic pipelining, bounded by the inflight window;
 * snapshot: a MsgSnap is in flight, nothing else is sent until reportSnapshot.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot in flight (snapshot state). */
  pendingSnapshot = 0;
  /** Heard from within the current election timeout (check-quorum). */
  recentActive = false;
  /** In probe state: a MsgApp was sent and we wait for its answer or the next heartbeat. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // Resume after the snapshot (or from match when it failed).
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Account for a MsgApp carrying `entries` entries ending at lastIndex. */
  sentEntries(entries: number, bytes: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      // An empty append in replicate state carries only the commit index: no window slot.
    } else if (this.state === 'probe') {
      this.msgAppFlowPaused = true;
    } else {
      throw new Error(`sending append in unhandled state ${this.state}`);
    }
  }

  /** An acknowledgement up to n; false if stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the MsgApp sent after `rejected`; matchHint is the follower's suggestion of where to retry.
   * False when the rejection is stale (a reordered or duplicated answer).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // In replicate state a rejection is stale unless it is about an index beyond match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the answer to the latest probe (next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  toString(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    const n = this.inflights.len();
    if (n > 0) s += ` inflight=${n}`;
    if (this.inflights.full()) s += '[full]';
    return s;
  }
}
