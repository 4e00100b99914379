// The Raft state machine: election, replication, ReadIndex, leadership transfer and membership, one step
// function per role. Pure: no clock, no I/O; the caller feeds ticks and messages and reads what it must do.
import { applyToConfState, decodeConfChange } from './confchange.js';
import { ErrCompacted, ErrProposalDropped, ErrSnapshotTemporarilyUnavailable, RaftError } from './errors.js';
import { RaftLog } from './log.js';
import { newMessage, voteRespType, type Message, type MessageType } from './message.js';
import { hasQuorum } from './quorum.js';
import { ReadOnly } from './read_only.js';
import type { Storage } from './storage.js';
import { ProgressTracker } from './tracker.js';
import type { ConfChange, ConfState, Entry, NodeId, Snapshot } from './types.js';
import { EntryType } from './types.js';
import { assert, entriesSize, fail, NO_LIMIT, payloadSize } from './util.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  id: NodeId;
  storage: Storage;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [e, 2e). Default 10. */
  electionTick?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  heartbeatTick?: number;
  /** Ask for pre-votes before bumping the term, so a partitioned member cannot disrupt. Default true. */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout. Default true. */
  checkQuorum?: boolean;
  /** Byte bound of the entries in one MsgApp. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** MsgApps in flight per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Bytes in flight per follower (0: unbounded). Default 0. */
  maxInflightBytes?: number;
  /** Payload bytes appended but not committed before the leader drops proposals. Default 64 MiB. */
  maxUncommittedEntriesSize?: number;
  /** Byte bound of the committed entries in one Ready. Default 64 MiB. */
  maxCommittedSizePerReady?: number;
  /** ReadIndex requests waiting for confirmation; more are dropped. Default 4096. */
  maxPendingReadIndex?: number;
  /** The index the application has already applied (restart). */
  applied?: number;
  /** A seeded source in [0, 1): randomized election timeouts must be reproducible. */
  random: () => number;
  logger?: (level: LogLevel, msg: string) => void;
}

export interface ReadState {
  index: number;
  ctx: Uint8Array;
}

type CampaignType = 'preElection' | 'election' | 'transfer';
const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.byteLength !== CAMPAIGN_TRANSFER.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

