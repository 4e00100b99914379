// The applier: the deterministic state machine every store member runs on the committed Raft log
// (mvcc key space + lessor + alarms + consistent index), answering exactly as etcd 3.4 does.
import { crc32 } from 'node:zlib';
import {
  BinaryReader,
  BinaryWriter,
  MvccStore,
  VERSION_OVERHEAD_BYTES,
  WatchableStore,
  type KeyValue,
  type RangeEnd,
  type RangeResult,
  type StoredVersion,
  type WatchStream,
  type WatchStreamOptions,
  type WatchableStoreOptions,
  type WriteTxn,
} from '../mvcc/index.js';
import { Lessor, NO_LEASE } from '../lease/index.js';
import {
  AuthErrors,
  AuthStore,
  SimpleTokens,
  type AuthDump,
  type AuthInfo,
  type TokenProvider,
} from '../auth/index.js';
import { EtcdError, Errors, toEtcdError } from './errors.js';
import { checkDelete, checkPut, checkRange, checkTxn } from './validate.js';
import {
  AlarmAction,
  AlarmType,
  CompareResult,
  CompareTarget,
  SortOrder,
  SortTarget,
  type AlarmMember,
  type AlarmRequest,
  type AlarmResponse,
  type Compare,
  type CompactionRequest,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type PutRequest,
  type PutResponse,
  type RaftRequest,
  type RaftResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './types.js';

/** What a snapshot of the state machine holds, as plain values (see dump() and load()). */
export interface StateDump {
  /** The Raft index of the last applied entry. */
  consistentIndex: number;
  alarms: AlarmMember[];
  leases: { id: bigint; ttl: number; remainingTtl: number }[];
  currentRev: number;
  /** -1 when never compacted. */
  compactRev: number;
  /** Every stored version; dump() gives keys in byte order, each key's versions oldest first. */
  versions: Iterable<StoredVersion>;
  /** Users, roles and the auth flag; absent = none (auth off). */
  auth?: AuthDump;
}

export interface StateMachineOptions {
  /** Clock for the lessor, in ms (default Date.now). */
  now?: () => number;
  /**
   * NOSPACE quota in bytes of the estimated db size (etcd --quota-backend-bytes): 0/absent = 2 GiB,
   * negative = no quota. Must be equal on every member (apply() enforces it deterministically).
   */
  quotaBackendBytes?: number;
  /** etcd --max-txn-ops (default 128). */
  maxTxnOps?: number;
  /** Minimum lease TTL in seconds (default 2, etcd's with default timing). */
  minLeaseTtl?: number;
  /** Filled into response headers. */
  clusterId?: bigint;
  memberId?: bigint;
  watch?: WatchableStoreOptions;
  /** How long an unused auth token lives, in ms (etcd --auth-token-ttl; default 300 s). */
  authTokenTtlMs?: number;
  /** The token kind (default: simple tokens with authTokenTtlMs). */
  tokens?: TokenProvider;
}

/** What applying one entry produced: a response, an error for the client, or nothing (replayed entry). */
export type ApplyResult =
  { kind: 'response'; response: RaftResponse } | { kind: 'error'; error: EtcdError } | { kind: 'skipped' };

/** etcd's default --quota-backend-bytes. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** Quota cost of one lease (etcd's leaseOverhead). */
const LEASE_COST = 64;
/** Quota cost of a put beyond key + value: what the store holds per version. */
const PUT_OVERHEAD = VERSION_OVERHEAD_BYTES;

export class StateMachine {
  readonly kv: MvccStore;
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  /** Users, roles and permissions (replicated). */
  readonly auth = new AuthStore();
  /** This member's auth tokens (not replicated as state: each member registers them as it applies logins). */
  readonly tokens: TokenProvider;
  clusterId: bigint;
  memberId: bigint;
  /** Term written into response headers (the server keeps it current). */
  raftTerm = 0;
  private consistentIdx = 0;
  /** Active alarms, keyed `${alarm}/${memberID}`. */
  private readonly alarmMap = new Map<string, AlarmMember>();
  private readonly quota: number;
  private readonly maxTxnOps: number;

  constructor(readonly opts: StateMachineOptions = {}) {
    this.kv = new MvccStore();
    this.watchable = new WatchableStore(this.kv, opts.watch);
    this.lessor = new Lessor({ now: opts.now, minTtl: opts.minLeaseTtl });
    this.tokens = opts.tokens ?? new SimpleTokens(opts.authTokenTtlMs ?? 300_000, opts.now);
    this.clusterId = opts.clusterId ?? 0n;
    this.memberId = opts.memberId ?? 0n;
    const q = opts.quotaBackendBytes ?? 0;
    this.quota = q === 0 ? DEFAULT_QUOTA_BYTES : q < 0 ? Infinity : q;
    this.maxTxnOps = opts.maxTxnOps ?? 128;
  }

  /** The Raft index of the last applied entry; entries at or below it are skipped on replay. */
  consistentIndex(): number {
    return this.consistentIdx;
  }

  /** The store's current revision. */
  revision(): number {
    return this.kv.rev();
  }

  /** Applies one committed entry's request. Client errors come back as `error`; a bug throws. */
  apply(index: number, req: RaftRequest): ApplyResult {
    if (index <= this.consistentIdx) return { kind: 'skipped' };
    this.consistentIdx = index;
    try {
      if (this.auth.enabled) this.checkPermission(req);
      if ('authenticate' in req)
        return { kind: 'response', response: this.applyAuthenticate(index, req.authenticate) };
      return { kind: 'response', response: this.applyRequest(req) };
    } catch (err) {
      return { kind: 'error', error: toEtcdError(err) };
    }
  }

  /** Advances the consistent index without a request (entries that carry nothing for the state machine). */
  skipTo(index: number): void {
    if (index > this.consistentIdx) this.consistentIdx = index;
  }

  /**
   * The checks etcd's API layer makes before proposing (empty key, txn op count, duplicate keys, ignore_*
   * misuse). apply() checks again, so a bad entry in the log is still answered with the same error.
   */
  validate(req: RaftRequest): EtcdError | undefined {
    if ('put' in req) return checkPut(req.put);
    if ('deleteRange' in req) return checkDelete(req.deleteRange);
    if ('txn' in req) return checkTxn(req.txn, this.maxTxnOps);
    return undefined;
  }

  /** A read, served locally (after ReadIndex for linearizable reads). Throws EtcdError. */
  range(req: RangeRequest): RangeResponse {
    const err = checkRange(req);
    if (err) throw err;
    if (this.hasAlarm(AlarmType.CORRUPT)) throw Errors.corrupt();
    try {
      const resp = this.doRange(undefined, req);
      resp.header = this.header(resp.header.revision);
      return resp;
    } catch (e) {
      throw toEtcdError(e);
    }
  }

  /** True if both branches of the txn (nested txns included) hold only ranges: a read, not a write. */
  isReadOnlyTxn(t: TxnRequest): boolean {
    return txnReadOnly(t);
  }

  /** Serves a read-only txn locally (after ReadIndex, like range). Throws EtcdError. */
  txnReadOnly(t: TxnRequest): TxnResponse {
    if (!txnReadOnly(t)) throw new Error('apply: txnReadOnly called with a txn that writes');
    try {
      return this.applyTxn(t);
    } catch (err) {
      throw toEtcdError(err);
    }
  }

  /**
   * True if the request fits in the quota (etcd's quota check before proposing). When it does not, the
   * server should propose an Alarm ACTIVATE NOSPACE for its member and answer Errors.noSpace().
   */
  quotaAvailable(req: RaftRequest): boolean {
    const cost = requestCost(req);
    return cost === 0 || this.kv.size() + cost <= this.quota;
  }

  newWatchStream(opts: WatchStreamOptions): WatchStream {
    return this.watchable.newWatchStream(opts);
  }

  /** LeaseTimeToLive; a missing lease answers TTL -1 (as etcd's gRPC layer does). */
  leaseTimeToLive(req: LeaseTimeToLiveRequest): LeaseTimeToLiveResponse {
    const t = this.lessor.timeToLive(req.ID);
    if (!t) return { header: this.header(), ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
    return {
      header: this.header(),
      ID: req.ID,
      TTL: t.ttl,
      grantedTTL: t.grantedTtl,
      keys: req.keys ? t.keys : [],
    };
  }

  leaseLeases(): LeaseLeasesResponse {
    return { header: this.header(), leases: this.lessor.list().map((ID) => ({ ID })) };
  }

  /** Keep-alive on the leader (not through Raft): the TTL in seconds. Throws EtcdError (not found / not leader). */
  leaseRenew(id: bigint): number {
    try {
      return this.lessor.renew(id);
    } catch (err) {
      throw toEtcdError(err);
    }
  }

  /** Active alarms, ordered by alarm type then member. */
  alarms(): AlarmMember[] {
    return [...this.alarmMap.values()]
      .sort((a, b) => a.alarm - b.alarm || (a.memberID < b.memberID ? -1 : a.memberID > b.memberID ? 1 : 0))
      .map((a) => ({ ...a }));
  }

  /** etcd 3.4's HashKV of the key space up to `revision` (0 = current; see MvccStore.hashKV). Throws EtcdError. */
  hashKV(revision = 0): {
    hash: number;
    compactRevision: number;
    hashRevision: number;
    currentRevision: number;
  } {
    try {
      return this.kv.hashKV(revision);
    } catch (err) {
      throw toEtcdError(err);
    }
  }

  /** hashKV without holding the event loop (the state is captured when called). Rejects with EtcdError. */
  async hashKVAsync(
    revision = 0,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; currentRevision: number }> {
    try {
      return await this.kv.hashKVAsync(revision);
    } catch (err) {
      throw toEtcdError(err);
    }
  }

  /** Estimated bytes held (reported as dbSize). */
  dbSize(): number {
    return this.kv.size();
  }

  header(revision = this.kv.rev()): ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.raftTerm };
  }

  /**
   * The whole state (consistent index, alarms, leases, key space with history) as chunks of about
   * `chunkBytes`; restore() takes their concatenation. Format in README.md. The state is captured when
   * this is called: the chunks may be pulled across event-loop turns (yielding between them keeps a big
   * snapshot from stalling Raft heartbeats) while entries keep being applied.
   */
  snapshot(chunkBytes = 1 << 20): Generator<Buffer> {
    const auth = this.auth.isEmpty() ? undefined : this.auth.dump();
    const meta = snapshotMeta(this.consistentIdx, this.alarms(), this.lessor.dump(), auth);
    return framedSnapshot(meta, this.kv.serialize(chunkBytes));
  }

  /** The state a snapshot holds, as plain values (for a backup in etcd's own file format). */
  dump(): StateDump {
    return {
      consistentIndex: this.consistentIdx,
      alarms: this.alarms(),
      leases: this.lessor.dump(),
      currentRev: this.kv.rev(),
      compactRev: this.kv.compactRevision(),
      versions: this.kv.versions(),
      auth: this.auth.isEmpty() ? undefined : this.auth.dump(),
    };
  }

  /**
   * Replaces the whole state with a dumped one (e.g. read from an etcd backup), through the snapshot format
   * and restore(), so it is checked the same way.
   */
  load(d: StateDump): void {
    const meta = snapshotMeta(d.consistentIndex, d.alarms, d.leases, d.auth);
    const kv = MvccStore.encode(d.currentRev, d.compactRev, d.versions);
    this.restore(Buffer.concat([...framedSnapshot(meta, [kv])]));
  }

  /** Replaces the whole state with a snapshot. Watch streams stay open: their watchers catch up or are canceled. */
  restore(data: Buffer): void {
    const footLen = SNAP_FOOTER.length + 4;
    if (data.length < SNAP_MAGIC.length + footLen) throw new Error('apply: snapshot too short');
    const foot = data.subarray(data.length - footLen);
    if (!foot.subarray(0, SNAP_FOOTER.length).equals(SNAP_FOOTER))
      throw new Error('apply: snapshot: bad footer');
    const body = data.subarray(0, data.length - footLen);
    if (crc32(body) >>> 0 !== foot.readUInt32BE(SNAP_FOOTER.length))
      throw new Error('apply: snapshot: checksum mismatch');
    const r = new BinaryReader(body);
    if (!r.raw(SNAP_MAGIC.length).equals(SNAP_MAGIC)) throw new Error('apply: snapshot: bad magic');
    const mr = new BinaryReader(r.bytes());
    const consistentIdx = mr.uvarint();
    const alarms: AlarmMember[] = [];
    for (let n = mr.uvarint(), i = 0; i < n; i++) alarms.push({ memberID: mr.u64(), alarm: mr.uvarint() });
    const prevRev = this.kv.rev();
    this.kv.restore(body.subarray(r.offset));
    this.lessor.restore(mr);
    // Snapshots without users, roles or auth on end here (and all snapshots older than auth did).
    const auth = mr.remaining > 0 ? AuthStore.read(mr) : new AuthStore().dump();
    if (mr.remaining !== 0) throw new Error('apply: snapshot: trailing meta bytes');
    this.auth.load(auth);
    this.consistentIdx = consistentIdx;
    this.alarmMap.clear();
    for (const a of alarms) this.alarmMap.set(`${a.alarm}/${a.memberID}`, a);
    // Attached keys are not stored twice: every live key names its lease.
    for (const kv of this.kv.range(Buffer.from([0]), Buffer.alloc(0)).kvs) {
      if (kv.lease !== NO_LEASE && this.lessor.lookup(kv.lease)) this.lessor.attach(kv.lease, kv.key);
    }
    this.watchable.resync(prevRev);
  }

  // --- applying ---

  private applyRequest(req: RaftRequest): RaftResponse {
    if ('put' in req) return this.applyPut(req.put);
    if ('deleteRange' in req) return this.applyDeleteRange(req.deleteRange);
    if ('txn' in req) return this.applyTxn(req.txn);
    if ('compaction' in req) return this.applyCompaction(req.compaction);
    if ('leaseGrant' in req) return this.applyLeaseGrant(req.leaseGrant);
    if ('leaseRevoke' in req) return this.applyLeaseRevoke(req.leaseRevoke);
    if ('leaseCheckpoint' in req) {
      for (const c of req.leaseCheckpoint.checkpoints) this.lessor.checkpoint(c.ID, c.remainingTTL);
      return {};
    }
    if ('alarm' in req) return this.applyAlarm(req.alarm);
    if ('noop' in req) return {};
    return this.applyAuthChange(req);
  }

  // --- authentication ---

  /**
   * etcd's checks when auth is on, made on the state this entry is applied to: admin requests need the root
   * role; writes need write permission on their keys (and read permission for prev_kv and txn compares);
   * revoking a lease, or attaching one, needs write permission on the keys it holds.
   */
  checkPermission(req: RaftRequest): void {
    const who = req.requester;
    if ('put' in req) this.checkPutAllowed(who, req.put);
    else if ('deleteRange' in req) this.checkDeleteAllowed(who, req.deleteRange);
    else if ('txn' in req) this.checkTxnAllowed(who, req.txn);
    else if ('leaseRevoke' in req) this.checkLeaseKeys(who, req.leaseRevoke.ID);
    else if (Object.keys(req).some((k) => k.startsWith('authUser') || k.startsWith('authRole')))
      this.auth.checkAdmin(who);
    else if ('authEnable' in req || 'authDisable' in req) this.auth.checkAdmin(who);
  }

  private checkPutAllowed(who: AuthInfo | undefined, p: PutRequest): void {
    this.auth.checkWrite(who, p.key);
    if (p.lease) this.checkLeaseKeys(who, p.lease);
    if (p.prevKv) this.auth.checkRead(who, p.key);
  }

  private checkDeleteAllowed(who: AuthInfo | undefined, d: DeleteRangeRequest): void {
    this.auth.checkWrite(who, d.key, d.rangeEnd);
    if (d.prevKv) this.auth.checkRead(who, d.key, d.rangeEnd);
  }

  private checkTxnAllowed(who: AuthInfo | undefined, t: TxnRequest): void {
    for (const c of t.compare ?? []) this.auth.checkRead(who, c.key, c.rangeEnd);
    for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
      if ('requestRange' in op) this.auth.checkRead(who, op.requestRange.key, op.requestRange.rangeEnd);
      else if ('requestPut' in op) this.checkPutAllowed(who, op.requestPut);
      else if ('requestDeleteRange' in op) this.checkDeleteAllowed(who, op.requestDeleteRange);
      else if ('requestTxn' in op) this.checkTxnAllowed(who, op.requestTxn);
    }
  }

  private checkLeaseKeys(who: AuthInfo | undefined, id: bigint): void {
    const lease = this.lessor.lookup(id);
    if (lease) for (const key of lease.keys.values()) this.auth.checkWrite(who, key);
  }

  /** A login: the proposing member checked the password; the user must still be there when it applies. */
  private applyAuthenticate(index: number, a: { name: string; simpleToken: string }): { token: string } {
    if (!this.auth.enabled) throw AuthErrors.authNotEnabled();
    if (!this.auth.hasUser(a.name)) throw AuthErrors.authFailed();
    return { token: this.tokens.assign(a.simpleToken, index, a.name, this.auth.revision) };
  }

  private applyAuthChange(req: RaftRequest): Record<string, never> {
    const a = this.auth;
    if ('authEnable' in req) a.enable();
    else if ('authDisable' in req) {
      a.disable();
      this.tokens.clear();
    } else if ('authUserAdd' in req) {
      const u = req.authUserAdd;
      a.userAdd(u.name, u.hashedPassword ?? '', !!u.noPassword);
    } else if ('authUserDelete' in req) {
      a.userDelete(req.authUserDelete.name);
      this.tokens.invalidateUser(req.authUserDelete.name);
    } else if ('authUserChangePassword' in req) {
      a.userChangePassword(req.authUserChangePassword.name, req.authUserChangePassword.hashedPassword);
      this.tokens.invalidateUser(req.authUserChangePassword.name);
    } else if ('authUserGrantRole' in req)
      a.userGrantRole(req.authUserGrantRole.user, req.authUserGrantRole.role);
    else if ('authUserRevokeRole' in req)
      a.userRevokeRole(req.authUserRevokeRole.user, req.authUserRevokeRole.role);
    else if ('authRoleAdd' in req) a.roleAdd(req.authRoleAdd.name);
    else if ('authRoleDelete' in req) a.roleDelete(req.authRoleDelete.name);
    else if ('authRoleGrantPermission' in req) {
      const p = req.authRoleGrantPermission.perm;
      a.roleGrantPermission(req.authRoleGrantPermission.name, {
        permType: p.permType ?? 0,
        key: p.key ?? EMPTY,
        rangeEnd: p.rangeEnd ?? EMPTY,
      });
    } else if ('authRoleRevokePermission' in req) {
      const r = req.authRoleRevokePermission;
      a.roleRevokePermission(r.role, r.key ?? EMPTY, r.rangeEnd ?? EMPTY);
    } else throw Errors.unknownMethod();
    return {};
  }

  private hasAlarm(type: number): boolean {
    for (const a of this.alarmMap.values()) if (a.alarm === type) return true;
    return false;
  }

  /** The NOSPACE rule: while the alarm is active, or if this request would pass the quota, writes that grow the store fail. */
  private checkSpace(req: RaftRequest): void {
    if (this.hasAlarm(AlarmType.CORRUPT)) throw Errors.corrupt();
    const cost = requestCost(req);
    if (cost === 0) return;
    if (this.hasAlarm(AlarmType.NOSPACE) || this.kv.size() + cost > this.quota) throw Errors.noSpace();
  }

  private applyPut(p: PutRequest): PutResponse {
    const err = checkPut(p);
    if (err) throw err;
    this.checkSpace({ put: p });
    this.checkPutPreconditions(p, true);
    const txn = this.kv.write();
    try {
      const resp = this.put(txn, p);
      resp.header = this.header(resp.header.revision);
      return resp;
    } finally {
      txn.end();
    }
  }

  /**
   * ignore_value/ignore_lease need an existing key and the lease must exist, checked before any write.
   * etcd checks the lease first for a plain put and last for a put inside a txn.
   */
  private checkPutPreconditions(p: PutRequest, leaseFirst = false): void {
    const lease = p.lease ?? NO_LEASE;
    const leaseMissing = lease !== NO_LEASE && !this.lessor.lookup(lease);
    if (leaseFirst && leaseMissing) throw Errors.leaseNotFound();
    if ((p.ignoreValue || p.ignoreLease) && this.kv.range(p.key, undefined).kvs.length === 0)
      throw Errors.keyNotFound();
    if (leaseMissing) throw Errors.leaseNotFound();
  }

  private put(txn: WriteTxn, p: PutRequest): PutResponse {
    let value = p.value ?? EMPTY;
    let lease = p.lease ?? NO_LEASE;
    let prev: KeyValue | undefined;
    if (p.ignoreValue || p.ignoreLease || p.prevKv) prev = txn.range(p.key, undefined).kvs[0];
    if (p.ignoreValue || p.ignoreLease) {
      // checkPutPreconditions ran against the same state: the key must be there.
      if (!prev) throw new Error('apply: ignore_* put on a missing key passed the precondition check');
      if (p.ignoreValue) value = prev.value;
      if (p.ignoreLease) lease = prev.lease;
    }
    const { rev, prev: old } = txn.put(p.key, value, lease);
    if (old && old.lease !== NO_LEASE) this.lessor.detach(old.lease, old.key);
    if (lease !== NO_LEASE) this.lessor.attach(lease, p.key);
    return { header: innerHeader(rev), prevKv: p.prevKv && prev ? prev : null };
  }

  private applyDeleteRange(d: DeleteRangeRequest): DeleteRangeResponse {
    const err = checkDelete(d);
    if (err) throw err;
    if (this.hasAlarm(AlarmType.CORRUPT)) throw Errors.corrupt();
    const txn = this.kv.write();
    try {
      const resp = this.deleteRange(txn, d);
      resp.header = this.header(resp.header.revision);
      return resp;
    } finally {
      txn.end();
    }
  }

  private deleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
    const { deleted, rev } = txn.deleteRange(d.key, gteRange(d.rangeEnd));
    for (const kv of deleted) if (kv.lease !== NO_LEASE) this.lessor.detach(kv.lease, kv.key);
    return { header: innerHeader(rev), deleted: deleted.length, prevKvs: d.prevKv ? deleted : [] };
  }

  /** etcd's applierV3backend.Range: filters, sorting and limit over the mvcc range. */
  private doRange(txn: WriteTxn | undefined, r: RangeRequest): RangeResponse {
    const minMod = r.minModRevision ?? 0;
    const maxMod = r.maxModRevision ?? 0;
    const minCreate = r.minCreateRevision ?? 0;
    const maxCreate = r.maxCreateRevision ?? 0;
    const reqLimit = r.limit ?? 0;
    let limit = reqLimit;
    // etcd decides on the request's own sort order here (before the default below): a sort by a non-key
    // target without an order still gets the limit pushed down.
    if (
      (r.sortOrder ?? 0) !== SortOrder.NONE ||
      minMod !== 0 ||
      maxMod !== 0 ||
      minCreate !== 0 ||
      maxCreate !== 0
    )
      limit = 0;
    if (limit > 0) limit++;
    const opts = { limit, rev: r.revision ?? 0, count: !!r.countOnly };
    const end = gteRange(r.rangeEnd);
    const rr: RangeResult = txn ? txn.range(r.key, end, opts) : this.kv.range(r.key, end, opts);
    let kvs = rr.kvs;
    if (maxMod !== 0) kvs = kvs.filter((kv) => kv.modRevision <= maxMod);
    if (minMod !== 0) kvs = kvs.filter((kv) => kv.modRevision >= minMod);
    if (maxCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision <= maxCreate);
    if (minCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision >= minCreate);
    let order = r.sortOrder ?? SortOrder.NONE;
    const target = r.sortTarget ?? SortTarget.KEY;
    if (target !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
    if (order !== SortOrder.NONE) {
      const cmp = comparator(target);
      kvs = kvs === rr.kvs ? kvs.slice() : kvs;
      kvs.sort(order === SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
    }
    let more = false;
    if (reqLimit > 0 && kvs.length > reqLimit) {
      kvs = kvs.slice(0, reqLimit);
      more = true;
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { header: innerHeader(rr.rev), kvs, more, count: rr.count };
  }

  private applyTxn(t: TxnRequest): TxnResponse {
    const err = checkTxn(t, this.maxTxnOps);
    if (err) throw err;
    this.checkSpace({ txn: t });
    const isWrite = !txnReadOnly(t);
    // Compares of nested txns are evaluated against the state before the txn, as etcd does.
    const path = this.txnPath(t);
    if (isWrite) {
      // A put with ignore_* after a delete of its key in the same txn (possible with a from-key delete,
      // which etcd's duplicate check lets through) would find no key mid-txn; etcd 3.4 panics there.
      // We refuse the txn up front instead.
      const deleted: { key: Buffer; end: RangeEnd }[] = [];
      this.forEachOnPath(t, path, (op) => {
        if ('requestDeleteRange' in op)
          deleted.push({ key: op.requestDeleteRange.key, end: gteRange(op.requestDeleteRange.rangeEnd) });
        if (!('requestPut' in op)) return;
        const p = op.requestPut;
        this.checkPutPreconditions(p);
        if ((p.ignoreValue || p.ignoreLease) && deleted.some((d) => inRange(p.key, d.key, d.end)))
          throw Errors.keyNotFound();
      });
    }
    this.forEachOnPath(t, path, (op) => {
      if (!('requestRange' in op)) return;
      const rev = op.requestRange.revision ?? 0;
      if (rev === 0) return;
      if (rev > this.kv.rev()) throw Errors.futureRev();
      if (rev < this.kv.compactRevision()) throw Errors.compacted();
    });
    if (this.hasAlarm(AlarmType.CORRUPT)) throw Errors.corrupt();
    const txn = this.kv.write();
    let resp: TxnResponse;
    try {
      const cursor = { i: 0 };
      resp = this.execTxn(txn, t, path, cursor);
      resp.header = this.header(txn.rev());
    } finally {
      txn.end();
    }
    return resp;
  }

  /** The branch taken by the txn and each nested txn on it, in execution order. */
  private txnPath(t: TxnRequest): boolean[] {
    const ok = (t.compare ?? []).every((c) => this.compare(c));
    const path = [ok];
    for (const op of (ok ? t.success : t.failure) ?? [])
      if ('requestTxn' in op) path.push(...this.txnPath(op.requestTxn));
    return path;
  }

  private forEachOnPath(t: TxnRequest, path: boolean[], fn: (op: RequestOp) => void): void {
    const walk = (tx: TxnRequest, cursor: { i: number }) => {
      const ok = path[cursor.i++]!;
      for (const op of (ok ? tx.success : tx.failure) ?? []) {
        if ('requestTxn' in op) walk(op.requestTxn, cursor);
        else fn(op);
      }
    };
    walk(t, { i: 0 });
  }

  private execTxn(txn: WriteTxn, t: TxnRequest, path: boolean[], cursor: { i: number }): TxnResponse {
    const ok = path[cursor.i++]!;
    const responses: ResponseOp[] = [];
    for (const op of (ok ? t.success : t.failure) ?? []) {
      if ('requestRange' in op) responses.push({ responseRange: this.doRange(txn, op.requestRange) });
      else if ('requestPut' in op) responses.push({ responsePut: this.put(txn, op.requestPut) });
      else if ('requestDeleteRange' in op)
        responses.push({ responseDeleteRange: this.deleteRange(txn, op.requestDeleteRange) });
      else if ('requestTxn' in op)
        responses.push({ responseTxn: this.execTxn(txn, op.requestTxn, path, cursor) });
    }
    // Nested txn responses carry an empty header in etcd; the top level's is filled by the caller.
    return { header: innerHeader(0), succeeded: ok, responses };
  }

  private compare(c: Compare): boolean {
    const kvs = this.kv.range(c.key, gteRange(c.rangeEnd)).kvs;
    if (kvs.length === 0) {
      // A missing key has no value to compare: etcd fails every VALUE compare on it.
      if (c.target === CompareTarget.VALUE) return false;
      return compareKV(c, ZERO_KV);
    }
    return kvs.every((kv) => compareKV(c, kv));
  }

  private applyCompaction(c: CompactionRequest): CompactionResponse {
    this.kv.compact(c.revision);
    return { header: this.header() };
  }

  private applyLeaseGrant(g: LeaseGrantRequest): LeaseGrantResponse {
    this.checkSpace({ leaseGrant: g });
    const l = this.lessor.grant(g.ID, g.TTL);
    return { header: this.header(), ID: l.id, TTL: l.ttl, error: '' };
  }

  private applyLeaseRevoke(r: LeaseRevokeRequest): LeaseRevokeResponse {
    const keys = this.lessor.revoke(r.ID);
    if (keys.length > 0) {
      const txn = this.kv.write();
      try {
        for (const k of keys) txn.deleteRange(k, undefined);
      } finally {
        txn.end();
      }
    }
    return { header: this.header() };
  }

  private applyAlarm(a: AlarmRequest): AlarmResponse {
    const alarms: AlarmMember[] = [];
    const key = `${a.alarm}/${a.memberID}`;
    switch (a.action) {
      case AlarmAction.GET:
        for (const m of this.alarms()) if (a.alarm === AlarmType.NONE || m.alarm === a.alarm) alarms.push(m);
        break;
      case AlarmAction.ACTIVATE: {
        if (a.alarm === AlarmType.NONE) break;
        let m = this.alarmMap.get(key);
        if (!m) this.alarmMap.set(key, (m = { memberID: a.memberID, alarm: a.alarm }));
        alarms.push({ ...m });
        break;
      }
      case AlarmAction.DEACTIVATE: {
        const m = this.alarmMap.get(key);
        if (!m) break;
        this.alarmMap.delete(key);
        alarms.push({ ...m });
        break;
      }
    }
    return { header: this.header(), alarms };
  }
}

const EMPTY = Buffer.alloc(0);
const ZERO_KV: KeyValue = {
  key: EMPTY,
  createRevision: 0,
  modRevision: 0,
  version: 0,
  value: EMPTY,
  lease: 0n,
};
const SNAP_MAGIC = Buffer.from('EKLSNAP1');
const SNAP_FOOTER = Buffer.from('EKLSEND1');

/** A snapshot's meta section: consistent index, alarms, leases (format in README.md). */
function snapshotMeta(
  consistentIndex: number,
  alarms: AlarmMember[],
  leases: { id: bigint; ttl: number; remainingTtl: number }[],
  auth: AuthDump | undefined,
): Buffer {
  const meta = new BinaryWriter();
  meta.uvarint(consistentIndex);
  meta.uvarint(alarms.length);
  for (const a of alarms) meta.u64(a.memberID).uvarint(a.alarm);
  Lessor.writeLeases(meta, leases);
  if (auth) AuthStore.write(meta, auth);
  return meta.finish();
}

/** The snapshot's chunks: magic and meta, the key space's chunks, then the footer with their CRC. */
function* framedSnapshot(meta: Buffer, kv: Iterable<Buffer>): Generator<Buffer> {
  let chunk = new BinaryWriter().raw(SNAP_MAGIC).bytes(meta).finish();
  let crc = crc32(chunk);
  yield chunk;
  for (chunk of kv) {
    crc = crc32(chunk, crc);
    yield chunk;
  }
  const foot = Buffer.alloc(SNAP_FOOTER.length + 4);
  SNAP_FOOTER.copy(foot);
  foot.writeUInt32BE(crc >>> 0, SNAP_FOOTER.length);
  yield foot;
}

/** Headers of responses inside a txn carry only the revision, as etcd's. */
function innerHeader(revision: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0 };
}

/** etcd's mkGteRange: range_end "\0" means every key >= key (our empty end); empty means the single key. */
function gteRange(end: Buffer | undefined): RangeEnd {
  if (!end || end.length === 0) return undefined;
  if (end.length === 1 && end[0] === 0) return EMPTY;
  return end;
}

function inRange(k: Buffer, key: Buffer, end: RangeEnd): boolean {
  if (end === undefined) return k.equals(key);
  return Buffer.compare(k, key) >= 0 && (end.length === 0 || Buffer.compare(k, end) < 0);
}

function txnReadOnly(t: TxnRequest): boolean {
  for (const op of t.success ?? []) if (!('requestRange' in op)) return false;
  for (const op of t.failure ?? []) if (!('requestRange' in op)) return false;
  return true;
}

function cmpNum(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareKV(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = Buffer.compare(kv.value, c.value ?? EMPTY);
      break;
    case CompareTarget.CREATE:
      result = cmpNum(kv.createRevision, c.createRevision ?? 0);
      break;
    case CompareTarget.MOD:
      result = cmpNum(kv.modRevision, c.modRevision ?? 0);
      break;
    case CompareTarget.VERSION:
      result = cmpNum(kv.version, c.version ?? 0);
      break;
    case CompareTarget.LEASE:
      result = cmpNum(kv.lease, c.lease ?? 0n);
      break;
    default:
      return true;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

function comparator(target: number): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

/** etcd's quota cost: bytes a request adds (puts, lease grants); 0 for requests that never grow the store. */
function requestCost(req: RaftRequest): number {
  if ('put' in req) return putCost(req.put);
  if ('txn' in req) return txnCost(req.txn);
  if ('leaseGrant' in req) return LEASE_COST;
  return 0;
}

function putCost(p: PutRequest): number {
  return p.key.length + (p.value?.length ?? 0) + PUT_OVERHEAD;
}

function txnCost(t: TxnRequest): number {
  const branch = (ops: RequestOp[] | undefined) => {
    let n = 0;
    for (const op of ops ?? []) {
      if ('requestPut' in op) n += putCost(op.requestPut);
      else if ('requestTxn' in op) n += txnCost(op.requestTxn);
    }
    return n;
  };
  return Math.max(branch(t.success), branch(t.failure));
}
