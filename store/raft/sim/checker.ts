// The safety properties the simulator checks after every step, across every member's state.
import type { Entry, NodeId } from '../types.js';

export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

/** Same kind and same bytes: entries are compared by content, without building keys (this runs per entry). */
function sameContent(type: number, data: Uint8Array, e: Entry): boolean {
  if (type !== e.type) return false;
  const d = e.data;
  if (d === data) return true;
  if (d.length !== data.length) return false;
  for (let i = 0; i < d.length; i++) if (d[i] !== data[i]) return false;
  return true;
}

interface Seen {
  type: number;
  data: Uint8Array;
}

interface LogRecord extends Seen {
  term: number;
  prevTerm: number;
}

/** The per-index tables are arrays indexed by log index (dense: every index is persisted by some leader). */

/**
 * Remembers what every member ever persisted, committed and applied, and fails on the first contradiction:
 * - election safety: at most one leader per term;
 * - log matching: entries with the same index and term hold the same data and the same predecessor term;
 * - state machine safety: one committed term per index, one applied entry per index, on every member;
 * - leader completeness: a new leader's log holds every entry known committed (that it has not compacted).
 */
export class Checker {
  private readonly leaders = new Map<number, NodeId>();
  /** index -> for each term seen there, the entry's content and the term of the entry before it. */
  private readonly logEntries: (LogRecord[] | undefined)[] = [];
  /**
   * index -> term of the committed entry there, and the lowest term in which a member was seen to know it
   * committed (an upper bound of the term it was committed in).
   */
  readonly committedTerms: ({ term: number; knownAtTerm: number } | undefined)[] = [];
  maxCommitted = 0;
  /** index -> the entry applied there (by whoever applied it first). */
  private readonly applied: ((Seen & { term: number }) | undefined)[] = [];
  elections = 0;

  leader(term: number, id: NodeId): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, id);
      this.elections++;
      return;
    }
    if (prev !== id)
      throw new InvariantViolation(`election safety: two leaders in term ${term}: ${prev} and ${id}`);
  }

  /** Entries a member is about to persist; prevTermOf gives the term its log holds before each. */
  persisted(id: NodeId, ents: Entry[], prevTermOf: (index: number) => number | undefined): void {
    for (const e of ents) {
      const prevTerm = prevTermOf(e.index - 1);
      let recs = this.logEntries[e.index];
      let seen: LogRecord | undefined;
      if (recs) for (let i = 0; i < recs.length && !seen; i++) if (recs[i]!.term === e.term) seen = recs[i];
      if (!seen) {
        if (prevTerm !== undefined) {
          if (!recs) recs = this.logEntries[e.index] = [];
          recs.push({ term: e.term, type: e.type, data: e.data, prevTerm });
        }
        continue;
      }
      if (!sameContent(seen.type, seen.data, e)) {
        throw new InvariantViolation(
          `log matching: ${id} holds a different entry at index ${e.index} term ${e.term}`,
        );
      }
      if (prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          `log matching: ${id} entry ${e.index}@${e.term} follows term ${prevTerm}, another member's follows ${seen.prevTerm}`,
        );
      }
    }
  }

  /** A member's commit index moved to `commit`; termOf reads its log. */
  committed(
    id: NodeId,
    nodeTerm: number,
    from: number,
    commit: number,
    termOf: (index: number) => number | undefined,
  ): void {
    for (let i = from + 1; i <= commit; i++) {
      const t = termOf(i);
      if (t === undefined) continue; // compacted: it was checked when it was committed
      const known = this.committedTerms[i];
      if (known === undefined) this.committedTerms[i] = { term: t, knownAtTerm: nodeTerm };
      else if (known.term === t) known.knownAtTerm = Math.min(known.knownAtTerm, nodeTerm);
      else {
        throw new InvariantViolation(
          `state machine safety: ${id} committed term ${t} at index ${i}, another member term ${known.term}`,
        );
      }
    }
    if (commit > this.maxCommitted) this.maxCommitted = commit;
  }

  appliedEntry(id: NodeId, e: Entry): void {
    const prev = this.applied[e.index];
    if (prev === undefined) this.applied[e.index] = { term: e.term, type: e.type, data: e.data };
    else if (prev.term !== e.term || !sameContent(prev.type, prev.data, e)) {
      throw new InvariantViolation(
        `applied sequences diverge: ${id} applied a different entry at index ${e.index}`,
      );
    }
  }

  /**
   * A member became leader of `term`: it must hold every entry committed in an earlier term (from its first
   * index on). A stale leader of a lower term may legitimately lack entries committed later.
   */
  leaderCompleteness(
    id: NodeId,
    term: number,
    firstIndex: number,
    termOf: (index: number) => number | undefined,
  ): void {
    for (let i = Math.max(firstIndex, 1); i <= this.maxCommitted; i++) {
      const want = this.committedTerms[i];
      if (want === undefined || want.knownAtTerm >= term) continue;
      const got = termOf(i);
      if (got !== want.term) {
        throw new InvariantViolation(
          `leader completeness: new leader ${id} of term ${term} has term ${String(got)} at index ${i}, committed with term ${want.term} by term ${want.knownAtTerm}`,
        );
      }
    }
  }
}
