// A deterministic cluster simulation: members, a faulty network, crashes, membership changes and snapshots,
// all driven by one seeded PRNG, with the safety checks run after every step and a liveness check at the end.
import { confChangeTypeName, decodeConfChange } from '../confchange.js';
import { RaftError } from '../errors.js';
import type { Message } from '../message.js';
import { RawNode } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import type { ConfChange, ConfState, Entry, NodeId } from '../types.js';
import { ConfChangeType, EntryType } from '../types.js';
import { Checker, InvariantViolation } from './checker.js';
import { Rng } from './prng.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Simulated time units of faults; a tick is TICK units. Then the network heals for the liveness check. */
  steps: number;
  /** Keep every trace line (else only the last TRACE_KEEP). */
  verbose?: boolean;
}

export interface SimCounts {
  elections: number;
  crashes: number;
  restarts: number;
  partitions: number;
  messagesSent: number;
  drops: number;
  duplicates: number;
  confChangesProposed: Record<string, number>;
  confChangesApplied: Record<string, number>;
  snapshotsCreated: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  leaderTransfers: number;
  proposals: number;
  proposalsCommitted: number;
  readsServed: number;
  lostUnpersisted: number;
}

export interface SimResult {
  ok: boolean;
  seed: number;
  error?: string;
  trace: string[];
  counts: SimCounts;
  finalCommit: number;
}

const TICK = 10;
const ELECTION_TICK = 10;
const TRACE_KEEP = 400;
/** After healing, a new proposal must be applied on every member within this many time units. */
const LIVENESS_BOUND = 60 * ELECTION_TICK * TICK;

/**
 * The network is a timing wheel: slot (at % WHEEL) holds the messages due at time `at`, in send order. Delays
 * are whole time units below WHEEL and time advances one unit per step, so delivering one slot per step gives
 * exactly the (at, send order) order of a sorted queue without sorting or filtering.
 */
const WHEEL = 512;
const MAX_DELAY = 300;
const MAX_MEMBERS = 4096;

interface Member {
  id: NodeId;
  /** Position in memberList: the pair (from, to) cut by a partition is the number from.num * MAX_MEMBERS + to.num. */
  num: number;
  /** The disk: survives crashes. */
  storage: MemoryStorage;
  /** Volatile: lost on crash. */
  node: RawNode | undefined;
  tickPhase: number;
  downUntil: number;
  /** Applied its own removal: shut down for good (as etcd does), a few ticks later. */
  removedAt: number | undefined;
  // State machine (volatile; rebuilt from the snapshot on restart).
  appliedIndex: number;
  hash: number;
  confState: ConfState;
  lastCommit: number;
  lastLeaderTerm: number;
  snapshotsInstalled: number;
  /** The founding members it was started with (undefined for a member that joined later). */
  bootstrapPeers: NodeId[] | undefined;
  /** termOrUndefined of the current node's log, made once per start rather than per Ready. */
  termOf: (index: number) => number | undefined;
}

interface PendingRead {
  member: NodeId;
  minIndex: number;
  issuedAt: number;
}

function fnv(h: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 16777619) >>> 0;
  return h;
}

/** FNV-1a over the four little-endian bytes of a non-negative integer below 2^32. */
function fnvU32(h: number, v: number): number {
  h = Math.imul(h ^ (v & 0xff), 16777619) >>> 0;
  h = Math.imul(h ^ ((v >>> 8) & 0xff), 16777619) >>> 0;
  h = Math.imul(h ^ ((v >>> 16) & 0xff), 16777619) >>> 0;
  return Math.imul(h ^ (v >>> 24), 16777619) >>> 0;
}

/**
 * Proposal n's payload is the ASCII text `p${n}`, written byte by byte rather than through TextEncoder (this
 * runs per proposal); its length matters, since small maxSizePerMsg limits count entries by bytes.
 */
function proposalPayload(n: number): Uint8Array {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  const b = new Uint8Array(1 + digits);
  b[0] = 0x70; // 'p'
  for (let i = digits, x = n; i >= 1; i--, x = Math.floor(x / 10)) b[i] = 0x30 + (x % 10);
  return b;
}