type StepFn = (m: Message) => RaftError | undefined;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | '' = '';
  lead: NodeId | '' = '';
  role: Role = 'follower';
  isLearner = false;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  /** Messages to send once the Ready that carries them is persisted. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** A leadership transfer in progress: its target. */
  leadTransferee: NodeId | '' = '';
  /** Index of the latest conf change appended by this leader; another is refused until applied reaches it. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** ReadIndex requests received before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  randomizedElectionTimeout = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  readonly maxPendingReadIndex: number;
  private readonly random: () => number;
  private readonly logger: (level: LogLevel, msg: string) => void;
  /** Without a logger the messages are not built at all: some are on per-message paths. */
  private readonly logging: boolean;

  private stepFn: StepFn;
  private tickFn: () => void;

  constructor(c: Config) {
    assert(c.id !== '', 'cannot use an empty id');
    this.id = c.id;
    this.electionTimeout = c.electionTick ?? 10;
    this.heartbeatTimeout = c.heartbeatTick ?? 1;
    assert(this.heartbeatTimeout > 0, 'heartbeat tick must be greater than 0');
    assert(this.electionTimeout > this.heartbeatTimeout, 'election tick must be greater than heartbeat tick');
    this.checkQuorum = c.checkQuorum ?? true;
    this.preVote = c.preVote ?? true;
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize ?? 64 * 1024 * 1024;
    this.maxPendingReadIndex = c.maxPendingReadIndex ?? 4096;
    this.random = c.random;
    this.logger = c.logger ?? (() => {});
    this.logging = c.logger !== undefined;
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReady ?? 64 * 1024 * 1024);
    this.trk = new ProgressTracker(c.maxInflightMsgs ?? 256, c.maxInflightBytes ?? 0);
    this.readOnly = new ReadOnly(this.maxPendingReadIndex);

    const { hardState, confState } = c.storage.initialState();
    this.resetConfig(confState);
    if (hardState.term !== 0 || hardState.vote !== '' || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex())
        fail(
          `state.commit ${hardState.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
        );
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (c.applied !== undefined && c.applied > 0) this.log.appliedTo(c.applied);
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.becomeFollower(this.term, '');
    if (this.logging)
      this.logger(
        'info',
        `newRaft ${this.id} [peers: [${[...this.trk.voters].sort().join(',')}], term: ${this.term}, commit: ${this.log.committed}, applied: ${this.log.applied}, lastindex: ${this.log.lastIndex()}, lastterm: ${this.log.lastTerm()}]`,
      );
  }

  // ---- role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const learner = pr.isLearner;
      const fresh = this.trk.newProgress(id, last + 1, learner);
      fresh.recentActive = false;
      if (id === this.id) {
        fresh.match = last;
        fresh.recentActive = true;
      }
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.maxPendingReadIndex);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId | ''): void {
    this.stepFn = this.stepFollower;
    this.reset(term);
    this.tickFn = this.tickElection;
    this.lead = lead;
    this.role = 'follower';
    if (this.logging) this.logger('info', `${this.id} became follower at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> candidate]');
    this.stepFn = this.stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = this.tickElection;
    this.vote = this.id;
    this.role = 'candidate';
    if (this.logging) this.logger('info', `${this.id} became candidate at term ${this.term}`);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> pre-candidate]');
    // A pre-candidate keeps its term and vote: it only asks whether it could win.
    this.stepFn = this.stepCandidate;
    this.trk.resetVotes();
    this.tickFn = this.tickElection;
    this.lead = '';
    this.role = 'preCandidate';
    if (this.logging) this.logger('info', `${this.id} became pre-candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.role !== 'follower', 'invalid transition [follower -> leader]');
    this.stepFn = this.stepLeader;
    this.reset(this.term);
    this.tickFn = this.tickHeartbeat;
    this.lead = this.id;
    this.role = 'leader';
    const self = this.trk.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // Entries after the last applied one may hold a conf change this leader cannot see yet; refusing new changes
    // until everything up to and including this no-op is applied forces the no-op to commit first: the fix
    // for the single-server membership bug (a new leader commits an entry of its own term before a change).
    const ok = this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    assert(ok, 'empty entry was dropped');
    this.pendingConfIndex = this.log.lastIndex();
    if (this.logging) this.logger('info', `${this.id} became leader at term ${this.term}`);
  }

  // ---- ticks

  tick(): void {
    this.tickFn();
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: 'MsgHup', from: this.id }));
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ type: 'MsgCheckQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== '') this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: 'MsgBeat', from: this.id }));
    }
  };

  /** Can this member campaign: a voter, with no snapshot waiting to be applied. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.log.unstable.snapshot === undefined;
  }

  // ---- sending

  /** Queue a message; term is stamped here except on votes (explicit) and forwarded proposals/reads (0). */
  private send(m: Partial<Message> & { type: MessageType }): void {
    const msg = newMessage(m);
    if (msg.from === '') msg.from = this.id;
    const t = msg.type;
    if (t === 'MsgVote' || t === 'MsgVoteResp' || t === 'MsgPreVote' || t === 'MsgPreVoteResp') {
      if (msg.term === 0) fail(`term should be set when sending ${t}`);
    } else {
      if (m.term !== undefined) fail(`term should not be set when sending ${t}`);
      if (t !== 'MsgProp' && t !== 'MsgReadIndex') msg.term = this.term;
    }
    this.msgs.push(msg);
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Send the entries from pr.next on (or a snapshot if compacted); false if nothing was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.termOrUndefined(prevIndex);
    let ents: Entry[] | undefined;
    try {
      ents = this.log.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (err !== ErrCompacted) throw err;
      ents = undefined;
    }
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'MsgApp',
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    pr.sentEntries(ents.length, entriesSize(ents), prevIndex + ents.length);
    return true;
  }

  private maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) {
      if (this.logging)
        this.logger('debug', `ignore sending snapshot to ${to} since it is not recently active`);
      return false;
    }
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (err === ErrSnapshotTemporarilyUnavailable) return false;
      throw err;
    }
    assert(snap.metadata.index > 0, 'need non-empty snapshot');
    if (this.logging)
      this.logger(
        'debug',
        `${this.id} [firstindex: ${this.log.firstIndex()}, commit: ${this.log.committed}] sent snapshot[index: ${snap.metadata.index}, term: ${snap.metadata.term}] to ${to} [${pr.toString()}]`,
      );
    pr.becomeSnapshot(snap.metadata.index);
    this.send({ type: 'MsgSnap', to, snapshot: snap });
    return true;
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit beyond what it is known to hold: it might not have those entries.
    const commit = Math.min(pr.match, this.log.committed);
    this.send({ type: 'MsgHeartbeat', to, commit, context: ctx });
  }

  bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'MsgTimeoutNow', to });
  }

  // ---- log

  /** Leader: append proposals at the end of the log; false when the uncommitted tail is full. */
  private appendEntry(es: Entry[]): boolean {
    let li = this.log.lastIndex();
    const ents: Entry[] = new Array<Entry>(es.length);
    for (let i = 0; i < es.length; i++)
      ents[i] = { term: this.term, index: li + 1 + i, type: es[i]!.type, data: es[i]!.data };
    const size = payloadSize(ents);
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > this.maxUncommittedSize) {
      if (this.logging)
        this.logger(
          'debug',
          `${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
        );
      return false;
    }
    this.uncommittedSize += size;
    li = this.log.append(ents);
    // The leader counts its own copy; callers persist a Ready before sending its messages, so no follower can
    // acknowledge these entries before they are on the leader's disk.
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term);
  }

  reduceUncommittedSize(ents: Entry[]): void {
    if (this.uncommittedSize === 0) return;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadSize(ents));
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.zeroTermOnOutOfBounds(this.log.committed) === this.term;
  }

  // ---- step

  step(m: Message): RaftError | undefined {
    if (m.term === 0) {
      // local message, or a forwarded proposal / read request
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = isTransferContext(m.context);
        const inLease = this.checkQuorum && this.lead !== '' && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Leader stickiness: we heard from a live leader within the election timeout, so this candidate is
          // partitioned or disruptive; ignore it without bumping our term.
          if (this.logging)
            this.logger(
              'info',
              `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] ignored ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
            );
          return undefined;
        }
      }
      if (m.type === 'MsgPreVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // Granted pre-votes carry the future term; we bump our term only once we win the pre-election.
      } else {
        if (this.logging)
          this.logger(
            'info',
            `${this.id} [term: ${this.term}] received a ${m.type} message with higher term from ${m.from} [term: ${m.term}]`,
          );
        if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap')
          this.becomeFollower(m.term, m.from);
        else this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (from a partition): answer with our term so it steps down. Without this, with
        // check-quorum or pre-vote, a node that bumped its term would be ignored forever by the old leader.
        this.send({ type: 'MsgAppResp', to: m.from });
      } else if (m.type === 'MsgPreVote') {
        if (this.logging)
          this.logger(
            'info',
            `${this.id} rejected ${m.type} from ${m.from} at term ${this.term}: stale term ${m.term}`,
          );
        this.send({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true });
      } else {
        if (this.logging)
          this.logger(
            'debug',
            `${this.id} [term: ${this.term}] ignored a ${m.type} message with lower term from ${m.from} [term: ${m.term}]`,
          );
      }
      return undefined;
    }

    switch (m.type) {
      case 'MsgHup':
        this.hup(this.preVote ? 'preElection' : 'election');
        return undefined;
      case 'MsgVote':
      case 'MsgPreVote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === '' && this.lead === '') ||
          (m.type === 'MsgPreVote' && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          if (this.logging)
            this.logger(
              'info',
              `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] cast ${m.type} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
            );
          // For a pre-vote answer with the candidate's future term, or the candidate would ignore it as stale.
          this.send({ type: voteRespType(m.type), to: m.from, term: m.term });
          if (m.type === 'MsgVote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          if (this.logging)
            this.logger(
              'info',
              `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] rejected ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
            );
          this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true });
        }
        return undefined;
      }
      default:
        return this.stepFn(m);
    }
  }

  private hup(t: CampaignType): void {
    if (this.role === 'leader') {
      if (this.logging) this.logger('debug', `${this.id} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      if (this.logging) this.logger('warn', `${this.id} is unpromotable and can not campaign`);
      return;
    }
    // A committed but unapplied conf change could change who votes; wait until it is applied.
    if (this.log.applied < this.log.committed) {
      const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, NO_LIMIT);
      const n = ents.filter((e) => e.type === EntryType.ConfChange).length;
      if (n > 0) {
        if (this.logging)
          this.logger(
            'warn',
            `${this.id} cannot campaign at term ${this.term} since there are still ${n} pending configuration changes to apply`,
          );
        return;
      }
    }
    if (this.logging) this.logger('info', `${this.id} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  private campaign(t: CampaignType): void {
    if (!this.promotable()) {
      if (this.logging) this.logger('warn', `${this.id} is unpromotable; campaign() should have been called`);
      return;
    }
    let voteMsg: MessageType;
    let term: number;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteMsg = 'MsgPreVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = 'MsgVote';
      term = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.trk.tallyVotes().result === 'won') {
      // A single voter wins at once.
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of [...this.trk.voters].sort()) {
      if (id === this.id) continue;
      if (this.logging)
        this.logger(
          'info',
          `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}] sent ${voteMsg} request to ${id} at term ${this.term}`,
        );
      this.send({
        type: voteMsg,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(t === 'transfer' ? { context: CAMPAIGN_TRANSFER } : {}),
      });
    }
  }

  private poll(id: NodeId, t: MessageType, granted: boolean): ReturnType<ProgressTracker['tallyVotes']> {
    if (this.logging)
      this.logger(
        'info',
        `${this.id} received ${t} ${granted ? '' : 'rejection '}from ${id} at term ${this.term}`,
      );
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes();
  }

  // ---- leader

  private stepLeader: StepFn = (m) => {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat();
        return undefined;
      case 'MsgCheckQuorum':
        if (!this.trk.quorumActive()) {
          if (this.logging)
            this.logger('warn', `${this.id} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, '');
        }
        for (const [id, pr] of this.trk.progress) pr.recentActive = id === this.id;
        return undefined;
      case 'MsgProp':
        return this.leaderPropose(m);
      case 'MsgReadIndex':
        return this.leaderReadIndex(m);
    }

    const pr = this.trk.progress.get(m.from);
    if (!pr) {
      if (this.logging) this.logger('debug', `${this.id} no progress available for ${m.from}`);
      return undefined;
    }
    switch (m.type) {
      case 'MsgAppResp': {
        pr.recentActive = true;
        if (m.reject) {
          if (this.logging)
            this.logger(
              'debug',
              `${this.id} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`,
            );
          let nextProbeIdx = m.rejectHint;
          if (m.logTerm > 0) nextProbeIdx = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (this.logging)
              this.logger('debug', `${this.id} decreased progress of ${m.from} to [${pr.toString()}]`);
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return undefined;
        }
        const oldPaused = pr.isPaused();
        if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
            // The follower caught up past the compaction point (the snapshot, or entries it already had).
            if (this.logging)
              this.logger(
                'debug',
                `${this.id} recovered from needing snapshot, resumed sending replication messages to ${m.from} [${pr.toString()}]`,
              );
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

          if (this.maybeCommit()) {
            this.releasePendingReadIndexMessages();
            this.bcastAppend();
          } else if (oldPaused) {
            this.sendAppend(m.from);
          }
          // Pipelining: fill the window with whatever is left.
          while (this.maybeSendAppend(m.from, false)) {
            // keep sending
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            if (this.logging)
              this.logger('info', `${this.id} sent MsgTimeoutNow to ${m.from} after received MsgAppResp`);
            this.sendTimeoutNow(m.from);
          }
        }
        return undefined;
      }
      case 'MsgHeartbeatResp': {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        // If every MsgApp in the window was lost, free a slot so that replication does not stall forever.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from);
        if (m.context.byteLength === 0) return undefined;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || !hasQuorum(this.trk.voters, (id) => acks.has(id))) return undefined;
        for (const rs of this.readOnly.advance(m.context)) this.responseToReadIndexReq(rs.req, rs.index);
        return undefined;
      }
      case 'MsgSnapStatus':
        if (pr.state !== 'snapshot') return undefined;
        if (!m.reject) {
          pr.becomeProbe();
          if (this.logging)
            this.logger(
              'debug',
              `${this.id} snapshot succeeded, resumed sending replication messages to ${m.from} [${pr.toString()}]`,
            );
        } else {
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          if (this.logging)
            this.logger(
              'debug',
              `${this.id} snapshot failed, resumed sending replication messages to ${m.from} [${pr.toString()}]`,
            );
        }
        // Wait for a heartbeat answer before probing, in case the follower is still installing the snapshot.
        pr.msgAppFlowPaused = true;
        return undefined;
      case 'MsgUnreachable':
        // The transport lost a message: optimistic pipelining is pointless until we hear back.
        if (pr.state === 'replicate') pr.becomeProbe();
        if (this.logging)
          this.logger(
            'debug',
            `${this.id} failed to send message to ${m.from} because it is unreachable [${pr.toString()}]`,
          );
        return undefined;
      case 'MsgTransferLeader': {
        if (pr.isLearner) {
          if (this.logging) this.logger('debug', `${this.id} is learner. Ignored transferring leadership`);
          return undefined;
        }
        const transferee = m.from;
        if (this.leadTransferee !== '') {
          if (this.leadTransferee === transferee) {
            if (this.logging)
              this.logger(
                'info',
                `${this.id} [term ${this.term}] transfer leadership to ${transferee} is in progress, ignores request to same node ${transferee}`,
              );
            return undefined;
          }
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) {
          if (this.logging)
            this.logger('debug', `${this.id} is already leader. Ignored transferring leadership to self`);
          return undefined;
        }
        if (this.logging)
          this.logger(
            'info',
            `${this.id} [term ${this.term}] starts to transfer leadership to ${transferee}`,
          );
        // The transfer must finish within one election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.log.lastIndex()) {
          this.sendTimeoutNow(transferee);
          if (this.logging)
            this.logger(
              'info',
              `${this.id} sends MsgTimeoutNow to ${transferee} immediately as ${transferee} already has up-to-date log`,
            );
        } else {
          this.sendAppend(transferee);
        }
        return undefined;
      }
    }
    return undefined;
  };

  private leaderPropose(m: Message): RaftError | undefined {
    if (m.entries.length === 0) fail(`${this.id} stepped empty MsgProp`);
    if (!this.trk.progress.has(this.id)) {
      // Removed from the membership while leader: it will step down; no new proposals meanwhile.
      return ErrProposalDropped;
    }
    if (this.leadTransferee !== '') {
      if (this.logging)
        this.logger(
          'debug',
          `${this.id} [term ${this.term}] transfer leadership to ${this.leadTransferee} is in progress; dropping proposal`,
        );
      return ErrProposalDropped;
    }
    // Built only when the batch holds a conf change: most proposals do not, and it sorts two fresh arrays.
    let cs: ConfState | undefined;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.log.applied) {
        if (this.logging)
          this.logger(
            'info',
            `${this.id} ignoring conf change at index ${this.log.lastIndex() + i + 1}: a previous change at ${this.pendingConfIndex} is not applied yet (applied ${this.log.applied})`,
          );
        return ErrProposalDropped;
      }
      const res = applyToConfState(cs ?? this.trk.confState(), decodeConfChange(e.data));
      if (res.error) {
        if (this.logging) this.logger('info', `${this.id} ignoring invalid conf change: ${res.error}`);
        return ErrProposalDropped;
      }
      cs = res.cs;
    }
    const firstConf = m.entries.findIndex((e) => e.type === EntryType.ConfChange);
    if (!this.appendEntry(m.entries)) return ErrProposalDropped;
    if (firstConf >= 0) {
      const lastConf =
        m.entries.length - 1 - [...m.entries].reverse().findIndex((e) => e.type === EntryType.ConfChange);
      this.pendingConfIndex = this.log.lastIndex() - (m.entries.length - 1 - lastConf);
    }
    this.bcastAppend();
    return undefined;
  }

  private leaderReadIndex(m: Message): RaftError | undefined {
    if (this.trk.isSingleton()) {
      this.responseToReadIndexReq(m, this.log.committed);
      return undefined;
    }
    // Until it commits an entry of its own term, a new leader does not know the latest commit index (§6.4).
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.maxPendingReadIndex) return ErrProposalDropped;
      this.pendingReadIndexMessages.push(m);
      return undefined;
    }
    return this.sendMsgReadIndexResponse(m);
  }

  private sendMsgReadIndexResponse(m: Message): RaftError | undefined {
    if (!this.readOnly.addRequest(this.log.committed, m)) return ErrProposalDropped;
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeatWithCtx(m.context);
    return undefined;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendMsgReadIndexResponse(m);
  }

  private responseToReadIndexReq(req: Message, readIndex: number): void {
    if (req.from === '' || req.from === this.id) {
      this.readStates.push({ index: readIndex, ctx: req.context });
    } else {
      this.send({ type: 'MsgReadIndexResp', to: req.from, index: readIndex, context: req.context });
    }
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = '';
  }

  // ---- candidate and pre-candidate

  private stepCandidate: StepFn = (m) => {
    const myVoteResp: MessageType = this.role === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgProp':
        if (this.logging) this.logger('info', `${this.id} no leader at term ${this.term}; dropping proposal`);
        return ErrProposalDropped;
      case 'MsgReadIndex':
        return ErrProposalDropped;
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return undefined;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case 'MsgTimeoutNow':
        if (this.logging)
          this.logger(
            'debug',
            `${this.id} [term ${this.term} state ${this.role}] ignored MsgTimeoutNow from ${m.from}`,
          );
        return undefined;
    }
    if (m.type === myVoteResp) {
      const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
      if (this.logging)
        this.logger(
          'info',
          `${this.id} has received ${granted} ${m.type} votes and ${rejected} vote rejections`,
        );
      if (result === 'won') {
        if (this.role === 'preCandidate') {
          this.campaign('election');
        } else {
          this.becomeLeader();
          this.bcastAppend();
        }
      } else if (result === 'lost') {
        // Stay in this term; a pre-candidate never bumped it.
        this.becomeFollower(this.term, '');
      }
    }
    return undefined;
  };

  // ---- follower

  private stepFollower: StepFn = (m) => {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === '') {
          if (this.logging)
            this.logger('info', `${this.id} no leader at term ${this.term}; dropping proposal`);
          return ErrProposalDropped;
        }
        this.send({ ...m, term: undefined, to: this.lead });
        return undefined;
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return undefined;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case 'MsgTransferLeader':
        if (this.lead === '') {
          if (this.logging)
            this.logger('info', `${this.id} no leader at term ${this.term}; dropping leader transfer msg`);
          return ErrProposalDropped;
        }
        this.send({ ...m, term: undefined, to: this.lead });
        return undefined;
      case 'MsgTimeoutNow':
        if (this.logging)
          this.logger(
            'info',
            `${this.id} [term ${this.term}] received MsgTimeoutNow from ${m.from} and starts an election to get leadership`,
          );
        // Skip the pre-vote: the leader asked for this election, so it is not disruptive.
        this.hup('transfer');
        return undefined;
      case 'MsgReadIndex':
        if (this.lead === '') {
          if (this.logging)
            this.logger('info', `${this.id} no leader at term ${this.term}; dropping index reading msg`);
          return ErrProposalDropped;
        }
        this.send({ ...m, term: undefined, to: this.lead });
        return undefined;
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, ctx: m.context });
        return undefined;
    }
    return undefined;
  };

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: 'MsgAppResp', to: m.from, index: lastNew });
      return;
    }
    // Tell the leader where our log could match: the last index ≤ its probe whose term is ≤ the probe's term.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    if (this.logging)
      this.logger(
        'debug',
        `${this.id} [logterm: ${this.log.zeroTermOnOutOfBounds(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`,
      );
    this.send({
      type: 'MsgAppResp',
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ type: 'MsgHeartbeatResp', to: m.from, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'MsgSnap without snapshot');
    if (this.restore(s)) {
      if (this.logging)
        this.logger(
          'info',
          `${this.id} [commit: ${this.log.committed}] restored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
        );
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.lastIndex() });
    } else {
      if (this.logging)
        this.logger(
          'info',
          `${this.id} [commit: ${this.log.committed}] ignored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
        );
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
    }
  }

  /** Install a snapshot from the leader; false when it is stale or our log already has it. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.role !== 'follower') fail(`${this.id} attempted to restore snapshot as ${this.role}`);
    const cs = s.metadata.confState;
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) {
      // A member added after the leader's latest snapshot: it takes the snapshot's membership (without itself,
      // so it cannot campaign) and becomes a member when it applies its own addition from the log after it.
      if (this.logging)
        this.logger(
          'info',
          `${this.id} restoring a snapshot whose ConfState does not include it yet ${JSON.stringify(cs)}`,
        );
    }
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the entries: fast-forward the commit index rather than drop our log.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.resetConfig(cs);
    return true;
  }

  // ---- membership

  /** Rebuild the tracker from a ConfState (start, snapshot): every member is probed from our last index. */
  private resetConfig(cs: ConfState): void {
    this.trk.progress.clear();
    this.trk.voters = new Set(cs.voters);
    this.trk.learners = new Set(cs.learners);
    const last = this.log.lastIndex();
    for (const id of cs.voters) this.trk.newProgress(id, last + 1, false);
    for (const id of cs.learners) this.trk.newProgress(id, last + 1, true);
    const self = this.trk.progress.get(this.id);
    if (self) self.match = last;
    this.isLearner = this.trk.learners.has(this.id);
  }

  /** Apply a committed conf change: it takes effect now, when applied, on every member alike. */
  applyConfChange(cc: ConfChange): ConfState {
    const res = applyToConfState(this.trk.confState(), cc);
    if (res.error) {
      // Re-applying a change already in effect (a restart replays the log) is routine.
      if (this.logging)
        this.logger(
          res.error.includes('already') ? 'debug' : 'info',
          `${this.id} ignored conf change ${JSON.stringify({ type: cc.type, nodeId: cc.nodeId })}: ${res.error}`,
        );
      return this.trk.confState();
    }
    const cs = res.cs;
    const last = this.log.lastIndex();
    this.trk.voters = new Set(cs.voters);
    this.trk.learners = new Set(cs.learners);
    for (const id of [...this.trk.progress.keys()]) {
      if (!this.trk.voters.has(id) && !this.trk.learners.has(id)) this.trk.progress.delete(id);
    }
    for (const id of [...cs.voters, ...cs.learners]) {
      const learner = this.trk.learners.has(id);
      const pr = this.trk.progress.get(id);
      if (pr) {
        pr.isLearner = learner;
      } else {
        const fresh = this.trk.newProgress(id, Math.max(last, 1), learner);
        if (id === this.id) fresh.match = last;
      }
    }
    this.isLearner = this.trk.learners.has(this.id);

    if (this.role === 'leader') {
      if (!this.trk.voters.has(this.id)) {
        this.stepDownOnRemoval();
      } else {
        if (this.leadTransferee !== '' && !this.trk.voters.has(this.leadTransferee))
          this.abortLeaderTransfer();
        // The quorum changed: the commit index may move, and new members need their first append.
        if (this.maybeCommit()) this.releasePendingReadIndexMessages();
        this.bcastAppend();
      }
    }
    return cs;
  }

  /**
   * A leader that applied its own removal tells the others the commit index, asks the most caught-up voter to
   * campaign at once (rather than wait an election timeout), and steps down.
   */
  private stepDownOnRemoval(): void {
    this.bcastAppend();
    let best: NodeId | '' = '';
    let bestMatch = -1;
    for (const id of [...this.trk.voters].sort()) {
      const pr = this.trk.progress.get(id)!;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== '' && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    if (this.logging)
      this.logger(
        'info',
        `${this.id} removed from the membership; stepping down (transferring to ${best || 'nobody'})`,
      );
    this.becomeFollower(this.term, '');
  }
}
