// The Storage interface the Raft log reads from, and MemoryStorage, an in-memory implementation of it.
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from './errors.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { EntryType } from './types.js';
import { entrySize, fail } from './util.js';

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/** What Raft needs from stable storage. Methods throw ErrCompacted / ErrUnavailable (RaftError values). */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at most maxSize bytes but at least one entry if any. */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}

export function emptySnapshot(): Snapshot {
  return {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(0),
  };
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return !s || s.metadata.index === 0;
}

/**
 * Storage held in memory, as etcd's MemoryStorage: ents[0] is a dummy entry standing for the snapshot
 * (its index and term), so term(snapshot index) still answers after compaction.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: '', commit: 0 };
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }];

  /** confState: a membership for the empty log (tests build clusters this way instead of bootstrapping). */
  constructor(confState?: ConfState) {
    if (confState)
      this.snap.metadata.confState = { voters: [...confState.voters], learners: [...confState.learners] };
  }

  initialState(): InitialState {
    const cs = this.snap.metadata.confState;
    return {
      hardState: { ...this.hardState },
      confState: { voters: [...cs.voters], learners: [...cs.learners] },
    };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw ErrCompacted;
    if (hi > this.lastIndex() + 1) throw ErrUnavailable;
    if (this.ents.length === 1) throw ErrUnavailable; // only the dummy entry
    // Copy only the prefix that fits (at least one entry, as limitSize): slicing up to hi first would make
    // every append to a lagging follower cost the length of the whole log behind it.
    const start = lo - offset;
    const stop = hi - offset;
    if (stop <= start) return [];
    let end = start + 1;
    let size = entrySize(this.ents[start]!);
    for (; end < stop; end++) {
      size += entrySize(this.ents[end]!);
      if (size > maxSize) break;
    }
    return this.ents.slice(start, end);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw ErrCompacted;
    if (i - offset >= this.ents.length) throw ErrUnavailable;
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the whole contents with a snapshot received from the leader. */
  applySnapshot(s: Snapshot): void {
    if (this.snap.metadata.index >= s.metadata.index) throw ErrSnapOutOfDate;
    this.snap = s;
    this.ents = [
      { term: s.metadata.term, index: s.metadata.index, type: EntryType.Normal, data: new Uint8Array(0) },
    ];
  }

  /** Record a snapshot of the state machine at applied index i (≤ lastIndex); compact separately. */
  createSnapshot(i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw ErrSnapOutOfDate;
    const offset = this.ents[0]!.index;
    if (i > this.lastIndex()) fail(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const confState = cs ?? this.snap.metadata.confState;
    this.snap = {
      metadata: {
        index: i,
        term: this.ents[i - offset]!.term,
        confState: { voters: [...confState.voters], learners: [...confState.learners] },
      },
      data,
    };
    return this.snap;
  }

  /** Discard entries before compactIndex; the entry at compactIndex becomes the dummy. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw ErrCompacted;
    if (compactIndex > this.lastIndex())
      fail(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const dummy = this.ents[i]!;
    const head: Entry = {
      term: dummy.term,
      index: dummy.index,
      type: EntryType.Normal,
      data: new Uint8Array(0),
    };
    this.ents = [head].concat(this.ents.slice(i + 1));
  }

  /** Append entries; an entry at index i replaces every stored entry from i on (a conflicting suffix). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    let ents = entries as Entry[];
    if (first > entries[0]!.index) ents = ents.slice(first - entries[0]!.index);
    const offset = ents[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new Error(`raft: missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`);
    }
    // In place: copying the whole log on every append would make appends O(log length).
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of ents) this.ents.push(e);
  }
}
