// RawNode: the caller-facing wrapper around Raft that batches its output into Ready and tracks acknowledgement.
import { encodeConfChange } from './confchange.js';
import { ErrStepLocalMsg, ErrStepPeerNotFound, RaftError } from './errors.js';
import { isLocalMessage, isResponseMessage, newMessage, type Message } from './message.js';
import { Raft, type Config, type ReadState, type Role } from './raft.js';
import type { ConfChange, ConfState, Entry, HardState, NodeId, Snapshot } from './types.js';
import { ConfChangeType, EntryType } from './types.js';
import { assert } from './util.js';

export interface SoftState {
  lead: NodeId | '';
  role: Role;
}

/**
 * What the caller must do, in order: persist `snapshot`, `entries` and `hardState` (fsync when mustSync);
 * then send `messages`; apply `snapshot` and `committedEntries` (calling applyConfChange for conf changes);
 * serve `readStates` once applied reaches their index; then call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  isLearner: boolean;
  recentActive: boolean;
  pendingSnapshot: number;
  inflight: number;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId | '';
  lead: NodeId | '';
  role: Role;
  commit: number;
  applied: number;
  lastIndex: number;
  leadTransferee: NodeId | '';
  voters: NodeId[];
  learners: NodeId[];
  /** Only on the leader. */
  progress: Record<NodeId, ProgressStatus>;
}

export interface RawNodeConfig extends Config {
  /** Bootstrap a new cluster with these voters (storage must be empty). Omit when restarting or joining. */
  peers?: NodeId[];
  /** Bootstrap learners, alongside peers. */
  learners?: NodeId[];
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** What advance() acknowledges; one fixed shape (0 = none), as it is made on every Ready. */
interface Pending {
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  committedEntries: Entry[];
}

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private pending: Pending | undefined;

  constructor(config: RawNodeConfig) {
    this.raft = new Raft(config);
    const peers = config.peers ?? [];
    const learners = config.learners ?? [];
    if (peers.length > 0 || learners.length > 0) this.bootstrap(config, peers, learners);
    this.prevSoftState = this.softState();
    // What storage holds is, by definition, already persisted.
    this.prevHardState = config.storage.initialState().hardState;
  }

  /**
   * Start a new cluster the way etcd does: the first entries of every member's log are the conf changes that
   * add the initial members, committed at term 1, so that a member restarting from its log rebuilds them.
   */
  private bootstrap(config: RawNodeConfig, peers: NodeId[], learners: NodeId[]): void {
    const storage = config.storage;
    if (storage.lastIndex() !== 0)
      throw new Error('raft: cannot bootstrap a member whose storage is not empty');
    const r = this.raft;
    r.becomeFollower(1, '');
    const changes: ConfChange[] = [
      ...peers.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
      ...learners.map((nodeId) => ({ type: ConfChangeType.AddLearnerNode, nodeId })),
    ];
    const ents: Entry[] = changes.map((cc, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    }));
    r.log.append(ents);
    r.log.committed = ents.length;
    for (const cc of changes) r.applyConfChange(cc);
  }

  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (tests, or a member that knows it should lead). */
  campaign(): RaftError | undefined {
    return this.raft.step(newMessage({ type: 'MsgHup' }));
  }

  propose(data: Uint8Array): RaftError | undefined {
    return this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
      }),
    );
  }

  /** Propose several entries in one message: they are appended (and replicated) as one batch. */
  proposeBatch(datas: Uint8Array[]): RaftError | undefined {
    if (datas.length === 0) return undefined;
    return this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data })),
      }),
    );
  }

  proposeConfChange(cc: ConfChange): RaftError | undefined {
    return this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }],
      }),
    );
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Feed a message received from a peer. */
  step(m: Message): RaftError | undefined {
    if (isLocalMessage(m.type)) return ErrStepLocalMsg;
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from) && this.raft.role === 'leader') {
      return ErrStepPeerNotFound;
    }
    return this.raft.step(m);
  }

  /** Ask for a linearizable read point; the answer arrives as a ReadState carrying ctx. */
  readIndex(ctx: Uint8Array): RaftError | undefined {
    return this.raft.step(newMessage({ type: 'MsgReadIndex', context: ctx }));
  }

  transferLeader(to: NodeId): RaftError | undefined {
    return this.raft.step(newMessage({ type: 'MsgTransferLeader', from: to }));
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: 'MsgUnreachable', from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: 'MsgSnapStatus', from: id, reject: !ok }));
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  hasReady(): boolean {
    const r = this.raft;
    // Compared field by field: hasReady() runs on every loop turn of every member, so it allocates nothing.
    if (r.lead !== this.prevSoftState.lead || r.role !== this.prevSoftState.role) return true;
    const phs = this.prevHardState;
    if (r.term !== phs.term || r.vote !== phs.vote || r.log.committed !== phs.commit) return true;
    if (r.log.unstable.snapshot) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.unstable.entries.length > 0) return true;
    return r.log.hasNextCommittedEnts();
  }

  /** The work to do; call advance() once it is done, before the next ready(). */
  ready(): Ready {
    assert(this.pending === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const ss = this.softState();
    const hs = this.hardState();
    const entries = r.log.unstableEntries();
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.nextCommittedEnts();
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages: r.msgs,
      mustSync:
        entries.length > 0 || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) rd.softState = ss;
    if (!sameHardState(hs, this.prevHardState)) rd.hardState = hs;
    if (snapshot) rd.snapshot = snapshot;

    r.msgs = [];
    r.readStates = [];
    this.prevSoftState = ss;
    this.prevHardState = hs;
    if (committedEntries.length > 0)
      r.log.acceptApplying(committedEntries[committedEntries.length - 1]!.index);
    // Guarded: reading index -1 of an empty array is a slow named-property lookup, on every Ready.
    const last = entries.length > 0 ? entries[entries.length - 1] : undefined;
    this.pending = {
      lastIndex: last ? last.index : 0,
      lastTerm: last ? last.term : 0,
      snapshotIndex: snapshot ? snapshot.metadata.index : 0,
      committedEntries,
    };
    return rd;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const p = this.pending;
    assert(p !== undefined, 'advance() called without a ready()');
    this.pending = undefined;
    const log = this.raft.log;
    if (p.lastIndex > 0) log.stableTo(p.lastIndex, p.lastTerm);
    if (p.snapshotIndex > 0) {
      log.stableSnapTo(p.snapshotIndex);
      if (p.snapshotIndex > log.applied) log.appliedTo(p.snapshotIndex);
    }
    const ce = p.committedEntries;
    if (ce.length > 0) {
      log.appliedTo(ce[ce.length - 1]!.index);
      this.raft.reduceUncommittedSize(ce);
    }
  }

  status(): Status {
    const r = this.raft;
    const progress: Record<NodeId, ProgressStatus> = {};
    if (r.role === 'leader') {
      for (const id of r.trk.ids()) {
        const pr = r.trk.progress.get(id)!;
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          pendingSnapshot: pr.pendingSnapshot,
          inflight: pr.inflights.len(),
        };
      }
    }
    const cs = r.trk.confState();
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      leadTransferee: r.leadTransferee,
      voters: cs.voters,
      learners: cs.learners,
      progress,
    };
  }
}
