// A store node: one Raft member driven from the event loop, its WAL and snapshots on disk, and the
// state machine it applies committed entries to. Every write goes through Raft, even with one member.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../common/index.js';
import type { EtcdBackend, Header, MemberInfo, Msg, NodeStatus, WatchStreamLike } from '../api/index.js';
import { RpcError, ServerErrors } from '../api/index.js';
import {
  MemoryStorage,
  RawNode,
  EntryType,
  isEmptySnapshot,
  decodeConfChange,
  encodeConfChange,
  type ConfState,
  type Entry,
  type Message,
  type HardState,
  type Ready,
  type Snapshot,
} from '../raft/index.js';
import { WAL, Snapshotter, lockDataDir, type DataDirLock, type WALOptions } from '../wal/index.js';
import {
  StateMachine,
  EtcdError,
  Errors,
  AlarmAction,
  AlarmType,
  LeaseIdGenerator,
  encodeRequest,
  decodeRequest,
  toEtcdError,
  type RaftRequest,
} from '../apply/index.js';
import type { StoreConfig } from './config.js';
import { Membership, memberId as deriveMemberId } from './members.js';
import type { Metrics } from './metrics.js';
import { IdGenerator } from './idgen.js';
import type { Transport } from './transport.js';
import { PeerTransport, PeerCallError, fetchMembership, type Hello } from './peer/index.js';
import {
  ClusterErrors,
  LEARNER_READY_PERCENT,
  MAX_LEARNERS,
  applyMemberChange,
  confChangeFor,
  decodeMemberContext,
  forceNewClusterChanges,
  nextConfState,
  memberFromJSON,
  memberToJSON,
  type MemberContext,
} from './cluster.js';
import { decodeBackup, decodeSnapshotData, encodeSnapshotData } from './snapshot.js';
import { fromEtcdDb, isBoltFile, toEtcdDbAsync } from '../backup/etcd-db.js';
import { AutoCompactor } from './compactor.js';
import { clientOptions, loadTls, type TlsMaterial } from './tls.js';
import bcrypt from 'bcryptjs';
import { AuthErrors, JwtTokens, ROOT, tokenPrefix, type AuthInfo, type Permission } from '../auth/index.js';

/** Node ids in Raft are the member id in etcd's 16-hex-digit form. */
export function nodeIdOf(memberId: bigint): string {
  return memberId.toString(16).padStart(16, '0');
}

/**
 * etcd's --force-new-cluster, on a restart: the log is cut at its commit index (what was not committed is
 * dropped, as etcd drops it) and ConfChanges removing every other member are appended and marked committed,
 * in the WAL first. Applied on start like any committed entry, they leave this member a one-member cluster
 * with all the data it had; the others are removed members from then on and are refused if they come back.
 */
async function forceNewCluster(
  wal: WAL,
  self: string,
  snapConf: ConfState,
  membership: Membership,
  entries: Entry[],
  hardState: HardState,
  log: Logger,
): Promise<{ entries: Entry[]; hardState: HardState }> {
  const commit = hardState.commit;
  const kept = entries.filter((e) => e.index <= commit);
  let conf = snapConf;
  for (const e of kept)
    if (e.type === EntryType.ConfChange) conf = nextConfState(conf, decodeConfChange(e.data));
  if (!conf.voters.includes(self))
    throw new Error(`--force-new-cluster: this member (${self}) is not a voting member of its cluster`);
  const last = kept.length ? kept[kept.length - 1]!.index : commit;
  const added: Entry[] = forceNewClusterChanges(self, conf, membership).map((cc, i) => ({
    term: hardState.term,
    index: last + 1 + i,
    type: EntryType.ConfChange,
    data: encodeConfChange(cc),
  }));
  // Already the only member: nothing to force (what it has not committed yet, it commits alone).
  if (added.length === 0) return { entries, hardState };
  const dropped = entries.length - kept.length;
  const hs: HardState = { ...hardState, commit: last + added.length };
  // Saved at index last + 1, the new entries replace any uncommitted ones after it when the log is read.
  wal.save(hs, added);
  await wal.sync();
  log.warn('forcing a new one-member cluster', {
    removing: conf.voters.concat(conf.learners).filter((id) => id !== self),
    droppedUncommitted: dropped,
    commit: hs.commit,
  });
  return { entries: [...kept, ...added], hardState: hs };
}

/** The etcd version this store answers as (Status, /version). */
export const VERSION = '3.4.0';
/** Requests waiting for commit+apply at once; beyond it new ones fail fast (etcd: too many requests). */
const MAX_PENDING_PROPOSALS = 50_000;
/**
 * Client proposals handed to Raft per Ready (one WAL fsync). Smaller batches, pipelined (the next batch's
 * fsync runs while this one is applied and answered), keep answers flowing to clients continuously instead of
 * in one burst per fsync, which keeps the clients sending; see docs/benchmarks.md.
 */
const MAX_PROPOSALS_PER_READY = 32;
/** Linearizable reads waiting at once. */
const MAX_PENDING_READS = 100_000;
/** etcd refuses proposals when applied lags committed by this much. */
const MAX_GAP_BETWEEN_APPLY_AND_COMMIT = 5000;
/** Lease expiry is checked this often on the leader. */
const LEASE_CHECK_MS = 500;
/** How often expired auth tokens are dropped. */
const TOKEN_SWEEP_MS = 30_000;
/** Members outside the membership this member keeps addresses for (see `remotes`). */
const MAX_REMOTES = 16;
const MAX_ENTRY_BYTES_PER_MSG = 1024 * 1024;
/** An unanswered ReadIndex request is asked again after this long (etcd: 500 ms). */
const READ_INDEX_RETRY_MS = 500;

interface Waiter {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  startedAt: number;
  /** performance.now() past which expireWaiters() fails it with a timeout. */
  deadline: number;
}

interface PendingRead {
  resolve(): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  done: boolean;
}

export class StoreNode implements EtcdBackend {
  readonly maxRequestBytes: number;
  readonly memberId: bigint;
  readonly nodeId: string;
  private membership: Membership;
  private readonly storage: MemoryStorage;
  private readonly rn: RawNode;
  private readonly sm: StateMachine;
  private readonly wal: WAL;
  private readonly snapshotter: Snapshotter;
  private readonly lock: DataDirLock;
  private readonly transport: Transport & PeerTransport;
  private readonly ids: IdGenerator;
  private readonly leaseIds: LeaseIdGenerator;
  private readonly compactor: AutoCompactor;

  private readonly waiters = new Map<bigint, Waiter>();
  private readonly reads: PendingRead[] = [];
  private readonly readBatches = new Map<string, PendingRead[]>();
  private readCounter = 0n;
  private readonly revoking = new Set<bigint>();

  private appliedIndex = 0;
  private committedIndex = 0;
  private snapshotIndex = 0;
  private term = 0;
  private lead = '';
  private isLeaderNow = false;
  private readyRunning = false;
  private readyAgain = false;
  private stopped = false;
  private fatal: Error | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private tokenTimer: NodeJS.Timeout | undefined;
  private leaderWaiters: { resolve(): void; reject(e: unknown): void; timer: NodeJS.Timeout }[] = [];
  private watchStreams = 0;
  private readonly loopIdle: Promise<void>[] = [];

  private constructor(
    private readonly cfg: StoreConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    parts: {
      membership: Membership;
      memberId: bigint;
      storage: MemoryStorage;
      rn: RawNode;
      sm: StateMachine;
      wal: WAL;
      snapshotter: Snapshotter;
      lock: DataDirLock;
      applied: number;
      snapshotIndex: number;
      /** --peer-cert-file and the rest, read once by open(). */
      peerTls: TlsMaterial | undefined;
    },
  ) {
    this.maxRequestBytes = cfg.maxRequestBytes;
    this.membership = parts.membership;
    this.memberId = parts.memberId;
    this.nodeId = nodeIdOf(parts.memberId);
    this.storage = parts.storage;
    this.rn = parts.rn;
    this.sm = parts.sm;
    this.wal = parts.wal;
    this.snapshotter = parts.snapshotter;
    this.lock = parts.lock;
    this.appliedIndex = parts.applied;
    this.snapshotIndex = parts.snapshotIndex;
    this.transport = new PeerTransport(this.peerHandler(), log.child('peer'), { tls: parts.peerTls });
    this.ids = new IdGenerator(this.memberId);
    this.leaseIds = new LeaseIdGenerator(this.memberId);
    metrics.onScrape(() => {
      const w = this.sm.watchable.watcherCount();
      metrics.watchers.set(w.synced + w.unsynced);
      metrics.slowWatchers.set(w.unsynced);
      metrics.leases.set(this.sm.lessor.list().length);
      metrics.dbSize.set(this.sm.dbSize());
      metrics.currentRevision.set(this.sm.kv.rev());
      metrics.compactRevision.set(this.sm.kv.compactRevision());
      metrics.appliedIndex.set(this.appliedIndex);
      metrics.committedIndex.set(this.committedIndex);
    });
    this.sm.clusterId = this.membership.clusterId;
    this.sm.memberId = this.memberId;
    this.compactor = new AutoCompactor(cfg, log.child('compactor'), {
      revision: () => this.sm.kv.rev(),
      compact: (rev) => this.compact({ revision: rev }).then(() => undefined),
      isLeader: () => this.isLeaderNow,
    });
  }

