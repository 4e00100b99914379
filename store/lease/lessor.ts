// The lessor: leases with TTLs and their attached keys. Grant/revoke/attach are replicated (applied from
// the Raft log on every member); expiry is judged only by the primary (the leader) from an injected clock.
import { BinaryReader, BinaryWriter, keyString } from '../mvcc/index.js';

export type LeaseErrorKind = 'not-found' | 'exists' | 'ttl-too-large' | 'not-primary';

export class LeaseError extends Error {
  constructor(
    readonly kind: LeaseErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'LeaseError';
  }
}

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;
/** etcd revokes at most this many expired leases per second (leaseRevokeRate). */
export const LEASE_REVOKE_RATE = 1000;
/** An expired lease handed out for revocation is not handed out again for this long (expiredLeaseRetryInterval). */
export const EXPIRED_RETRY_MS = 3000;
/** No lease: 0. */
export const NO_LEASE = 0n;

export interface Lease {
  readonly id: bigint;
  /** Granted TTL in seconds (after raising it to the minimum). */
  readonly ttl: number;
  /** Remaining TTL in seconds recorded by a checkpoint (0 = none); used when a new leader promotes. */
  remainingTtl: number;
  /** ms since epoch on the primary's clock; Infinity on a non-primary (followers never expire leases). */
  expiry: number;
  /** When an expired lease may be handed out for revocation again (primary only). */
  retryAt: number;
  /** Attached keys, as latin1 strings (byte order). */
  readonly keys: Map<string, Buffer>;
}

export interface LessorOptions {
  /** The clock, in ms. Injected so tests control time. */
  now?: () => number;
  /** Minimum TTL in seconds (etcd: ceil(1.5 × election timeout) = 2 s with default timing). */
  minTtl?: number;
}