/** The n of a `p${n}` payload, or -1 when it is not one. */
function proposalNumber(d: Uint8Array): number {
  if (d.length < 2 || d.length > 11 || d[0] !== 0x70) return -1;
  let n = 0;
  for (let i = 1; i < d.length; i++) {
    const c = d[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Simulation {
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly members = new Map<NodeId, Member>();
  /** The members in insertion order (as members.values()), for loops that must not allocate. */
  private readonly memberList: Member[] = [];
  private readonly checker = new Checker();
  private readonly trace: string[] = [];
  private now = 0;
  private wheel: Message[][] = Array.from({ length: WHEEL }, () => []);
  private spareSlot: Message[] = [];
  /** Pairs that cannot talk, as numbers (see Member.num). */
  private blocked = new Set<number>();
  private partitionUntil = 0;
  private nextNodeNum: number;
  private faults = true;
  private proposalSeq = 0;
  /** committed[n] = 1 once proposal n was applied by some member. */
  private committed = new Uint8Array(1024);
  private markerCommitted = false;
  /** The liveness check's proposal, `final-${seed}`. */
  private readonly markerData: Uint8Array;
  private readonly pendingReads = new Map<string, PendingRead>();
  private readSeq = 0;
  private dropRate = 0.05;
  private dupRate = 0.02;
  private crashRate = 0.002;
  private proposeRate = 0.15;
  /** Some seeds run without pre-vote or check-quorum: more disruptive elections, and both settings tested. */
  private preVote = true;
  private checkQuorum = true;
  readonly counts: SimCounts = {
    elections: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    messagesSent: 0,
    drops: 0,
    duplicates: 0,
    confChangesProposed: {},
    confChangesApplied: {},
    snapshotsCreated: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    leaderTransfers: 0,
    proposals: 0,
    proposalsCommitted: 0,
    readsServed: 0,
    lostUnpersisted: 0,
  };

  constructor(private readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.markerData = enc.encode(`final-${opts.seed}`);
    this.netRng = this.rng.fork();
    this.preVote = this.rng.chance(0.7);
    this.checkQuorum = this.rng.chance(0.7);
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.nextNodeNum = opts.nodes + 1;
    for (const id of ids) this.addMember(id, ids);
    // Vary fault intensity per seed so that some runs are calm and some are hostile.
    this.dropRate = this.rng.pick([0, 0.01, 0.05, 0.1, 0.2]);
    this.dupRate = this.rng.pick([0, 0.01, 0.05]);
    this.crashRate = this.rng.pick([0.0005, 0.002, 0.005, 0.01]);
    this.proposeRate = this.rng.pick([0.02, 0.15, 0.5]);
    this.log(
      `seed=${opts.seed} nodes=${opts.nodes} drop=${this.dropRate} dup=${this.dupRate} crash=${this.crashRate} propose=${this.proposeRate} preVote=${this.preVote} checkQuorum=${this.checkQuorum}`,
    );
  }

  private log(line: string): void {
    this.trace.push(`[t=${this.now}] ${line}`);
    if (!this.opts.verbose && this.trace.length > TRACE_KEEP * 2)
      this.trace.splice(0, this.trace.length - TRACE_KEEP);
  }

  private addMember(id: NodeId, peers: NodeId[] | undefined): Member {
    if (this.memberList.length >= MAX_MEMBERS) throw new Error(`more than ${MAX_MEMBERS} members`);
    const m: Member = {
      id,
      num: this.memberList.length,
      storage: new MemoryStorage(),
      node: undefined,
      tickPhase: this.rng.int(TICK),
      downUntil: 0,
      removedAt: undefined,
      appliedIndex: 0,
      hash: 2166136261,
      confState: { voters: [], learners: [] },
      lastCommit: 0,
      lastLeaderTerm: 0,
      snapshotsInstalled: 0,
      termOf: () => undefined,
      bootstrapPeers: peers,
    };
    this.members.set(id, m);
    this.memberList.push(m);
    this.start(m, peers);
    return m;
  }

  private start(m: Member, peers: NodeId[] | undefined): void {
    const snap = m.storage.snapshot();
    if (snap.metadata.index > 0) {
      const st = JSON.parse(dec.decode(snap.data)) as { hash: number };
      m.appliedIndex = snap.metadata.index;
      m.hash = st.hash;
      m.confState = snap.metadata.confState;
    } else {
      m.appliedIndex = 0;
      m.hash = 2166136261;
      m.confState = { voters: [], learners: [] };
    }
    const rng = this.rng.fork();
    m.node = new RawNode({
      id: m.id,
      storage: m.storage,
      random: () => rng.next(),
      electionTick: ELECTION_TICK,
      heartbeatTick: 1,
      preVote: this.preVote,
      checkQuorum: this.checkQuorum,
      maxSizePerMsg: this.rng.pick([64, 1024, 1 << 20]),
      maxInflightMsgs: this.rng.pick([1, 4, 64]),
      maxUncommittedEntriesSize: 1 << 20,
      applied: m.appliedIndex,
      ...(peers ? { peers } : {}),
    });
    m.lastCommit = m.node.raft.log.committed;
    const log = m.node.raft.log;
    m.termOf = (i) => log.termOrUndefined(i);
  }

  /**
   * A uniformly picked running member (not one that applied its own removal, with `active`), or undefined if
   * none: draws from the PRNG exactly as rng.pick over the filtered list would, without building the list.
   */
  private pickAlive(active: boolean): Member | undefined {
    const list = this.memberList;
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (m.node !== undefined && (!active || m.removedAt === undefined)) n++;
    }
    if (n === 0) return undefined;
    let k = this.rng.int(n);
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (m.node !== undefined && (!active || m.removedAt === undefined) && k-- === 0) return m;
    }
    throw new Error('unreachable');
  }

  private leaderMember(): Member | undefined {
    let best: Member | undefined;
    const list = this.memberList;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      const r = m.node?.raft;
      if (r && r.role === 'leader' && (!best || r.term > best.node!.raft.term)) best = m;
    }
    return best;
  }

  private isBlocked(from: NodeId, to: Member | undefined): boolean {
    if (this.blocked.size === 0 || to === undefined) return false;
    const f = this.members.get(from);
    return f !== undefined && this.blocked.has(f.num * MAX_MEMBERS + to.num);
  }

  /** The membership according to the member that applied the most. */
  private currentConf(): ConfState {
    let best: Member | undefined;
    for (const m of this.members.values()) if (!best || m.appliedIndex > best.appliedIndex) best = m;
    return best!.confState;
  }

  // ---- network

  private send(from: Member, msg: Message): void {
    this.counts.messagesSent++;
    if (msg.type === 'MsgSnap') this.counts.snapshotsSent++;
    const to = this.members.get(msg.to);
    const cut = this.isBlocked(msg.from, to);
    if (!to || cut || (this.faults && this.netRng.chance(this.dropRate))) {
      this.counts.drops++;
      if (msg.type === 'MsgSnap') from.node?.reportSnapshot(msg.to, false);
      else if (cut && this.netRng.chance(0.3)) from.node?.reportUnreachable(msg.to);
      return;
    }
    const copies = this.faults && this.netRng.chance(this.dupRate) ? 2 : 1;
    if (copies === 2) this.counts.duplicates++;
    for (let i = 0; i < copies; i++) {
      // Mostly short delays (reordering among them), sometimes a long one.
      const delay =
        this.faults && this.netRng.chance(0.02) ? this.netRng.range(20, MAX_DELAY) : this.netRng.range(1, 8);
      this.wheel[(this.now + delay) % WHEEL]!.push(msg);
    }
  }

  private deliverDue(): void {
    const slot = this.now % WHEEL;
    const due = this.wheel[slot]!;
    if (due.length === 0) return;
    // Whatever is sent while delivering is due at least one unit later, so in another slot.
    this.wheel[slot] = this.spareSlot;
    for (let i = 0; i < due.length; i++) {
      const m = due[i]!;
      const to = this.members.get(m.to);
      if (!to?.node || this.isBlocked(m.from, to)) {
        this.counts.drops++;
        if (m.type === 'MsgSnap') this.members.get(m.from)?.node?.reportSnapshot(m.to, false);
        continue;
      }
      const err = to.node.step(m);
      if (err && !(err instanceof RaftError)) throw err;
      if (m.type === 'MsgSnap') this.members.get(m.from)?.node?.reportSnapshot(m.to, true);
    }
    due.length = 0;
    this.spareSlot = due;
  }

  // ---- the loop of one member

  private handleReady(m: Member, crashMidway: boolean): void {
    const node = m.node!;
    if (!node.hasReady()) return;
    const rd = node.ready();
    const r = node.raft;
    if (rd.softState?.role === 'leader' || (r.role === 'leader' && r.term > m.lastLeaderTerm)) {
      m.lastLeaderTerm = r.term;
      this.log(`${m.id} is leader at term ${r.term} (lastIndex ${r.log.lastIndex()})`);
      this.checker.leader(r.term, m.id);
      this.checker.leaderCompleteness(m.id, r.term, r.log.firstIndex(), m.termOf);
    }
    // 1. persist
    if (rd.snapshot) {
      m.storage.applySnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) this.checker.persisted(m.id, rd.entries, m.termOf);
    m.storage.append(rd.entries);
    if (rd.hardState) {
      m.storage.setHardState(rd.hardState);
      if (rd.hardState.commit > m.lastCommit) {
        this.checker.committed(m.id, rd.hardState.term, m.lastCommit, rd.hardState.commit, m.termOf);
        m.lastCommit = rd.hardState.commit;
      }
    }
    if (crashMidway) {
      // Persisted, but crashed before sending or applying anything.
      this.crash(m, 'after persisting, before sending');
      return;
    }
    // 2. send
    const msgs = rd.messages;
    for (let i = 0; i < msgs.length; i++) this.send(m, msgs[i]!);
    // 3. apply
    if (rd.snapshot) {
      const st = JSON.parse(dec.decode(rd.snapshot.data)) as { hash: number };
      m.appliedIndex = rd.snapshot.metadata.index;
      m.hash = st.hash;
      m.confState = rd.snapshot.metadata.confState;
      m.snapshotsInstalled++;
      this.counts.snapshotsInstalled++;
      this.log(`${m.id} installed snapshot at ${rd.snapshot.metadata.index}`);
    }
    const ents = rd.committedEntries;
    for (let i = 0; i < ents.length; i++) this.apply(m, ents[i]!);
    // 4. reads
    for (const rs of rd.readStates) {
      const key = dec.decode(rs.ctx);
      const p = this.pendingReads.get(key);
      if (!p) continue;
      this.pendingReads.delete(key);
      if (rs.index < p.minIndex) {
        throw new InvariantViolation(
          `linearizable read: ${m.id} got read index ${rs.index} for ${key}, but index ${p.minIndex} was committed before the read was issued`,
        );
      }
      this.counts.readsServed++;
    }
    node.advance();
  }

  private apply(m: Member, e: Entry): void {
    if (e.index !== m.appliedIndex + 1) {
      throw new InvariantViolation(`${m.id} applies index ${e.index} after ${m.appliedIndex}`);
    }
    this.checker.appliedEntry(m.id, e);
    m.appliedIndex = e.index;
    m.hash = fnv(fnvU32(fnvU32(fnvU32(m.hash, e.index), e.term), e.type), e.data);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      m.confState = m.node!.applyConfChange(cc);
      const kind = confChangeTypeName(cc.type);
      if (e.index > this.appliedConfIndex) {
        this.appliedConfIndex = e.index;
        this.counts.confChangesApplied[kind] = (this.counts.confChangesApplied[kind] ?? 0) + 1;
        this.log(
          `conf change ${kind} ${cc.nodeId} applied at ${e.index}: voters=${m.confState.voters.join(',')} learners=${m.confState.learners.join(',')}`,
        );
      }
      if (
        cc.type === ConfChangeType.RemoveNode &&
        cc.nodeId === m.id &&
        !m.confState.voters.includes(m.id) &&
        m.removedAt === undefined
      ) {
        m.removedAt = this.now;
      }
    } else if (e.data.length > 0) {
      const d = e.data;
      const n = proposalNumber(d);
      if (n < 0 && sameBytes(d, this.markerData)) {
        if (!this.markerCommitted) this.counts.proposalsCommitted++;
        this.markerCommitted = true;
        return;
      }
      if (n < 0 || n >= this.proposalSeq) {
        throw new InvariantViolation(`${m.id} applied a payload that was never proposed at ${e.index}`);
      }
      if (this.committed[n] === 0) {
        this.committed[n] = 1;
        this.counts.proposalsCommitted++;
      }
    }
  }

  private appliedConfIndex = 0;

  private crash(m: Member, why: string): void {
    const r = m.node!.raft;
    if (r.log.unstable.entries.length > 0) this.counts.lostUnpersisted++;
    this.log(
      `${m.id} crashed (${why}); term ${r.term} role ${r.role} persisted last ${m.storage.lastIndex()}`,
    );
    m.node = undefined;
    m.downUntil = this.now + this.rng.range(1 * TICK, 40 * TICK);
    this.counts.crashes++;
  }

  private restart(m: Member): void {
    // A founding member that crashed before its first Ready was durable bootstraps again, as the server
    // does: it never sent anything (sending follows persisting), so that is the same as a slow start. Restarted
    // with an empty log instead, it would learn the membership one committed entry at a time, and having
    // applied only "add n1", n1 would be a one-voter cluster of its own (5 nodes, seed 8091).
    const s = m.storage;
    const nothingPersisted =
      s.lastIndex() === 0 && s.snapshot().metadata.index === 0 && s.initialState().hardState.term === 0;
    const again = nothingPersisted && m.bootstrapPeers !== undefined;
    this.start(m, again ? m.bootstrapPeers : undefined);
    this.counts.restarts++;
    const r = m.node!.raft;
    this.log(
      `${m.id} restarted${again ? ' (nothing was persisted: bootstrapping again)' : ''}: term ${r.term} commit ${r.log.committed} applied ${m.appliedIndex} last ${r.log.lastIndex()}`,
    );
  }

  // ---- client and operator actions

  private propose(): void {
    const m = this.pickAlive(true);
    if (!m) return;
    const n = this.rng.chance(0.2) ? this.rng.range(2, 20) : 1;
    if (this.proposalSeq + n > this.committed.length) {
      const grown = new Uint8Array(this.committed.length * 2);
      grown.set(this.committed);
      this.committed = grown;
    }
    this.counts.proposals += n;
    if (n === 1) m.node!.propose(proposalPayload(this.proposalSeq++));
    else {
      const datas: Uint8Array[] = [];
      for (let i = 0; i < n; i++) datas.push(proposalPayload(this.proposalSeq++));
      m.node!.proposeBatch(datas);
    }
  }

  private confChange(): void {
    const leader = this.leaderMember();
    if (!leader) return;
    const cs = leader.confState;
    const voters = cs.voters;
    const minVoters = 3;
    const maxVoters = this.opts.nodes + 2;
    const choices: ConfChange[] = [];
    if (voters.length < maxVoters) {
      choices.push({ type: ConfChangeType.AddNode, nodeId: `n${this.nextNodeNum}` });
      choices.push({ type: ConfChangeType.AddLearnerNode, nodeId: `n${this.nextNodeNum}` });
      for (const l of cs.learners) choices.push({ type: ConfChangeType.PromoteLearner, nodeId: l });
    }
    if (voters.length > minVoters)
      for (const v of voters) choices.push({ type: ConfChangeType.RemoveNode, nodeId: v });
    for (const l of cs.learners) choices.push({ type: ConfChangeType.RemoveNode, nodeId: l });
    if (choices.length === 0) return;
    const cc = this.rng.pick(choices);
    const err = leader.node!.proposeConfChange(cc);
    const kind = confChangeTypeName(cc.type);
    this.log(`${leader.id} proposes ${kind} ${cc.nodeId}: ${err ? err.code : 'ok'}`);
    if (err) return;
    this.counts.confChangesProposed[kind] = (this.counts.confChangesProposed[kind] ?? 0) + 1;
    if (cc.type === ConfChangeType.AddNode || cc.type === ConfChangeType.AddLearnerNode) {
      // The new member starts empty, knowing nobody: it learns the membership from the leader.
      this.nextNodeNum++;
      this.addMember(cc.nodeId, undefined);
    }
  }

  private snapshot(m: Member): void {
    const applied = m.appliedIndex;
    const snapIndex = m.storage.snapshot().metadata.index;
    if (applied - snapIndex < this.rng.range(5, 40)) return;
    if (applied > m.storage.lastIndex()) return;
    const data = enc.encode(JSON.stringify({ hash: m.hash }));
    m.storage.createSnapshot(applied, m.confState, data);
    // Keep a few entries behind the snapshot, sometimes none, so that both paths are exercised.
    const keep = this.rng.pick([0, 0, 2, 10]);
    const compactTo = applied - keep;
    if (compactTo > m.storage.firstIndex() - 1) m.storage.compact(compactTo);
    this.counts.snapshotsCreated++;
    this.log(`${m.id} snapshot at ${applied}, compacted to ${compactTo}`);
  }

  private partition(): void {
    const ids = [...this.members.keys()];
    this.blocked.clear();
    const kind = this.rng.int(3);
    let groupA: NodeId[];
    if (kind === 0) {
      // isolate one member (often the leader: the interesting case)
      const leader = this.leaderMember();
      groupA = [leader && this.rng.chance(0.6) ? leader.id : this.rng.pick(ids)];
    } else {
      groupA = ids.filter(() => this.rng.chance(0.5));
    }
    const inA = new Set(groupA);
    for (const a of ids) {
      for (const b of ids) {
        if (inA.has(a) !== inA.has(b)) {
          const pair = this.members.get(a)!.num * MAX_MEMBERS + this.members.get(b)!.num;
          this.blocked.add(pair);
          // sometimes one-directional
          if (kind === 2 && this.rng.chance(0.5)) this.blocked.delete(pair);
        }
      }
    }
    this.partitionUntil = this.now + this.rng.range(10 * TICK, 80 * TICK);
    this.counts.partitions++;
    this.log(`partition: [${groupA.join(',')}] | rest${kind === 2 ? ' (asymmetric)' : ''}`);
  }

  private heal(): void {
    if (this.blocked.size === 0) return;
    this.blocked.clear();
    this.log('network healed');
  }

  // ---- the run

  private stepOnce(): void {
    this.now++;
    this.deliverDue();
    // Members added during the step (conf changes run after this loop) join from the next step on.
    const list = this.memberList;
    for (let i = 0, n = list.length; i < n; i++) {
      const m = list[i]!;
      if (!m.node) {
        if (m.removedAt === undefined && this.now >= m.downUntil) this.restart(m);
        continue;
      }
      if (m.removedAt !== undefined && this.now - m.removedAt > 5 * TICK) {
        this.log(`${m.id} shut down after its removal`);
        m.node = undefined;
        continue;
      }
      if ((this.now + m.tickPhase) % TICK === 0) m.node.tick();
      // Members do not always process their Ready at once: a crash in between loses unpersisted state.
      if (!this.faults || this.rng.chance(0.7)) {
        const crashMidway = this.faults && this.rng.chance(0.0005);
        this.handleReady(m, crashMidway);
      }
    }
    if (this.faults) {
      if (this.rng.chance(this.proposeRate)) this.propose();
      if (this.rng.chance(this.crashRate)) {
        // Leaders are the interesting victims: their uncommitted tail is where figure-8 style bugs live.
        const leader = this.leaderMember();
        if (leader && this.rng.chance(0.5)) this.crash(leader, 'leader');
        else {
          const victim = this.pickAlive(true);
          if (victim) this.crash(victim, 'random');
        }
      }
      if (this.now >= this.partitionUntil && this.blocked.size > 0) this.heal();
      if (this.blocked.size === 0 && this.rng.chance(0.002)) this.partition();
      if (this.rng.chance(0.003)) this.confChange();
      if (this.rng.chance(0.01)) {
        const m = this.pickAlive(false);
        if (m) this.snapshot(m);
      }
      if (this.rng.chance(0.002)) {
        const leader = this.leaderMember();
        if (leader) {
          const to = this.rng.pick(leader.confState.voters);
          this.counts.leaderTransfers++;
          this.log(`${leader.id} asked to transfer leadership to ${to}`);
          leader.node!.transferLeader(to);
        }
      }
      if (this.rng.chance(0.01)) this.read();
    }
  }

  private read(): void {
    const m = this.pickAlive(true);
    if (!m) return;
    const key = `r${this.readSeq++}`;
    // Whatever any member knows committed now must be visible to this read.
    let minIndex = 0;
    for (const x of this.memberList) if (x.node) minIndex = Math.max(minIndex, x.node.raft.log.committed);
    this.pendingReads.set(key, { member: m.id, minIndex, issuedAt: this.now });
    m.node!.readIndex(enc.encode(key));
  }

  run(): SimResult {
    try {
      for (let i = 0; i < this.opts.steps; i++) this.stepOnce();
      this.checkLiveness();
      return {
        ok: true,
        seed: this.opts.seed,
        trace: this.trace,
        counts: this.finish(),
        finalCommit: this.checker.maxCommitted,
      };
    } catch (err) {
      const e = err as Error;
      this.log(`FAILED: ${e.stack ?? e.message}`);
      return {
        ok: false,
        seed: this.opts.seed,
        error: e.message,
        trace: this.trace,
        counts: this.finish(),
        finalCommit: this.checker.maxCommitted,
      };
    }
  }

  private finish(): SimCounts {
    this.counts.elections = this.checker.elections;
    return this.counts;
  }

  /**
   * Heal everything, restart everyone, stop faults. Then a new proposal must commit within LIVENESS_BOUND, and
   * every member must apply everything within a further bound that grows with how far behind the slowest
   * member was (a member that missed thousands of entries on 64-byte messages needs time, not a fix).
   */
  private checkLiveness(): void {
    this.faults = false;
    this.heal();
    for (const m of this.members.values()) if (!m.node && m.removedAt === undefined) this.restart(m);
    this.log('--- faults stopped: liveness check');
    const marker = `final-${this.opts.seed}`;
    // The marker queues behind whatever the leader appended but has not committed yet.
    let uncommitted = 0;
    for (const m of this.memberList)
      if (m.node)
        uncommitted = Math.max(uncommitted, m.node.raft.log.lastIndex() - this.checker.maxCommitted);
    const commitBound = LIVENESS_BOUND + uncommitted * TICK;
    let deadline = this.now + commitBound;
    let lastTry = -Infinity;
    while (this.now < deadline && !this.markerCommitted) {
      // A client retries its proposal until it is applied.
      if (this.now - lastTry >= 5 * TICK) {
        lastTry = this.now;
        const target = this.leaderMember() ?? this.pickAlive(true);
        target?.node!.propose(this.markerData);
      }
      this.stepOnce();
    }
    if (!this.markerCommitted) {
      throw new InvariantViolation(
        `liveness: ${marker} not committed within ${commitBound} time units (${uncommitted} uncommitted entries before it)\n  ${this.describeMembers()}`,
      );
    }
    this.log(`liveness: ${marker} committed (${uncommitted} uncommitted entries were ahead of it)`);
    const backlog = this.backlog();
    const catchUp = LIVENESS_BOUND + backlog * TICK;
    deadline = this.now + catchUp;
    while (this.now < deadline) {
      if (this.allMembersCaughtUp()) {
        this.log(`liveness: every member applied everything (backlog was ${backlog} entries)`);
        return;
      }
      this.stepOnce();
    }
    throw new InvariantViolation(
      `liveness: members did not catch up (backlog ${backlog} entries) within ${catchUp} time units\n  ${this.describeMembers()}`,
    );
  }

  /** How many entries the slowest member of the current membership is behind the most advanced one. */
  private backlog(): number {
    const conf = this.currentConf();
    let max = 0;
    let min = Infinity;
    for (const m of this.members.values()) max = Math.max(max, m.appliedIndex);
    for (const id of [...conf.voters, ...conf.learners])
      min = Math.min(min, this.members.get(id)?.appliedIndex ?? 0);
    return min === Infinity ? 0 : max - min;
  }

  private describeMembers(): string {
    return [...this.members.values()]
      .map((m) => {
        const r = m.node?.raft;
        return r
          ? `${m.id}: ${r.role} term=${r.term} lead=${r.lead} commit=${r.log.committed} applied=${m.appliedIndex} last=${r.log.lastIndex()} voters=${m.confState.voters.join(',')}`
          : `${m.id}: down${m.removedAt !== undefined ? ' (removed)' : ''}`;
      })
      .join('\n  ');
  }

  private allMembersCaughtUp(): boolean {
    const conf = this.currentConf();
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.appliedIndex);
    for (const id of [...conf.voters, ...conf.learners]) {
      const m = this.members.get(id);
      if (!m?.node) return false;
      if (m.appliedIndex < max) return false;
    }
    return true;
  }
}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