  /** Opens (or creates) the data dir, restores the newest snapshot, replays the WAL and starts the loop. */
  static async start(cfg: StoreConfig, log: Logger, metrics: Metrics): Promise<StoreNode> {
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    const lock = lockDataDir(cfg.dataDir);
    try {
      return await StoreNode.open(cfg, log, metrics, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  private static async open(
    cfg: StoreConfig,
    log: Logger,
    metrics: Metrics,
    lock: DataDirLock,
  ): Promise<StoreNode> {
    const peerTls = loadTls(cfg.peerTLS, 'peer-');
    const memberDir = join(cfg.dataDir, 'member');
    const walDir = join(memberDir, 'wal');
    const snapDir = join(memberDir, 'snap');
    mkdirSync(snapDir, { recursive: true, mode: 0o700 });
    const snapshotter = new Snapshotter(snapDir);
    const sm = new StateMachine({
      quotaBackendBytes: cfg.quotaBackendBytes,
      maxTxnOps: cfg.maxTxnOps,
      authTokenTtlMs: cfg.authTokenTtlMs,
      tokens: cfg.authToken.kind === 'jwt' ? new JwtTokens(cfg.authToken) : undefined,
    });
    const storage = new MemoryStorage();
    let membership: Membership;
    let wal: WAL;
    let applied = 0;
    let snapshotIndex = 0;

    const walOpts = {
      logger: log.child('wal'),
      onFsync: (seconds: number) => metrics.walFsync.observe(seconds),
    };
    if (cfg.restoreFrom) {
      // Like --initial-cluster, the flag only matters for a new data dir: a restart with the same command
      // line starts from what the member already holds.
      if (await WAL.exists(walDir))
        log.warn('data dir already holds a member; ignoring --restore-from', { walDir });
      else await restoreBackup(cfg, log, memberDir, walDir, snapshotter, walOpts);
    }
    if (await WAL.exists(walDir)) {
      const markers = await WAL.validSnapshotMarkers(walDir, { logger: walOpts.logger });
      const snap = await snapshotter.loadNewestAvailable(markers);
      wal = await WAL.open(
        walDir,
        snap ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0, term: 0 },
        walOpts,
      );
      const { metadata, hardState, entries } = await wal.readAll();
      const meta = {
        memberId: BigInt('0x' + metadata.memberId),
        clusterId: BigInt('0x' + metadata.clusterId),
      };
      if (snap) {
        const d = decodeSnapshotData(snap.data);
        membership = Membership.fromJSON(d.membership);
        sm.restore(d.stateMachine);
        storage.applySnapshot(snap);
        applied = snap.metadata.index;
        snapshotIndex = snap.metadata.index;
      } else {
        // On restart the data dir, not the flags, says who the members are (as etcd ignores --initial-cluster).
        membership = readMembershipFile(memberDir);
      }
      if (membership.clusterId !== meta.clusterId) {
        throw new Error(
          `${walDir} belongs to cluster ${metadata.clusterId}, but the member data says ${membership.clusterId.toString(16)}`,
        );
      }
      let logEntries = entries;
      let hs = hardState;
      if (cfg.forceNewCluster) {
        ({ entries: logEntries, hardState: hs } = await forceNewCluster(
          wal,
          nodeIdOf(meta.memberId),
          snap ? snap.metadata.confState : { voters: [], learners: [] },
          membership,
          entries,
          hardState,
          log,
        ));
      }
      if (hs) storage.setHardState(hs);
      storage.append(logEntries);
      let peers: string[] | undefined;
      if (!snap && logEntries.length === 0 && !(hs && hs.term > 0) && bootstrapped(memberDir)) {
        // It stopped after creating its WAL but before its bootstrap entries were durable: start it as new
        // again. Started with an empty log instead, it would learn the membership from the leader one entry
        // at a time, and having applied only "add <first member>", that member would be a cluster of one
        // voter of its own and could elect itself (found by the Raft simulator, seed 8091 with 5 nodes).
        peers = [...membership.members.keys()].map(nodeIdOf);
        log.warn('member stopped before its first entries were durable; bootstrapping it again', {
          member: metadata.memberId,
        });
      }
      log.info('restarting member', {
        member: metadata.memberId,
        snapshotIndex,
        entries: logEntries.length,
        commit: hs?.commit ?? 0,
      });
      const memberId = meta.memberId;
      return StoreNode.finish(cfg, log, metrics, {
        peers,
        membership,
        memberId,
        storage,
        sm,
        wal,
        snapshotter,
        lock,
        applied,
        snapshotIndex,
        peerTls,
      });
    }

    if (cfg.initialClusterState === 'existing') {
      // Joining after `member add`: the membership (and the cluster id) come from the running members.
      const peerURLs = [...cfg.initialCluster]
        .filter(([name]) => name !== cfg.name)
        .flatMap(([, urls]) => urls);
      membership = Membership.fromJSON(
        await fetchMembership(peerURLs, 5_000, peerTls ? clientOptions(peerTls) : undefined),
      );
      const mine = [...cfg.initialAdvertisePeerURLs].sort().join(',');
      const self = [...membership.members.values()].find((m) => [...m.peerURLs].sort().join(',') === mine);
      if (!self) {
        throw new Error(
          `no member of cluster ${membership.clusterId.toString(16)} has peer URLs ${mine}: add it first with "etcdctl member add ${cfg.name} --peer-urls=${mine}"`,
        );
      }
      self.name = cfg.name;
      // The others as they are now: this member answers them even after restoring an older snapshot.
      const remotes = new Map(
        [...membership.members.values()].filter((m) => m !== self).map((m) => [nodeIdOf(m.id), m.peerURLs]),
      );
      await writeMembershipFile(memberDir, membership);
      wal = await WAL.create(
        walDir,
        { memberId: nodeIdOf(self.id), clusterId: nodeIdOf(membership.clusterId) },
        walOpts,
      );
      log.info('joining an existing cluster', {
        member: self.id.toString(16),
        cluster: membership.clusterId.toString(16),
      });
      return StoreNode.finish(cfg, log, metrics, {
        membership,
        memberId: self.id,
        storage,
        sm,
        wal,
        snapshotter,
        lock,
        applied,
        snapshotIndex,
        peers: undefined,
        remotes,
        peerTls,
      });
    }
    membership = Membership.bootstrap(cfg.initialCluster, cfg.initialClusterToken);
    const self = [...membership.members.values()].find((m) => m.name === cfg.name);
    if (!self) throw new Error(`member ${cfg.name} is not in --initial-cluster`);
    self.clientURLs = [...cfg.advertiseClientURLs];
    // The membership file first: a WAL without it would be a member that cannot say who its peers are.
    await writeMembershipFile(memberDir, membership, true);
    wal = await WAL.create(
      walDir,
      { memberId: nodeIdOf(self.id), clusterId: nodeIdOf(membership.clusterId) },
      walOpts,
    );
    const peers = [...membership.members.keys()].map(nodeIdOf);
    log.info('starting a new cluster', {
      member: self.id.toString(16),
      cluster: membership.clusterId.toString(16),
    });
    return StoreNode.finish(cfg, log, metrics, {
      membership,
      memberId: self.id,
      storage,
      sm,
      wal,
      snapshotter,
      lock,
      applied,
      snapshotIndex,
      peers,
      peerTls,
    });
  }

  private static async finish(
    cfg: StoreConfig,
    log: Logger,
    metrics: Metrics,
    p: {
      membership: Membership;
      memberId: bigint;
      storage: MemoryStorage;
      sm: StateMachine;
      wal: WAL;
      snapshotter: Snapshotter;
      lock: DataDirLock;
      applied: number;
      snapshotIndex: number;
      peers: string[] | undefined;
      remotes?: Map<string, string[]>;
      peerTls: TlsMaterial | undefined;
    },
  ): Promise<StoreNode> {
    const self = p.membership.members.get(p.memberId);
    if (self) self.clientURLs = [...cfg.advertiseClientURLs];
    const seed = Number(p.memberId & 0xffffffffn) ^ Date.now();
    let s = seed >>> 0;
    const random = () => {
      // xorshift32: Raft's election jitter only needs to differ between members.
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 0x100000000;
    };
    const rn = new RawNode({
      id: nodeIdOf(p.memberId),
      storage: p.storage,
      electionTick: Math.max(2, Math.round(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs)),
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: MAX_ENTRY_BYTES_PER_MSG,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 1 << 30,
      applied: p.applied,
      random,
      peers: p.peers,
      logger: (level, msg) => log[level](msg),
    });
    const node = new StoreNode(cfg, log, metrics, { ...p, rn });
    for (const [id, urls] of p.remotes ?? []) node.remotes.set(id, urls);
    try {
      await node.transport.listen(cfg.listenPeerURLs);
    } catch (err) {
      await node.transport.close();
      await p.wal.close();
      throw new Error(
        `cannot listen for peers on ${cfg.listenPeerURLs.join(',')}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    node.syncPeers();
    node.run();
    return node;
  }

  private run(): void {
    this.maybeCampaign();
    this.tickTimer = setInterval(() => {
      this.rn.tick();
      this.kick();
      this.expireWaiters();
    }, this.cfg.heartbeatIntervalMs);
    this.leaseTimer = setInterval(() => this.checkLeases(), LEASE_CHECK_MS);
    // Auth tokens nobody uses again (etcdctl logs in on every run) are dropped once expired.
    this.tokenTimer = setInterval(() => this.sm.tokens.sweep(), TOKEN_SWEEP_MS);
    // Watchers that asked for progress_notify get a bookmark when idle (etcd: every 10 minutes).
    this.progressTimer = setInterval(
      () => this.sm.watchable.progressNotify(),
      Math.min(this.cfg.watchProgressNotifyIntervalMs, 2 ** 31 - 1), // setInterval's longest delay
    );
    this.compactor.start();
    this.kick();
  }

  // ---------------------------------------------------------------- the Raft loop

  private kickScheduled = false;
  /** Proposals accepted but not yet handed to Raft (see MAX_PROPOSALS_PER_READY), oldest first from `queueHead`. */
  private proposalQueue: { id: bigint; data: Uint8Array }[] = [];
  private queueHead = 0;

  /**
   * Hands the next queued proposals to Raft as one message (one append, one round of MsgApp; a follower
   * forwards them to the leader as one MsgProp): at most MAX_PROPOSALS_PER_READY, and no more than
   * MAX_ENTRY_BYTES_PER_MSG unless a single one is larger. If Raft refuses the message, each is failed at once.
   */
  private feedProposals(): void {
    const q = this.proposalQueue;
    const ids: bigint[] = [];
    const datas: Uint8Array[] = [];
    let bytes = 0;
    while (this.queueHead < q.length && datas.length < MAX_PROPOSALS_PER_READY) {
      const p = q[this.queueHead]!;
      // A proposal with no waiter timed out while queued: skip it.
      if (this.waiters.has(p.id)) {
        if (datas.length > 0 && bytes + p.data.length > MAX_ENTRY_BYTES_PER_MSG) break;
        ids.push(p.id);
        datas.push(p.data);
        bytes += p.data.length;
      }
      this.queueHead++;
    }
    if (datas.length > 0 && this.rn.proposeBatch(datas)) {
      const err = () => (this.lead ? ServerErrors.timeout() : ServerErrors.noLeader());
      for (const id of ids) {
        const w = this.waiters.get(id)!;
        this.waiters.delete(id);
        this.metrics.proposalsFailed.inc();
        w.reject(err());
      }
    }
    if (this.queueHead === q.length) {
      this.proposalQueue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 4096) {
      // Under constant load the queue may never drain: drop the handed-over prefix now and then.
      this.proposalQueue = q.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /**
   * Starts a ready cycle at the end of this event-loop turn rather than now, so that every proposal read in
   * the same turn (many connections' requests arrive together) goes into one batch and one fsync.
   */
  private kickSoon(): void {
    if (this.kickScheduled || this.readyRunning) {
      if (this.readyRunning) this.readyAgain = true;
      return;
    }
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  /** Schedules a ready cycle; at most one runs at a time, and one more is queued if asked meanwhile. */
  private kick(): void {
    if (this.stopped || this.fatal) return;
    if (this.readyRunning) {
      this.readyAgain = true;
      return;
    }
    this.feedProposals();
    if (!this.rn.hasReady()) return;
    this.readyRunning = true;
    const p = this.cycle()
      .catch((err) => this.crash(err))
      .finally(() => {
        this.readyRunning = false;
        if (this.readyAgain || this.rn.hasReady() || this.queueHead < this.proposalQueue.length) {
          this.readyAgain = false;
          setImmediate(() => this.kick());
        }
      });
    this.loopIdle.push(p);
    void p.then(() => this.loopIdle.splice(this.loopIdle.indexOf(p), 1));
  }

  /**
   * The ready loop: persist a Ready (WAL save + one fsync for the whole batch), send, then apply and advance.
   * Proposals that arrive while an fsync runs go into Raft's unstable log and form the next batch (group
   * commit). Once a batch is durable, the next Ready's write and fsync start *before* this batch is applied
   * and answered, so that fdatasync (on the thread pool) overlaps apply and the responses (on this thread).
   * Nothing is answered before its entry is durable: each batch is applied only after its own fsync.
   */
  private async cycle(): Promise<void> {
    let rd: Ready = this.rn.ready();
    this.noteState(rd);
    let early = this.isLeaderNow;
    let durable = this.persist(rd, early);
    for (;;) {
      await durable;
      if (this.stopped) return;
      if (rd.hardState) this.storage.setHardState(rd.hardState);
      this.storage.append(rd.entries);
      if (!early) this.sendMessages(rd);
      // advance() only moves Raft's bookkeeping (stable and applied indexes); the entries are applied below in
      // this same turn, before anything else can reach Raft.
      this.rn.advance();
      let next: Ready | undefined;
      let nextDurable: Promise<void> | undefined;
      if (!this.stopped && !this.fatal) this.feedProposals();
      if (!this.stopped && !this.fatal && this.rn.hasReady()) {
        next = this.rn.ready();
        early = next.softState ? next.softState.role === 'leader' : this.isLeaderNow;
        // A Ready carrying a snapshot replaces the state machine: persist it only after this batch is applied.
        if (isEmptySnapshot(next.snapshot)) nextDurable = this.persist(next, early);
      }
      this.applyReady(rd);
      if (!next) return;
      this.noteState(next);
      rd = next;
      durable = nextDurable ?? this.persist(next, early);
      // Awaited at the top of the loop; this handler only keeps a failure seen while applying from going unhandled.
      durable.catch(() => undefined);
    }
  }

  private sendMessages(rd: Ready): void {
    if (rd.messages.length) this.transport.send(rd.messages.filter((m) => m.to !== this.nodeId));
  }

  /** Takes in a Ready's term, commit index and leader (after the previous Ready was applied). */
  private noteState(rd: Ready): void {
    if (rd.hardState) {
      this.term = rd.hardState.term;
      this.sm.raftTerm = this.term;
      this.committedIndex = Math.max(this.committedIndex, rd.hardState.commit);
      this.metrics.term.set(this.term);
      this.metrics.committedIndex.set(this.committedIndex);
    }
    if (rd.softState) this.onSoftState(rd.softState.lead, rd.softState.role);
  }

  /**
   * Records a Ready's snapshot (if any), hard state and entries in the WAL, and syncs them when needed.
   *
   * A leader sends the Ready's messages as the write starts, so that followers write the new entries while
   * the leader does (Raft thesis, 10.2.1): one fsync on the commit path instead of two in a row. This is safe
   * because nothing learns that those entries are committed before the leader's own copy is durable: the
   * commit index travels in later Readies' messages, and a later Ready is taken only after this one is
   * persisted; the entries are applied (and answered) only after this fsync too. Any other member persists
   * first: its votes and acknowledgements promise what is on its disk.
   */
  private async persist(rd: Ready, sendFirst: boolean): Promise<void> {
    if (sendFirst) this.sendMessages(rd);
    if (!isEmptySnapshot(rd.snapshot)) {
      // Only a follower receives one (from a leader); persist it before the entries that follow it.
      await this.persistSnapshot(rd.snapshot!);
      this.storage.applySnapshot(rd.snapshot!);
    }
    this.wal.save(rd.hardState ?? null, rd.entries);
    if (rd.mustSync || rd.entries.length > 0) {
      await this.wal.sync();
      if (rd.entries.length) this.metrics.walBatchEntries.observe(rd.entries.length);
    }
  }

  /** Applies a durable Ready: its snapshot, its committed entries (answering their proposals), its reads. */
  private applyReady(rd: Ready): void {
    if (!isEmptySnapshot(rd.snapshot)) this.restoreFromSnapshot(rd.snapshot!);
    for (const e of rd.committedEntries) this.applyEntry(e);
    // Rare (a watch resumed ahead of this member); the copy only when there is one, off the common path.
    if (this.owedProgress.size > 0) for (const retry of [...this.owedProgress]) retry();
    for (const rs of rd.readStates) this.onReadState(rs.index, rs.ctx);
    this.metrics.appliedIndex.set(this.appliedIndex);
    this.metrics.proposalsPending.set(this.waiters.size);
    this.releaseReads();
    this.maybeSnapshot();
    this.maybeCampaign();
  }

  /** A sole voter need not wait an election timeout to lead (once its bootstrap entries are applied). */
  private maybeCampaign(): void {
    if (this.lead) return;
    const st = this.rn.status();
    if (st.voters.length === 1 && st.voters[0] === this.nodeId && st.role !== 'leader') this.rn.campaign();
  }

  /** When this member last saw a leader elected (ms since epoch); 0 before the first. */
  private leaderElectedAt = 0;

  private onSoftState(lead: string, role: string): void {
    const wasLeader = this.isLeaderNow;
    if (lead !== this.lead) {
      if (lead) this.leaderElectedAt = Date.now();
      this.metrics.leaderChanges.inc();
      this.log.info(lead ? 'leader elected' : 'leader lost', { leader: lead, term: this.term, role });
    }
    this.lead = lead;
    this.isLeaderNow = role === 'leader';
    this.metrics.hasLeader.set(lead ? 1 : 0);
    this.metrics.isLeader.set(this.isLeaderNow ? 1 : 0);
    // A new leader extends every lease by a full TTL, so an election never expires leases.
    if (this.isLeaderNow && !wasLeader) this.sm.lessor.promote(this.cfg.electionTimeoutMs);
    if (!this.isLeaderNow && wasLeader) this.sm.lessor.demote();
    if (lead) {
      const ws = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const w of ws) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    if (e.type === EntryType.ConfChange) {
      this.applyConfChangeEntry(e);
      this.sm.skipTo(e.index);
      this.appliedIndex = e.index;
      return;
    }
    if (e.data.length === 0) {
      // A new leader's empty entry: nothing to apply, but the consistent index moves on.
      this.sm.skipTo(e.index);
      this.appliedIndex = e.index;
      return;
    }
    let req: RaftRequest;
    try {
      req = decodeRequest(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    } catch (err) {
      throw new Error(`raft entry ${e.index} (term ${e.term}) cannot be decoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const r = this.sm.apply(e.index, req);
    let result: unknown;
    let failed: unknown;
    if (r.kind === 'response') result = r.response;
    else if (r.kind === 'error') failed = r.error;
    this.appliedIndex = e.index;
    if ('leaseRevoke' in req) this.revoking.delete(req.leaseRevoke.ID);
    const id = req.id;
    if (id === undefined) return;
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    if (failed) {
      this.metrics.proposalsFailed.inc();
      w.reject(failed);
    } else w.resolve(result);
  }

  private crash(err: unknown): void {
    // Disk or state-machine failure: stop serving rather than acknowledge what may not be durable.
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.log.error('fatal error in the raft loop; stopping', { error: this.fatal.message });
    for (const [, w] of this.waiters) w.reject(this.fatalError());
    this.waiters.clear();
    this.onFatal?.(this.fatal);
  }

  /** Called once if the loop hits an unrecoverable error (main exits non-zero). */
  onFatal?: (err: Error) => void;

  // ---------------------------------------------------------------- snapshots

  private maybeSnapshot(): void {
    if (this.appliedIndex - this.snapshotIndex < this.cfg.snapshotCount) return;
    const t0 = process.hrtime.bigint();
    const index = this.appliedIndex;
    const data = encodeSnapshotData(this.membership, Buffer.concat([...this.sm.snapshot()]));
    const st = this.rn.status();
    const snap = this.storage.createSnapshot(index, { voters: st.voters, learners: st.learners }, data);
    this.snapshotIndex = index;
    // Snap file first, then the WAL marker: on restart only snapshots with a marker are trusted.
    void this.persistSnapshot(snap)
      .then(async () => {
        const compactTo = index - this.cfg.snapshotCatchUpEntries;
        if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
        await this.wal.releaseLockTo(index, this.cfg.maxWals);
        if (this.cfg.maxSnapshots > 0) await this.snapshotter.purge(this.cfg.maxSnapshots);
        this.metrics.snapshotSave.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        this.log.info('saved snapshot', { index, bytes: data.length });
      })
      .catch((err) => this.crash(err));
  }

  private async persistSnapshot(snap: Snapshot): Promise<void> {
    await this.snapshotter.save(snap);
    this.wal.saveSnapshotMarker(snap.metadata);
    await this.wal.sync();
  }

  private restoreFromSnapshot(snap: Snapshot): void {
    const d = decodeSnapshotData(snap.data);
    const before = this.membership;
    this.membership = Membership.fromJSON(d.membership);
    // A removal is for good. Ids this member knew removed (a joining member learns them with the membership)
    // stay so, except those the snapshot still lists: they are removed again by entries after it.
    for (const id of before.removed) if (!this.membership.members.has(id)) this.membership.removed.add(id);
    this.sm.restore(d.stateMachine);
    this.appliedIndex = snap.metadata.index;
    this.snapshotIndex = snap.metadata.index;
    this.syncPeers();
  }

  // ---------------------------------------------------------------- proposals and reads

  private async propose<T>(req: RaftRequest): Promise<T> {
    this.checkServing();
    // The queue counts too: while the loop waits on a slow disk, proposals that timed out stay queued until it
    // gets to them, so the cap on live waiters alone would not bound it.
    if (
      this.waiters.size >= MAX_PENDING_PROPOSALS ||
      this.proposalQueue.length - this.queueHead >= MAX_PENDING_PROPOSALS
    )
      throw ServerErrors.tooManyRequests();
    if (this.committedIndex - this.appliedIndex > MAX_GAP_BETWEEN_APPLY_AND_COMMIT)
      throw ServerErrors.tooManyRequests();
    const invalid = this.sm.validate(req);
    if (invalid) throw invalid;
    if (!this.sm.quotaAvailable(req)) {
      // As etcd: the member raises the NOSPACE alarm (through Raft) and the write is refused.
      if (!this.sm.alarms().some((a) => a.alarm === AlarmType.NOSPACE)) {
        this.propose({
          alarm: { action: AlarmAction.ACTIVATE, memberID: this.memberId, alarm: AlarmType.NOSPACE },
        }).catch((err) => this.log.warn('cannot raise NOSPACE alarm', { error: String(err) }));
      }
      throw Errors.noSpace();
    }
    await this.waitLeader();
    const id = this.ids.next();
    const data = encodeRequest({ ...req, id } as RaftRequest);
    if (data.length > this.cfg.maxRequestBytes) throw ServerErrors.requestTooLarge();
    const startedAt = Date.now();
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        startedAt,
        deadline: performance.now() + this.cfg.requestTimeoutMs,
      });
      this.proposalQueue.push({ id, data });
      this.kickSoon();
    });
  }

