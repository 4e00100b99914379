// The applier: the deterministic state machine every store member runs on the committed Raft log
// (mvcc key space + lessor + alarms + consistent index), answering exactly as etcd 3.4 does.
import {
  MvccStore,
  WatchableStore,
  type WatchStream,
  type WatchStreamOptions,
  type WatchableStoreOptions,
} from '../mvcc/index.js';
import { Lessor } from '../lease/index.js';
import { EtcdError } from './errors.js';
import type {
  AlarmMember,
  LeaseLeasesResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  RaftRequest,
  RaftResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
} from './types.js';

export interface StateMachineOptions {
  /** Clock for the lessor, in ms (default Date.now). */
  now?: () => number;
  /** NOSPACE quota in bytes of the estimated db size (etcd --quota-backend-bytes; default 2 GiB; 0 = default, <0 = none). Must be equal on every member. */
  quotaBackendBytes?: number;
  /** etcd --max-txn-ops (default 128). */
  maxTxnOps?: number;
  /** Minimum lease TTL in seconds (default 2, etcd's with default timing). */
  minLeaseTtl?: number;
  /** Filled into response headers. */
  clusterId?: bigint;
  memberId?: bigint;
  watch?: WatchableStoreOptions;
}

/** What applying one entry produced: a response, an error for the client, or nothing (replayed entry). */
export type ApplyResult =
  { kind: 'response'; response: RaftResponse } | { kind: 'error'; error: EtcdError } | { kind: 'skipped' };

export class StateMachine {
  readonly kv: MvccStore;
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  clusterId: bigint;
  memberId: bigint;
  /** Term written into response headers (the server keeps it current). */
  raftTerm = 0;
  private consistentIdx = 0;
  private alarmList: AlarmMember[] = [];

  constructor(readonly opts: StateMachineOptions = {}) {
    this.kv = new MvccStore();
    this.watchable = new WatchableStore(this.kv, opts.watch);
    this.lessor = new Lessor({ now: opts.now, minTtl: opts.minLeaseTtl });
    this.clusterId = opts.clusterId ?? 0n;
    this.memberId = opts.memberId ?? 0n;
  }

  /** The Raft index of the last applied entry; entries at or below it are skipped on replay. */
  consistentIndex(): number {
    return this.consistentIdx;
  }

  /** Applies one committed entry's request. Never throws for client errors (they come back as `error`). */
  apply(index: number, req: RaftRequest): ApplyResult {
    void index;
    void req;
    throw new Error('not implemented');
  }

  /**
   * Checks a request the way etcd's API layer does before proposing (empty key, txn op count, duplicate
   * keys, ignore_* misuse). apply() checks again, so a bad entry in the log is still answered with an error.
   */
  validate(req: RaftRequest): EtcdError | undefined {
    void req;
    return undefined;
  }

  /** A read, served locally (after ReadIndex for linearizable reads). Throws EtcdError. */
  range(req: RangeRequest): RangeResponse {
    void req;
    throw new Error('not implemented');
  }

  /** True if the request would not push the store past its quota (the server raises NOSPACE if not). */
  quotaAvailable(req: RaftRequest): boolean {
    void req;
    return true;
  }

  newWatchStream(opts: WatchStreamOptions): WatchStream {
    return this.watchable.newWatchStream(opts);
  }

  leaseTimeToLive(req: LeaseTimeToLiveRequest): LeaseTimeToLiveResponse {
    void req;
    throw new Error('not implemented');
  }

  leaseLeases(): LeaseLeasesResponse {
    throw new Error('not implemented');
  }

  /** Keep-alive on the leader (not through Raft): the TTL in seconds. Throws EtcdError (not found / not leader). */
  leaseRenew(id: bigint): number {
    void id;
    throw new Error('not implemented');
  }

  /** Active alarms. */
  alarms(): AlarmMember[] {
    return this.alarmList.map((a) => ({ ...a }));
  }

  /** CRC32 of the key space up to `revision` (0 = current): equal on members with equal histories. */
  hashKV(revision = 0): { hash: number; compactRevision: number; hashRevision: number } {
    return this.kv.hashKV(revision);
  }

  /** Estimated bytes held (reported as dbSize). */
  dbSize(): number {
    return this.kv.size();
  }

  header(revision = this.kv.rev()): ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.raftTerm };
  }

  /** The whole state (mvcc + lessor + alarms + consistent index) as chunks; restore() takes their concatenation. */
  *snapshot(chunkBytes = 1 << 20): Generator<Buffer> {
    yield Buffer.alloc(chunkBytes * 0);
    throw new Error('not implemented');
  }

  /** Replaces the whole state with a snapshot. Watch streams stay open; their watchers catch up or are canceled. */
  restore(data: Buffer): void {
    void data;
    throw new Error('not implemented');
  }
}
