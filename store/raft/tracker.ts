// The leader's view of the membership: voters, learners, the Progress of each, and the votes of an election.
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  isSingleton(): boolean {
    return this.voters.size === 1 && this.learners.size === 0;
  }

  /** Ids in a stable order, so that message order (and so simulation) is deterministic. */
  ids(): readonly NodeId[] {
    // Cached: called on every heartbeat and broadcast. The progress map is edited in place (raft.ts adds and
    // deletes members), so the cache is checked against it: same size and every cached id present.
    const c = this.idsCache;
    let valid = c.length === this.progress.size;
    for (let i = 0; valid && i < c.length; i++) valid = this.progress.has(c[i]!);
    if (!valid) this.idsCache = [...this.progress.keys()].sort();
    return this.idsCache;
  }

  private idsCache: NodeId[] = [];

  newProgress(id: NodeId, next: number, isLearner: boolean): Progress {
    const pr = new Progress(next, this.maxInflight, this.maxInflightBytes, isLearner);
    // A new member counts as active so that check-quorum does not fire before it had a chance to answer.
    pr.recentActive = true;
    this.progress.set(id, pr);
    return pr;
  }

  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  quorumActive(): boolean {
    return hasQuorum(this.voters, (id) => this.progress.get(id)?.recentActive ?? false);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }
}