  /** What a client is told once the member has stopped serving (UNAVAILABLE, in etcd's words). */
  private fatalError(): RpcError {
    const msg = this.fatal!.message;
    return new RpcError(14, msg.startsWith('etcdserver: ') ? msg : `etcdserver: ${msg}`);
  }

  /**
   * Fails the proposals whose request timeout has passed (checked every heartbeat tick, so up to one tick
   * late). One timeout applies to all, so the waiters' insertion order is their deadline order and the scan
   * stops at the first one still in time; no timer per request.
   */
  private expireWaiters(): void {
    const now = performance.now();
    for (const [id, w] of this.waiters) {
      if (w.deadline > now) break;
      this.waiters.delete(id);
      this.metrics.proposalsFailed.inc();
      w.reject(this.proposalTimeout(w.startedAt));
    }
  }

  /**
   * A proposal that timed out. As etcd: if a new leader was elected after the request started and the old
   * one was lost around then (within two election timeouts before the election), the old leader's failure is
   * the likely cause, and the message says so.
   */
  private proposalTimeout(startedAt: number): RpcError {
    const elected = this.leaderElectedAt;
    if (startedAt < elected && startedAt > elected - 2 * this.cfg.electionTimeoutMs)
      return ServerErrors.timeoutDueToLeaderFail();
    return ServerErrors.timeout();
  }