export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  private primary = false;
  private readonly now: () => number;
  readonly minTtl: number;

  constructor(opts: LessorOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.minTtl = opts.minTtl ?? 2;
  }

  isPrimary(): boolean {
    return this.primary;
  }

  /** Creates a lease (replicated). The id is chosen before proposing, so every member uses the same one. */
  grant(id: bigint, ttl: number): Lease {
    if (id === NO_LEASE) throw new LeaseError('not-found', 'lease: requested lease not found');
    if (ttl > MAX_LEASE_TTL) throw new LeaseError('ttl-too-large', 'lease: too large lease TTL');
    if (this.leases.has(id)) throw new LeaseError('exists', 'lease: lease already exists');
    const l: Lease = {
      id,
      ttl: Math.max(ttl, this.minTtl),
      remainingTtl: 0,
      expiry: Infinity,
      retryAt: 0,
      keys: new Map(),
    };
    if (this.primary) l.expiry = this.now() + l.ttl * 1000;
    this.leases.set(id, l);
    return l;
  }

  /** Removes a lease (replicated); returns its keys in byte order, which the caller deletes in one revision. */
  revoke(id: bigint): Buffer[] {
    const l = this.leases.get(id);
    if (!l) throw new LeaseError('not-found', 'lease: requested lease not found');
    this.leases.delete(id);
    return [...l.keys.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  }

  lookup(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** Attaches a key to a lease (on put). The caller checked that the lease exists. */
  attach(id: bigint, key: Buffer): void {
    if (id === NO_LEASE) return;
    const l = this.leases.get(id);
    if (!l) throw new LeaseError('not-found', 'lease: requested lease not found');
    l.keys.set(keyString(key), key);
  }

  /** Detaches a key from a lease (on put with another lease, or delete). Unknown leases are ignored. */
  detach(id: bigint, key: Buffer): void {
    if (id === NO_LEASE) return;
    this.leases.get(id)?.keys.delete(keyString(key));
  }

  /** Keep-alive (primary only, not through Raft): restarts the TTL; returns it in seconds. */
  renew(id: bigint): number {
    if (!this.primary) throw new LeaseError('not-primary', 'lease: not a primary lessor');
    const l = this.leases.get(id);
    // An expired lease is about to be revoked through Raft: renewing it would resurrect it on this leader only.
    if (!l || l.expiry <= this.now()) throw new LeaseError('not-found', 'lease: requested lease not found');
    l.remainingTtl = 0;
    l.expiry = this.now() + l.ttl * 1000;
    l.retryAt = 0;
    return l.ttl;
  }

  /**
   * Remaining TTL (seconds, truncated like etcd), granted TTL and keys; undefined if there is no such lease.
   * Only the primary knows the real remaining time: elsewhere it answers the checkpointed or granted TTL.
   */
  timeToLive(id: bigint): { ttl: number; grantedTtl: number; keys: Buffer[] } | undefined {
    const l = this.leases.get(id);
    if (!l) return undefined;
    let ttl: number;
    if (l.expiry === Infinity) ttl = l.remainingTtl > 0 ? l.remainingTtl : l.ttl;
    else ttl = Math.max(0, Math.trunc((l.expiry - this.now()) / 1000));
    const keys = [...l.keys.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map((e) => e[1]);
    return { ttl, grantedTtl: l.ttl, keys };
  }

  /** Every lease id, ascending. */
  list(): bigint[] {
    return [...this.leases.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  get size(): number {
    return this.leases.size;
  }

  /**
   * Leases the primary should revoke through Raft now, earliest first, at most `limit` (etcd revokes
   * 1000/s and checks every 500 ms, so 500 per call). A lease handed out is not handed out again for
   * EXPIRED_RETRY_MS, so a lost proposal is retried without flooding the log.
   */
  expired(limit = LEASE_REVOKE_RATE / 2): bigint[] {
    if (!this.primary) return [];
    const now = this.now();
    const due: Lease[] = [];
    for (const l of this.leases.values()) if (l.expiry <= now && l.retryAt <= now) due.push(l);
    due.sort((a, b) => a.expiry - b.expiry || (a.id < b.id ? -1 : 1));
    const out = due.slice(0, limit);
    for (const l of out) l.retryAt = now + EXPIRED_RETRY_MS;
    return out.map((l) => l.id);
  }

  /**
   * Becoming leader: every lease gets a full TTL again plus `extendMs` (so an election never expires
   * leases), and expiries are spread so that no more than 3/4 of the revoke rate fall in one second.
   */
  promote(extendMs = 0): void {
    this.primary = true;
    const now = this.now();
    const all = [...this.leases.values()];
    for (const l of all) {
      const ttl = l.remainingTtl > 0 ? l.remainingTtl : l.ttl;
      l.expiry = now + ttl * 1000 + extendMs;
      l.retryAt = 0;
    }
    if (all.length <= 1) return;
    all.sort((a, b) => a.expiry - b.expiry);
    const perSecond = Math.floor((3 * LEASE_REVOKE_RATE) / 4);
    // Walk the leases in expiry order keeping one-second windows: once a window is full, push the
    // lease just far enough that the window's rate stays at perSecond.
    let windowStart = all[0]!.expiry;
    let windowEnd = windowStart + 1000;
    let inWindow = 0;
    for (const l of all) {
      if (l.expiry > windowEnd) {
        windowStart = l.expiry;
        windowEnd = windowStart + 1000;
        inWindow = 1;
        continue;
      }
      inWindow++;
      if (inWindow <= perSecond) continue;
      const delay = (1000 * inWindow) / perSecond - (l.expiry - windowStart);
      windowEnd = windowStart + delay;
      l.expiry += Math.max(0, Math.ceil(delay));
    }
  }

  /** Losing leadership: stop expiring leases. */
  demote(): void {
    this.primary = false;
    for (const l of this.leases.values()) l.expiry = Infinity;
  }

  /** Records checkpointed remaining TTLs (replicated; LeaseCheckpoint). Unknown leases are ignored. */
  checkpoint(id: bigint, remainingTtl: number): void {
    const l = this.leases.get(id);
    if (l) l.remainingTtl = remainingTtl;
  }

  /** The replicated part of every lease (what serialize() writes), ids in list() order. */
  dump(): { id: bigint; ttl: number; remainingTtl: number }[] {
    return this.list().map((id) => {
      const l = this.leases.get(id)!;
      return { id, ttl: l.ttl, remainingTtl: l.remainingTtl };
    });
  }

  /** The replicated part of the lessor (ids, TTLs, checkpoints). Keys are rebuilt from the key space. */
  serialize(w: BinaryWriter): void {
    Lessor.writeLeases(w, this.dump());
  }

  /** The serialized form of a list of leases (what serialize() writes and restore() reads). */
  static writeLeases(w: BinaryWriter, leases: { id: bigint; ttl: number; remainingTtl: number }[]): void {
    w.uvarint(leases.length);
    for (const l of leases) w.i64(l.id).uvarint(l.ttl).uvarint(l.remainingTtl);
  }

  /** Replaces all leases with serialized ones (keys empty: re-attach them from the key space). */
  restore(r: BinaryReader): void {
    this.leases.clear();
    const n = r.uvarint();
    for (let i = 0; i < n; i++) {
      const id = r.i64();
      const ttl = r.uvarint();
      const remainingTtl = r.uvarint();
      const l: Lease = { id, ttl, remainingTtl, expiry: Infinity, retryAt: 0, keys: new Map() };
      if (this.primary) l.expiry = this.now() + (remainingTtl > 0 ? remainingTtl : ttl) * 1000;
      this.leases.set(id, l);
    }
  }
}

/**
 * Lease ids for LeaseGrant requests with ID 0, picked by the proposing server: the member id's low 16 bits,
 * then a 40-bit millisecond timestamp and 8-bit counter at start, incremented per id. Unique across
 * members and restarts (as etcd's idutil), positive (63 bits) and never 0.
 */
export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number = Date.now()) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(Math.trunc(nowMs)) & ((1n << 40n) - 1n)) << 8n;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & ((1n << 48n) - 1n);
    const id = (this.prefix | this.suffix) & ((1n << 63n) - 1n);
    return id === 0n ? this.next() : id;
  }
}