  private checkServing(): void {
    if (this.fatal) throw this.fatalError();
    if (this.stopped) throw ServerErrors.stopped();
  }

  /** Resolves once there is a leader; `etcdserver: no leader` after the request timeout. */
  private waitLeader(): Promise<void> {
    if (this.lead) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.leaderWaiters = this.leaderWaiters.filter((x) => x !== w);
          reject(ServerErrors.noLeader());
        }, this.cfg.requestTimeoutMs),
      };
      this.leaderWaiters.push(w);
    });
  }

  /** Linearizable read barrier: ReadIndex, then wait until applied >= that index. Batched per turn. */
  private readBarrier(): Promise<void> {
    this.checkServing();
    if (this.reads.length + this.readBatches.size >= MAX_PENDING_READS) throw ServerErrors.tooManyRequests();
    return new Promise<void>((resolve, reject) => {
      const r: PendingRead = {
        resolve,
        reject,
        done: false,
        timer: setTimeout(() => {
          if (r.done) return;
          r.done = true;
          reject(this.lead ? ServerErrors.timeout() : ServerErrors.noLeader());
        }, this.cfg.requestTimeoutMs),
      };
      this.reads.push(r);
      // One ReadIndex for every read that arrives in this event-loop turn, from any connection (a microtask
      // only gathered one connection's chunk): with 100 clients, 14 % less server CPU per read and 3-4 % more
      // reads per second; a lone read's latency did not change measurably.
      if (this.reads.length === 1) setImmediate(() => this.issueReadIndex());
    });
  }

  private issueReadIndex(): void {
    // Reads whose own timer already rejected them need no ReadIndex; drop them so that the queue empties
    // and the next read schedules a new request.
    for (let i = this.reads.length - 1; i >= 0; i--) if (this.reads[i]!.done) this.reads.splice(i, 1);
    if (this.reads.length === 0) return;
    if (!this.lead) {
      // Whether a leader appears or the wait times out, look at the queue again: reads that arrived meanwhile
      // did not schedule a request of their own (the queue was not empty), so this one must not give up.
      void this.waitLeader().then(
        () => this.issueReadIndex(),
        () => this.issueReadIndex(),
      );
      return;
    }
    const batch = this.reads.splice(0);
    // The leader keys pending reads by context: the member id keeps members' counters from colliding.
    const ctx = Buffer.alloc(16);
    ctx.writeBigUInt64BE(this.memberId, 0);
    ctx.writeBigUInt64BE(++this.readCounter, 8);
    this.readBatches.set(ctx.toString('hex'), batch);
    this.rn.readIndex(ctx);
    this.kick();
    this.retryReadIndex(ctx);
  }

  /**
   * A ReadIndex request can be lost (forwarded to a leader that just lost its role, a dropped peer message):
   * ask again, as etcd does every 500 ms, until it is answered or every read in the batch timed out.
   */
  private retryReadIndex(ctx: Buffer): void {
    const key = ctx.toString('hex');
    const t = setTimeout(() => {
      const batch = this.readBatches.get(key);
      if (!batch || this.stopped) return;
      if (batch.every((r) => r.done)) {
        this.readBatches.delete(key);
        return;
      }
      if (this.lead) {
        this.rn.readIndex(ctx);
        this.kick();
      }
      this.retryReadIndex(ctx);
    }, READ_INDEX_RETRY_MS);
    t.unref();
  }

  private readonly readyReads: { index: number; batch: PendingRead[] }[] = [];

  private onReadState(index: number, ctx: Uint8Array): void {
    const key = Buffer.from(ctx).toString('hex');
    const batch = this.readBatches.get(key);
    if (!batch) return;
    this.readBatches.delete(key);
    this.readyReads.push({ index, batch });
  }

  private releaseReads(): void {
    while (this.readyReads.length && this.readyReads[0]!.index <= this.appliedIndex) {
      const { batch } = this.readyReads.shift()!;
      for (const r of batch) {
        if (r.done) continue;
        r.done = true;
        clearTimeout(r.timer);
        r.resolve();
      }
    }
  }

  // ---------------------------------------------------------------- leases and compaction

  private checkLeases(): void {
    if (!this.isLeaderNow || this.stopped || this.fatal) return;
    this.metrics.leases.set(this.sm.lessor.list().length);
    for (const id of this.sm.lessor.expired()) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.metrics.leasesExpired.inc();
      this.propose({ leaseRevoke: { ID: id } } as RaftRequest).then(
        () => this.revoking.delete(id),
        (err) => {
          this.revoking.delete(id);
          if (!(err instanceof EtcdError))
            this.log.warn('lease revoke failed', { lease: id.toString(16), error: String(err) });
        },
      );
    }
  }

  // ---------------------------------------------------------------- EtcdBackend

  header(revision?: number): Header {
    return {
      clusterId: this.membership.clusterId,
      memberId: this.memberId,
      revision: revision ?? this.sm.kv.rev(),
      raftTerm: this.term,
    };
  }

  private withHeader(resp: Msg): Msg {
    const h = (resp.header ?? {}) as Partial<Header>;
    resp.header = this.header(h.revision ?? undefined);
    return resp;
  }

  async range(req: Msg, who?: AuthInfo): Promise<Msg> {
    if (!req.serializable) this.refuseOnLearner();
    if (!req.serializable) await this.readBarrier();
    else this.checkServing();
    this.sm.auth.checkRead(who, req.key, req.rangeEnd);
    try {
      return this.withHeader(this.sm.range(req as any) as unknown as Msg);
    } catch (err) {
      throw asEtcd(err);
    }
  }

  async put(req: Msg, who?: AuthInfo): Promise<Msg> {
    this.refuseOnLearner();
    return this.withHeader(await this.propose<Msg>({ put: req, requester: who } as RaftRequest));
  }

  async deleteRange(req: Msg, who?: AuthInfo): Promise<Msg> {
    this.refuseOnLearner();
    return this.withHeader(await this.propose<Msg>({ deleteRange: req, requester: who } as RaftRequest));
  }

  /** The top-level header is filled in; nested responses keep only their revision, as etcd's do. */
  async txn(req: Msg, who?: AuthInfo): Promise<Msg> {
    this.refuseOnLearner();
    if (this.sm.isReadOnlyTxn(req as any)) {
      // A read-only txn is a read: etcd serves it without Raft, after the same barrier as a Range
      // (none when every range in it asked to be serializable).
      const invalid = this.sm.validate({ txn: req } as RaftRequest);
      if (invalid) throw invalid;
      if (!txnSerializable(req)) await this.readBarrier();
      else this.checkServing();
      if (this.sm.auth.enabled) this.sm.checkPermission({ txn: req, requester: who } as RaftRequest);
      return this.withHeader(this.sm.txnReadOnly(req as any) as unknown as Msg);
    }
    return this.withHeader(await this.propose<Msg>({ txn: req, requester: who } as RaftRequest));
  }

  async compact(req: Msg): Promise<Msg> {
    this.refuseOnLearner();
    return this.withHeader(
      await this.propose<Msg>({
        compaction: { revision: req.revision, physical: !!req.physical },
      } as RaftRequest),
    );
  }

  async leaseGrant(req: Msg): Promise<Msg> {
    this.refuseOnLearner();
    const ID = req.ID && req.ID !== 0n ? (req.ID as bigint) : this.leaseIds.next();
    return this.withHeader(await this.propose<Msg>({ leaseGrant: { TTL: req.TTL, ID } } as RaftRequest));
  }

  async leaseRevoke(req: Msg, who?: AuthInfo): Promise<Msg> {
    this.refuseOnLearner();
    return this.withHeader(
      await this.propose<Msg>({ leaseRevoke: { ID: req.ID }, requester: who } as RaftRequest),
    );
  }

  async leaseKeepAlive(id: bigint): Promise<number> {
    this.refuseOnLearner();
    this.checkServing();
    await this.waitLeader();
    if (!this.isLeaderNow) {
      // As etcd: a follower forwards keep-alives to the leader, the only member whose lessor counts time.
      return Number(await this.forward('leaseRenew', { id: id.toString() }));
    }
    try {
      return this.sm.leaseRenew(id);
    } catch (err) {
      const e = asEtcd(err);
      if (e.code === 5) return 0;
      throw e;
    }
  }

  async leaseTimeToLive(req: Msg): Promise<Msg> {
    this.refuseOnLearner();
    await this.readBarrier();
    if (this.lead && !this.isLeaderNow && !this.membership.members.get(this.memberId)?.isLearner) {
      // Only the leader's lessor counts time (as etcd, a follower asks the leader).
      const r = await this.forward('leaseTimeToLive', { id: String(req.ID), keys: !!req.keys });
      return this.withHeader({
        ...r,
        ID: BigInt(r.ID),
        keys: (r.keys as string[]).map((k) => Buffer.from(k, 'base64')),
      });
    }
    return this.withHeader(this.sm.leaseTimeToLive({ ID: req.ID, keys: !!req.keys }) as unknown as Msg);
  }

  async leaseLeases(): Promise<Msg> {
    this.refuseOnLearner();
    await this.readBarrier();
    return this.withHeader(this.sm.leaseLeases() as unknown as Msg);
  }

  watchStream(send: (resp: Msg) => void): WatchStreamLike {
    this.checkServing();
    if (this.isLearner()) {
      // etcd refuses the stream on a learner; the gRPC layer turns a failed request into the stream's error.
      const refuse = (): never => {
        throw ClusterErrors.notSupportedForLearner();
      };
      return { watch: refuse, cancel: refuse, requestProgress: refuse, pause() {}, resume() {}, close() {} };
    }
    // A progress notification promises every event up to its revision was sent. A watch that starts ahead
    // of this member's revision (resumed here from a member that was ahead, as a client with several
    // endpoints does) must not get one below its start revision - 1: a client taking it as a bookmark would
    // step back (etcd#20221). `floors` maps each such watcher to that lowest revision until it has seen an
    // event; `starts` pairs create requests with their created responses, which come in request order.
    const starts: number[] = [];
    const floors = new Map<number, number>();
    const floor = () => Math.max(0, ...floors.values());
    let owed: (() => void) | undefined;
    const ws = this.sm.newWatchStream({
      onResponse: (r) => {
        if (r.created) {
          const start = starts.shift() ?? 0;
          if (!r.canceled && start - 1 > r.revision) floors.set(r.watchId, start - 1);
        } else if (r.canceled || r.events.length > 0) {
          floors.delete(r.watchId);
        } else if (
          floors.size > 0 &&
          r.revision < (r.watchId === -1 ? floor() : (floors.get(r.watchId) ?? 0))
        ) {
          // A periodic notification is just skipped; a requested one is sent once this member gets there.
          if (r.watchId === -1 && !owed) {
            const retry = () => {
              if (closed) this.owedProgress.delete(retry);
              else if (this.sm.kv.rev() >= floor()) {
                this.owedProgress.delete(retry);
                owed = undefined;
                ws.requestProgress();
              }
            };
            owed = retry;
            this.owedProgress.add(retry);
          }
          return;
        }
        send({
          header: this.header(r.revision),
          watchId: r.watchId,
          created: !!r.created,
          canceled: !!r.canceled,
          compactRevision: r.compactRevision ?? 0,
          cancelReason: r.cancelReason ?? '',
          fragment: false,
          events: r.events,
        });
      },
    });
    this.watchStreams++;
    this.metrics.watchStreams.set(this.watchStreams);
    let closed = false;
    return {
      watch: (req) => {
        starts.push(Number(req.startRevision ?? 0));
        try {
          ws.watch(req as any);
        } catch (err) {
          starts.pop();
          throw err;
        }
        this.updateWatcherGauge();
      },
      cancel: (id) => {
        ws.cancel(id);
        this.updateWatcherGauge();
      },
      requestProgress: () => ws.requestProgress(),
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      close: () => {
        if (closed) return;
        closed = true;
        if (owed) this.owedProgress.delete(owed);
        ws.close();
        this.watchStreams--;
        this.metrics.watchStreams.set(this.watchStreams);
        this.updateWatcherGauge();
      },
    };
  }

  /** Requested progress notifications that wait for this member's revision to reach a watch's start. */
  private readonly owedProgress = new Set<() => void>();

  private updateWatcherGauge(): void {
    const c = this.sm.watchable.watcherCount();
    this.metrics.watchers.set(c.synced + c.unsynced);
  }

  async alarm(req: Msg): Promise<Msg> {
    this.refuseOnLearner();
    const resp = await this.propose<Msg>({
      alarm: { action: req.action ?? 0, memberID: req.memberID ?? 0n, alarm: req.alarm ?? 0 },
    } as RaftRequest);
    // etcd 3.4 answers Alarm without a response header.
    return { alarms: resp.alarms ?? [] };
  }

  async status(): Promise<NodeStatus> {
    this.checkServing();
    const alarms = this.sm.alarms();
    const size = this.sm.dbSize();
    this.metrics.dbSize.set(size);
    this.metrics.currentRevision.set(this.sm.kv.rev());
    return {
      version: VERSION,
      dbSize: size,
      dbSizeInUse: size,
      leader: this.lead ? BigInt('0x' + this.lead) : 0n,
      raftIndex: this.committedIndex,
      raftTerm: this.term,
      raftAppliedIndex: this.appliedIndex,
      errors: alarms.map(
        (a: { memberID: bigint; alarm: number }) =>
          `memberID:${a.memberID} alarm:${['NONE', 'NOSPACE', 'CORRUPT'][a.alarm] ?? a.alarm} `,
      ),
      isLearner: !!this.membership.members.get(this.memberId)?.isLearner,
    };
  }

  async hash(): Promise<number> {
    this.refuseOnLearner();
    this.checkServing();
    return crc32(Buffer.concat([...this.sm.snapshot()])) >>> 0;
  }

  async hashKV(
    revision: number,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; currentRevision: number }> {
    this.refuseOnLearner();
    this.checkServing();
    try {
      // Hashing a large key space takes tens of milliseconds: the async form yields between chunks so Raft
      // heartbeats and other requests are not held up behind it.
      return await this.sm.hashKVAsync(revision);
    } catch (err) {
      throw asEtcd(err);
    }
  }

  async snapshot(): Promise<{ revision: number; chunks: Iterable<Buffer>; size: number }> {
    this.checkServing();
    const revision = this.sm.kv.rev();
    // In etcd's own file format (a bbolt database), so that etcdctl snapshot status and restore read it.
    const data = await toEtcdDbAsync(this.sm.dump(), this.membership.list(), [...this.membership.removed]);
    return { revision, chunks: [data], size: data.length };
  }

  async defragment(): Promise<void> {
    this.refuseOnLearner();
    // The key space lives in memory and on disk only as WAL + snapshots: nothing to rebuild in place.
    this.checkServing();
  }

  // Cluster operations (moveLeader, member*) are in the cluster section below.

  // ---------------------------------------------------------------- authentication

  /**
   * Who a call comes from, by its token: undefined while auth is off; a user with no name when the call
   * carries no token (every check then answers etcd's "user name is empty"); an unknown or expired token
   * is etcd's "invalid auth token", which makes etcd clients authenticate again.
   */
  authInfo(token: string | undefined, commonName?: () => string | undefined): AuthInfo | undefined {
    const auth = this.sm.auth;
    if (!auth.enabled) return undefined;
    if (token === undefined) {
      // Without a token, a verified client certificate's common name is the user (--client-cert-auth).
      const cn = commonName?.();
      return { username: cn ?? '', revision: cn ? auth.revision : 0 };
    }
    const t = this.sm.tokens.info(token);
    if (t === undefined) throw AuthErrors.invalidAuthToken();
    return { username: t.user, revision: t.revision ?? auth.revision };
  }

  /** Snapshot, defragment, hash and move-leader need the root role; etcd 3.4 answers others as below. */
  checkAdmin(who: AuthInfo | undefined): void {
    try {
      this.sm.auth.checkAdmin(who);
    } catch (err) {
      throw (err as RpcError).code === AuthErrors.permissionDenied().code
        ? AuthErrors.adminPermissionDenied()
        : err;
    }
  }

  /** Whether a watch on [key, rangeEnd) may be created (etcd cancels it at once when not). */
  watchPermitted(who: AuthInfo | undefined, key: Buffer, rangeEnd?: Buffer): boolean {
    try {
      this.sm.auth.checkRead(who, key, rangeEnd);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A login. The password is checked here, against this member's copy of the users (bcrypt, off the event
   * loop's critical path: bcryptjs yields between rounds); the token is then made through Raft so that every
   * member knows it.
   */
  async authenticate(name: string, password: string): Promise<string> {
    this.refuseOnLearner();
    this.checkServing();
    const auth = this.sm.auth;
    if (!auth.enabled) throw AuthErrors.authNotEnabled();
    const hash = auth.passwordHash(name);
    if (!(await bcrypt.compare(password, hash))) throw AuthErrors.authFailed();
    const r = await this.propose<{ token: string }>({ authenticate: { name, simpleToken: tokenPrefix() } });
    return r.token;
  }

  async authEnable(who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authEnable: true }, who);
  }

  async authDisable(who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authDisable: true }, who);
  }

  async userAdd(name: string, password: string, noPassword: boolean, who?: AuthInfo): Promise<void> {
    // Refused before hashing too, so that a user without the root role cannot make this member hash.
    this.sm.auth.checkAdmin(who);
    const hashedPassword = noPassword ? '' : await bcrypt.hash(password, this.cfg.bcryptCost);
    await this.proposeAuthChange({ authUserAdd: { name, hashedPassword, noPassword } }, who);
  }

  async userChangePassword(name: string, password: string, who?: AuthInfo): Promise<void> {
    this.sm.auth.checkAdmin(who);
    const hashedPassword = await bcrypt.hash(password, this.cfg.bcryptCost);
    await this.proposeAuthChange({ authUserChangePassword: { name, hashedPassword } }, who);
  }

  async userDelete(name: string, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authUserDelete: { name } }, who);
  }

  async userGrantRole(user: string, role: string, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authUserGrantRole: { user, role } }, who);
  }

  async userRevokeRole(user: string, role: string, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authUserRevokeRole: { user, role } }, who);
  }

  async roleAdd(name: string, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authRoleAdd: { name } }, who);
  }

  async roleDelete(name: string, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authRoleDelete: { name } }, who);
  }

  async roleGrantPermission(name: string, perm: Permission, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authRoleGrantPermission: { name, perm } }, who);
  }

  async roleRevokePermission(role: string, key: Buffer, rangeEnd: Buffer, who?: AuthInfo): Promise<void> {
    await this.proposeAuthChange({ authRoleRevokePermission: { role, key, rangeEnd } }, who);
  }

  /** A user's roles: for the root role, or for the user asking about itself. Linearizable, as a Range. */
  async userGet(name: string, who?: AuthInfo): Promise<string[]> {
    this.refuseOnLearner();
    await this.readBarrier();
    try {
      this.sm.auth.checkAdmin(who);
    } catch (err) {
      if (who?.username !== name || name === '') throw err;
    }
    return this.sm.auth.userRoles(name);
  }

  /** A role's permissions: for the root role, or for a user that has the role. */
  async roleGet(role: string, who?: AuthInfo): Promise<Permission[]> {
    this.refuseOnLearner();
    await this.readBarrier();
    try {
      this.sm.auth.checkAdmin(who);
    } catch (err) {
      if (!who || !this.sm.auth.hasRole(who.username, role)) throw err;
    }
    return role === ROOT && !this.sm.auth.roleList().includes(ROOT) ? [] : this.sm.auth.rolePermissions(role);
  }

  async userList(who?: AuthInfo): Promise<string[]> {
    this.refuseOnLearner();
    await this.readBarrier();
    this.sm.auth.checkAdmin(who);
    return this.sm.auth.userList();
  }

  async roleList(who?: AuthInfo): Promise<string[]> {
    this.refuseOnLearner();
    await this.readBarrier();
    this.sm.auth.checkAdmin(who);
    return this.sm.auth.roleList();
  }

  authStatus(): { enabled: boolean; authRevision: number } {
    return { enabled: this.sm.auth.enabled, authRevision: this.sm.auth.revision };
  }

  private async proposeAuthChange(req: RaftRequest, who: AuthInfo | undefined): Promise<void> {
    this.refuseOnLearner();
    await this.propose({ ...req, requester: who } as RaftRequest);
  }

  private isLearner(): boolean {
    return !!this.membership.members.get(this.memberId)?.isLearner;
  }

  /**
   * As etcd 3.4: a learner serves only serializable Range, Status and Snapshot; everything else is refused
   * with etcd's error, which clients with several endpoints take as a cue to try another member.
   */
  private refuseOnLearner(): void {
    if (this.isLearner()) throw ClusterErrors.notSupportedForLearner();
  }

  observeRpc(service: string, method: string, code: number, seconds: number, type: string): void {
    this.metrics.observeRpc(type, service, method, codeName(code), seconds);
  }

  // ---------------------------------------------------------------- cluster: peers and membership

  private readonly confWaiters = new Map<string, { resolve(): void; timer: NodeJS.Timeout }>();
  private confSeq = 0;

  private peerHandler(): import('./peer/index.js').PeerHandler {
    return {
      self: this.nodeId,
      clusterId: () => nodeIdOf(this.membership.clusterId),
      name: () => this.cfg.name,
      clientURLs: () => [...this.cfg.advertiseClientURLs],
      peerURLs: () => [...this.cfg.initialAdvertisePeerURLs],
      rejectReason: (h: Hello) => {
        const mine = nodeIdOf(this.membership.clusterId);
        if (h.clusterId !== mine)
          return `cluster ID mismatch: the peer ${h.name} (${h.from}) belongs to cluster ${h.clusterId}, this member to ${mine}`;
        if (h.to !== this.nodeId) return `this member is ${this.nodeId}, not ${h.to}`;
        if (this.wasRemoved(h.from))
          return `member ${h.from} was removed from cluster ${mine}; it must not rejoin with its old data`;
        // A member of this cluster that this one does not know yet (its addition is not applied here, or
        // this member restored a snapshot older than it) is let in, as etcd's transport does: a leader that
        // joined after this member's snapshot must reach it, and this member must be able to answer.
        return undefined;
      },
      onMessage: (m: Message) => {
        if (this.stopped || this.fatal) return;
        this.rn.step(m);
        this.kick();
      },
      onUnreachable: (id) => {
        if (this.stopped) return;
        this.rn.reportUnreachable(id);
        this.kick();
      },
      onSnapshotStatus: (id, ok) => {
        if (this.stopped) return;
        this.rn.reportSnapshot(id, ok);
        this.kick();
      },
      onPeerInfo: (id, name, clientURLs, peerURLs) => {
        const m = this.membership.members.get(BigInt('0x' + id));
        if (!m) {
          if (peerURLs?.length) this.addRemote(id, peerURLs);
          return;
        }
        if (name) m.name = name;
        if (clientURLs.length) m.clientURLs = [...clientURLs];
      },
      onCall: (op, args) => this.onForwarded(op, args as Record<string, any>),
      wasRemoved: (id) => this.wasRemoved(id),
      onRemoved: () => {
        if (this.fatal || this.stopped) return;
        this.log.error('a peer says this member was removed from the cluster; stopping');
        this.crash(ClusterErrors.removed());
      },
      membershipForJoin: () => ({ ...(this.membership.toJSON() as object), appliedIndex: this.appliedIndex }),
    };
  }

  /**
   * Points the transport at every member but this one (after start, a snapshot, a change), and at the
   * remotes: members this one does not know yet but must be able to answer.
   */
  private syncPeers(): void {
    const want = new Set<string>();
    const mine = new Set(this.cfg.initialAdvertisePeerURLs);
    for (const m of this.membership.members.values()) {
      if (m.id === this.memberId) continue;
      // A member that held this member's peer URLs before it (removed since, in entries not applied yet).
      if (m.peerURLs.some((u) => mine.has(u))) continue;
      want.add(nodeIdOf(m.id));
      this.transport.addPeer(nodeIdOf(m.id), m.peerURLs);
    }
    for (const [id, urls] of this.remotes) {
      if (this.wasRemoved(id) || id === this.nodeId) {
        this.remotes.delete(id);
        continue;
      }
      // Kept while a member too: restoring an older snapshot can make a member unknown again.
      if (want.has(id) || this.membership.members.has(BigInt('0x' + id))) continue;
      want.add(id);
      this.transport.addPeer(id, urls);
    }
    for (const m of this.knownPeers) if (!want.has(m)) this.transport.removePeer(m);
    this.knownPeers = want;
  }
  private knownPeers = new Set<string>();
  /**
   * Members of the cluster this member may not have in its membership, with their peer URLs: those it
   * learned when joining, and unknown ones that connected to it; dropped only when removed. A member that
   * joined restores the leader's snapshot, whose membership can predate members added since (the leader
   * itself among them): without these it could not answer them until it has applied their addition, which
   * it learns from them.
   */
  private readonly remotes = new Map<string, string[]>();

  private addRemote(id: string, peerURLs: string[]): void {
    if (id === this.nodeId || this.wasRemoved(id)) return;
    if (this.remotes.size >= MAX_REMOTES && !this.remotes.has(id)) {
      this.log.warn('too many peers outside the membership; not answering this one', { peer: id });
      return;
    }
    const known = this.remotes.get(id);
    if (known && known.join(',') === [...peerURLs].sort().join(',')) return;
    this.log.info('a member not in this membership yet', { peer: id, peerURLs });
    this.remotes.set(id, [...peerURLs].sort());
    this.syncPeers();
  }

  /** Removed for good (the membership keeps every removed id, through snapshots and restarts). */
  private wasRemoved(id: string): boolean {
    return /^[0-9a-f]{1,16}$/.test(id) && this.membership.removed.has(BigInt('0x' + id));
  }

  private applyConfChangeEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const cs = this.rn.applyConfChange(cc);
    const ctx = decodeMemberContext(cc.context);
    if (!ctx) return; // a bootstrap entry: the membership already lists the initial members
    const change = applyMemberChange(this.membership, ctx, cs, cc.nodeId);
    this.log.info('applied membership change', { op: ctx.op, member: ctx.id, index: e.index });
    this.syncPeers();
    const w = this.confWaiters.get(ctx.req);
    if (w) {
      this.confWaiters.delete(ctx.req);
      clearTimeout(w.timer);
      w.resolve();
    }
    if (change.removed === this.memberId) {
      // As etcd: a removed member stops. Later, so the leader can still hand over and answer the caller.
      this.log.warn('this member has been removed from the cluster; stopping');
      setTimeout(() => this.crash(ClusterErrors.removed()), 1000).unref();
    }
  }

  /** Proposes a member change on the leader and resolves once it is applied here (with its index). */
  private async proposeMemberChange(c: Omit<MemberContext, 'req'>): Promise<number> {
    this.checkServing();
    const req = `${this.nodeId}-${++this.confSeq}`;
    const ctx: MemberContext = { ...c, req };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.confWaiters.delete(req);
        reject(ServerErrors.timeout());
      }, this.cfg.requestTimeoutMs);
      this.confWaiters.set(req, { resolve, timer });
      const err = this.rn.proposeConfChange(confChangeFor(ctx, c.id.padStart(16, '0')));
      if (err) {
        this.confWaiters.delete(req);
        clearTimeout(timer);
        // A change is already in flight (one at a time) or there is no leader any more.
        reject(this.lead ? ServerErrors.timeout() : ServerErrors.noLeader());
        return;
      }
      this.kick();
    });
    return this.appliedIndex;
  }

  /** Runs a cluster operation on the leader; a follower forwards it over the peer connection. */
  private async forward(op: string, args: Record<string, unknown>): Promise<any> {
    await this.waitLeader();
    try {
      return await this.transport.call(this.lead, op, args, this.cfg.requestTimeoutMs);
    } catch (err) {
      if (err instanceof PeerCallError) throw new RpcError(err.code, err.message);
      throw err;
    }
  }

  private async onForwarded(op: string, a: Record<string, any>): Promise<unknown> {
    if (!this.isLeaderNow) throw ClusterErrors.notLeader();
    switch (op) {
      case 'leaseRenew':
        return this.leaseKeepAlive(BigInt(a['id']));
      case 'leaseTimeToLive': {
        const r = this.sm.leaseTimeToLive({ ID: BigInt(a['id']), keys: !!a['keys'] }) as unknown as Msg;
        return {
          ID: String(r.ID),
          TTL: r.TTL,
          grantedTTL: r.grantedTTL,
          keys: ((r.keys ?? []) as Buffer[]).map((k) => Buffer.from(k).toString('base64')),
        };
      }
      case 'memberAdd': {
        const r = await this.memberAddOnLeader(a['peerURLs'], !!a['isLearner']);
        return { member: memberToJSON(r.member), index: r.index };
      }
      case 'memberRemove':
        return { index: await this.memberRemoveOnLeader(BigInt('0x' + a['id'])) };
      case 'memberUpdate':
        return { index: await this.memberUpdateOnLeader(BigInt('0x' + a['id']), a['peerURLs']) };
      case 'memberPromote':
        return { index: await this.memberPromoteOnLeader(BigInt('0x' + a['id'])) };
      case 'moveLeader':
        await this.moveLeader(BigInt('0x' + a['id']));
        return {};
      default:
        throw new RpcError(12, `unknown forwarded call ${op}`);
    }
  }

  /** After a forwarded change, waits until this member has applied it too, so its answer lists it. */
  private async waitApplied(index: number): Promise<void> {
    const deadline = Date.now() + this.cfg.requestTimeoutMs;
    while (this.appliedIndex < index && Date.now() < deadline && !this.stopped) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Members whose stream connection is up (and this one): etcd's "started" members for its checks. */
  private activeVoters(): Set<string> {
    const st = this.rn.status();
    return new Set(st.voters.filter((v) => v === this.nodeId || this.transport.connected(v)));
  }

  async moveLeader(targetId: bigint): Promise<void> {
    this.refuseOnLearner();
    this.checkServing();
    if (!this.membership.members.has(targetId)) throw ServerErrors.badLeaderTransferee();
    const target = nodeIdOf(targetId);
    if (!this.isLeaderNow) {
      await this.forward('moveLeader', { id: target });
      return;
    }
    if (target === this.nodeId) return;
    if (this.membership.members.get(targetId)!.isLearner) throw ServerErrors.badLeaderTransferee();
    this.rn.transferLeader(target);
    this.kick();
    const deadline = Date.now() + this.cfg.requestTimeoutMs;
    while (this.lead !== target) {
      if (Date.now() > deadline || this.stopped) throw ClusterErrors.leaderTransferTimeout();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  members(): MemberInfo[] {
    this.refuseOnLearner();
    return this.membership.list().map((m) => ({ ...m }));
  }

  async memberAdd(peerURLs: string[], isLearner = false): Promise<MemberInfo> {
    this.refuseOnLearner();
    this.checkServing();
    if (this.isLeaderNow) return (await this.memberAddOnLeader(peerURLs, isLearner)).member;
    const r = await this.forward('memberAdd', { peerURLs, isLearner });
    await this.waitApplied(r.index);
    return memberFromJSON(r.member);
  }

  private async memberAddOnLeader(
    peerURLs: string[],
    isLearner: boolean,
  ): Promise<{ member: MemberInfo; index: number }> {
    for (const m of this.membership.members.values()) {
      if (m.peerURLs.some((u) => peerURLs.includes(u))) throw ServerErrors.peerURLExist();
    }
    if (isLearner) {
      if ([...this.membership.members.values()].filter((m) => m.isLearner).length >= MAX_LEARNERS)
        throw ClusterErrors.tooManyLearners();
    } else {
      // etcd's strict reconfiguration check: the started voters must still be a quorum with one more voter.
      const voters = this.rn.status().voters.length + 1;
      if (this.activeVoters().size < Math.floor(voters / 2) + 1) throw ClusterErrors.unhealthy();
    }
    // As etcd's MemberAdd: the id hashes the peer URLs with the current time (no cluster token).
    const id = deriveMemberId(peerURLs, String(Math.floor(Date.now() / 1000)));
    if (this.membership.members.has(id) || this.membership.removed.has(id))
      throw ClusterErrors.memberIdExists();
    const index = await this.proposeMemberChange({
      op: 'add',
      id: nodeIdOf(id),
      name: '',
      peerURLs,
      isLearner,
    });
    const m = this.membership.members.get(id);
    if (!m) throw ServerErrors.timeout();
    return { member: { ...m }, index };
  }

  async memberRemove(id: bigint): Promise<void> {
    this.refuseOnLearner();
    this.checkServing();
    if (!this.membership.members.has(id)) throw ServerErrors.memberNotFound();
    if (this.isLeaderNow) {
      await this.memberRemoveOnLeader(id);
      return;
    }
    const r = await this.forward('memberRemove', { id: nodeIdOf(id) });
    await this.waitApplied(r.index);
  }

  private async memberRemoveOnLeader(id: bigint): Promise<number> {
    const m = this.membership.members.get(id);
    if (!m) throw ServerErrors.memberNotFound();
    if (!m.isLearner) {
      // The voters left, without the removed one, must still have a started quorum.
      const st = this.rn.status();
      const remaining = st.voters.filter((v) => v !== nodeIdOf(id));
      const active = [...this.activeVoters()].filter((v) => v !== nodeIdOf(id));
      if (remaining.length === 0 || active.length < Math.floor(remaining.length / 2) + 1)
        throw ServerErrors.notEnoughStartedMembers();
    }
    return this.proposeMemberChange({
      op: 'remove',
      id: nodeIdOf(id),
      name: m.name,
      peerURLs: m.peerURLs,
      isLearner: m.isLearner,
    });
  }

  async memberUpdate(id: bigint, peerURLs: string[] = []): Promise<void> {
    this.refuseOnLearner();
    this.checkServing();
    if (!this.membership.members.has(id)) throw ServerErrors.memberNotFound();
    if (this.isLeaderNow) {
      await this.memberUpdateOnLeader(id, peerURLs);
      return;
    }
    const r = await this.forward('memberUpdate', { id: nodeIdOf(id), peerURLs });
    await this.waitApplied(r.index);
  }

  private async memberUpdateOnLeader(id: bigint, peerURLs: string[]): Promise<number> {
    const m = this.membership.members.get(id);
    if (!m) throw ServerErrors.memberNotFound();
    for (const o of this.membership.members.values()) {
      if (o.id !== id && o.peerURLs.some((u) => peerURLs.includes(u))) throw ServerErrors.peerURLExist();
    }
    return this.proposeMemberChange({
      op: 'update',
      id: nodeIdOf(id),
      name: m.name,
      peerURLs,
      isLearner: m.isLearner,
    });
  }

  async memberPromote(id: bigint): Promise<void> {
    this.refuseOnLearner();
    this.checkServing();
    const m = this.membership.members.get(id);
    if (!m) throw ServerErrors.memberNotFound();
    if (!m.isLearner) throw ServerErrors.memberNotLearner();
    if (this.isLeaderNow) {
      await this.memberPromoteOnLeader(id);
      return;
    }
    const r = await this.forward('memberPromote', { id: nodeIdOf(id) });
    await this.waitApplied(r.index);
  }

  private async memberPromoteOnLeader(id: bigint): Promise<number> {
    const m = this.membership.members.get(id);
    if (!m) throw ServerErrors.memberNotFound();
    if (!m.isLearner) throw ServerErrors.memberNotLearner();
    const st = this.rn.status();
    const learner = st.progress[nodeIdOf(id)];
    const leader = st.progress[this.nodeId];
    if (!learner || !leader || learner.match < leader.match * LEARNER_READY_PERCENT)
      throw ClusterErrors.learnerNotReady();
    return this.proposeMemberChange({
      op: 'promote',
      id: nodeIdOf(id),
      name: m.name,
      peerURLs: m.peerURLs,
      isLearner: false,
    });
  }

  /** For /health: a leader, no alarm, and a linearizable read that completes (a learner's too). */
  async healthy(): Promise<{ ok: boolean; reason: string }> {
    if (this.fatal) return { ok: false, reason: this.fatal.message };
    if (!this.lead) return { ok: false, reason: 'RAFT NO LEADER' };
    if (this.sm.alarms().length) return { ok: false, reason: 'ALARM' };
    try {
      await this.readBarrier();
      return { ok: true, reason: '' };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  /** Stops the loop: rejects what waits, lets the current ready cycle finish, closes the WAL, unlocks. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearInterval(this.leaseTimer);
    clearInterval(this.progressTimer);
    clearInterval(this.tokenTimer);
    this.compactor.stop();
    await Promise.allSettled([...this.loopIdle]);
    for (const [, w] of this.waiters) w.reject(ServerErrors.stopped());
    this.waiters.clear();
    for (const r of [
      ...this.reads,
      ...[...this.readBatches.values()].flat(),
      ...this.readyReads.flatMap((x) => x.batch),
    ]) {
      if (r.done) continue;
      r.done = true;
      clearTimeout(r.timer);
      r.reject(ServerErrors.stopped());
    }
    for (const w of this.leaderWaiters) {
      clearTimeout(w.timer);
      w.reject(ServerErrors.stopped());
    }
    await this.transport.close();
    await this.wal.close();
    this.lock.release();
  }

  /** The member dir exists: a restart, not a bootstrap (for logs and tests). */
  static hasData(dataDir: string): boolean {
    return existsSync(join(dataDir, 'member', 'wal'));
  }

  /** For tests and status pages. */
  debugState(): { applied: number; committed: number; snapshotIndex: number; term: number; leader: string } {
    return {
      applied: this.appliedIndex,
      committed: this.committedIndex,
      snapshotIndex: this.snapshotIndex,
      term: this.term,
      leader: this.lead,
    };
  }
}

/** True when every range in the txn (both branches, nested txns too) asked for a serializable read. */
function txnSerializable(t: Msg): boolean {
  const ops = [...(t.success ?? []), ...(t.failure ?? [])] as Msg[];
  return ops.every((op) =>
    op.requestRange ? !!op.requestRange.serializable : op.requestTxn ? txnSerializable(op.requestTxn) : true,
  );
}

function asEtcd(err: unknown): EtcdError {
  return toEtcdError(err);
}

const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];
function codeName(c: number): string {
  return CODE_NAMES[c] ?? String(c);
}

export type { HardState };

const MEMBERSHIP_FILE = 'cluster.json';

/**
 * Written once at bootstrap (temp file, fsync, rename); snapshots carry the membership after that.
 * `bootstrap`: this member was created to start a new cluster (its first entries are the members' additions,
 * which restart needs to know if it stopped before they were durable).
 */
async function writeMembershipFile(memberDir: string, m: Membership, bootstrap = false): Promise<void> {
  const file = join(memberDir, MEMBERSHIP_FILE);
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    const json = bootstrap ? { ...(m.toJSON() as object), bootstrap: true } : m.toJSON();
    await fh.writeFile(JSON.stringify(json, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(memberDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Whether the membership file says this member was created to start a new cluster. */
function bootstrapped(memberDir: string): boolean {
  try {
    return (
      (JSON.parse(readFileSync(join(memberDir, MEMBERSHIP_FILE), 'utf8')) as { bootstrap?: boolean })
        .bootstrap === true
    );
  } catch {
    return false;
  }
}

function readMembershipFile(memberDir: string): Membership {
  const file = join(memberDir, MEMBERSHIP_FILE);
  try {
    return Membership.fromJSON(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new Error(`cannot read the cluster membership from ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * `bin/store snapshot restore`: turn a backup into a new member's data dir and exit, as `etcdctl snapshot
 * restore` does; run it once per member with the same --initial-cluster and --initial-cluster-token.
 */
export async function restoreDataDir(cfg: StoreConfig, log: Logger): Promise<void> {
  const memberDir = join(cfg.dataDir, 'member');
  const walDir = join(memberDir, 'wal');
  const snapDir = join(memberDir, 'snap');
  if (await WAL.exists(walDir)) throw new Error(`data-dir "${cfg.dataDir}" already holds a member`);
  mkdirSync(snapDir, { recursive: true, mode: 0o700 });
  await restoreBackup(cfg, log, memberDir, walDir, new Snapshotter(snapDir), { logger: log.child('wal') });
}

/**
 * Seeds an empty data dir from a backup (`etcdctl snapshot save`, of this store or of etcd), as `etcdctl
 * snapshot restore` does for etcd: a new cluster of the --initial-cluster members, all voters, whose Raft
 * log starts with a snapshot holding the backup's key space. The snapshot index is the backup's consistent
 * index, so entries the new member appends are never mistaken for ones the state machine already holds.
 */
async function restoreBackup(
  cfg: StoreConfig,
  log: Logger,
  memberDir: string,
  walDir: string,
  snapshotter: Snapshotter,
  walOpts: WALOptions,
): Promise<void> {
  const file = readFileSync(cfg.restoreFrom!);
  // As etcdctl's restore: a snapshot is a 512-byte multiple followed by its sha256, which must match; a file
  // without one (a copy of a data dir's db) is taken only with --skip-hash-check.
  const hasHash = file.length % 512 === 32;
  let body = file;
  if (hasHash) {
    body = file.subarray(0, file.length - 32);
    const want = file.subarray(file.length - 32);
    const got = createHash('sha256').update(body).digest();
    if (!got.equals(want)) {
      throw new Error(
        `${cfg.restoreFrom}: expected sha256 ${want.toString('hex')}, got ${got.toString('hex')}: the backup is corrupt or truncated`,
      );
    }
  } else if (!cfg.skipHashCheck) {
    throw new Error(`${cfg.restoreFrom}: snapshot missing hash but --skip-hash-check=false`);
  }
  const sm = new StateMachine({ quotaBackendBytes: cfg.quotaBackendBytes, maxTxnOps: cfg.maxTxnOps });
  // etcd's format (this store's backups, and etcd's own), or the format this store wrote before.
  if (isBoltFile(body)) sm.load(fromEtcdDb(body));
  else if (hasHash) sm.restore(decodeSnapshotData(decodeBackup(file)).stateMachine);
  else throw new Error(`${cfg.restoreFrom}: not a backup (neither an etcd database nor this store's format)`);
  const membership = Membership.bootstrap(cfg.initialCluster, cfg.initialClusterToken);
  const self = [...membership.members.values()].find((m) => m.name === cfg.name)!;
  // As etcd's restore: every member named in --initial-cluster is restored from the same backup into its own
  // data dir, with the same snapshot (all of them voters) at the same index, so they start as one cluster.
  const voters = [...membership.members.values()].map((m) => nodeIdOf(m.id));
  const index = Math.max(1, sm.consistentIndex());
  const snap: Snapshot = {
    metadata: { index, term: 1, confState: { voters, learners: [] } },
    data: encodeSnapshotData(membership, Buffer.concat([...sm.snapshot()])),
  };
  await writeMembershipFile(memberDir, membership);
  await snapshotter.save(snap);
  const wal = await WAL.create(
    walDir,
    { memberId: nodeIdOf(self.id), clusterId: nodeIdOf(membership.clusterId) },
    walOpts,
  );
  wal.saveSnapshotMarker(snap.metadata);
  wal.save({ term: 1, vote: '', commit: index }, []);
  await wal.sync();
  await wal.close();
  log.info('restored a backup into a new cluster', { file: cfg.restoreFrom, revision: sm.kv.rev(), index });
}
