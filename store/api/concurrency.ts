// The v3lock and v3election services, built on KV + Lease + Watch exactly as etcd's client-side
// concurrency package does: an owner key `<name>/<lease hex>` bound to the caller's lease, ordered by
// create revision; the holder is the lowest create revision, and a waiter watches its predecessor's delete.
import { status } from '@grpc/grpc-js';
import type { EtcdBackend, Msg } from './backend.js';
import { RpcError } from './status.js';

const EQUAL = 0;
const TARGET_CREATE = 1;
const SORT_ASCEND = 1;
const SORT_DESCEND = 2;
const SORT_BY_CREATE = 2;
const EVENT_PUT = 0;
const EVENT_DELETE = 1;
/** TTL in seconds of the lease granted for a Lock or Campaign that names none (etcd's session default). */
export const SESSION_TTL = 60;

export const ConcurrencyErrors = {
  // Plain errors in etcd's concurrency package, so gRPC reports them with code Unknown.
  notLeader: () => new RpcError(status.UNKNOWN, 'election: not leader'),
  noLeader: () => new RpcError(status.UNKNOWN, 'election: no leader'),
  missingLeaderKey: () => new RpcError(status.INVALID_ARGUMENT, '"leader" field must be provided'),
  cancelled: () => new RpcError(status.CANCELLED, 'context canceled'),
};

/** The key just after every key with this prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export interface LeaderKey {
  name: Buffer;
  key: Buffer;
  rev: number;
  lease: bigint;
}

export class Concurrency {
  constructor(
    private readonly b: EtcdBackend,
    private readonly closing = new AbortController(),
  ) {}

  /** The same service acting through another backend view (a caller's, when auth is on); close() reaches both. */
  through(b: EtcdBackend): Concurrency {
    return new Concurrency(b, this.closing);
  }

  close(): void {
    this.closing.abort();
  }

  /**
   * Acquires the lock `name` for `lease`; resolves with the owner key once every earlier waiter is gone.
   * Without a lease (0) the owner key gets a new one of SESSION_TTL seconds that nobody keeps alive.
   */
  async lock(name: Buffer, lease: bigint, signal?: AbortSignal): Promise<Buffer> {
    const pfx = Buffer.concat([name, Buffer.from('/')]);
    const { key, rev } = await this.enqueue(pfx, await this.sessionLease(lease), Buffer.alloc(0));
    await this.waitDeletes(pfx, rev - 1, signal);
    return key;
  }

  /**
   * The lease an owner key is bound to. etcd's lock and election servers open a client session with the
   * request's lease; a session without one grants a lease of the session's default TTL and, orphaned at
   * once, never refreshes it: such a lock or leadership ends by itself after that TTL.
   */
  private async sessionLease(lease: bigint): Promise<bigint> {
    if (lease !== 0n) return lease;
    const r = await this.b.leaseGrant({ TTL: SESSION_TTL, ID: 0n });
    return BigInt(r.ID);
  }

  async unlock(key: Buffer): Promise<void> {
    await this.b.deleteRange({ key });
  }

  /** Campaigns for `name` with `lease` (or, without one, a new lease of SESSION_TTL seconds, as lock()). */
  async campaign(name: Buffer, lease: bigint, value: Buffer, signal?: AbortSignal): Promise<LeaderKey> {
    const pfx = Buffer.concat([name, Buffer.from('/')]);
    lease = await this.sessionLease(lease);
    const { key, rev, existing } = await this.enqueue(pfx, lease, value);
    const leader: LeaderKey = { name, key, rev, lease };
    if (existing && !existing.value.equals(value)) await this.proclaim(leader, value);
    await this.waitDeletes(pfx, rev - 1, signal);
    return leader;
  }

  async proclaim(leader: LeaderKey | undefined, value: Buffer): Promise<void> {
    if (!leader || !leader.key?.length) throw ConcurrencyErrors.missingLeaderKey();
    const r = await this.b.txn({
      compare: [
        {
          result: EQUAL,
          target: TARGET_CREATE,
          key: leader.key,
          createRevision: leader.rev,
          targetUnion: 'createRevision',
        },
      ],
      success: [{ request: 'requestPut', requestPut: { key: leader.key, value, lease: leader.lease } }],
      failure: [],
    });
    if (!r.succeeded) throw ConcurrencyErrors.notLeader();
  }

  async resign(leader: LeaderKey | undefined): Promise<void> {
    if (!leader || !leader.key?.length) throw ConcurrencyErrors.missingLeaderKey();
    await this.b.txn({
      compare: [
        {
          result: EQUAL,
          target: TARGET_CREATE,
          key: leader.key,
          createRevision: leader.rev,
          targetUnion: 'createRevision',
        },
      ],
      success: [{ request: 'requestDeleteRange', requestDeleteRange: { key: leader.key } }],
      failure: [],
    });
  }

  /** The current leader's key-value: the lowest create revision under the election's prefix. */
  async leader(name: Buffer): Promise<Msg> {
    const kv = await this.first(Buffer.concat([name, Buffer.from('/')]));
    if (!kv) throw ConcurrencyErrors.noLeader();
    return kv;
  }

  /** Streams every proclamation of `name` until stopped; returns the stop function. */
  observe(name: Buffer, onLeader: (kv: Msg) => void, onError: (err: unknown) => void): () => void {
    const ac = new AbortController();
    const pfx = Buffer.concat([name, Buffer.from('/')]);
    const loop = async () => {
      while (!ac.signal.aborted) {
        const r = await this.b.range({
          key: pfx,
          rangeEnd: prefixEnd(pfx),
          sortOrder: SORT_ASCEND,
          sortTarget: SORT_BY_CREATE,
          limit: 1,
        });
        const kv = r.kvs?.[0] as Msg | undefined;
        const rev = Number(r.header.revision);
        if (!kv) {
          await this.nextEvent(pfx, prefixEnd(pfx), rev + 1, (e) => e.type === EVENT_PUT, ac.signal);
          continue;
        }
        onLeader(kv);
        // Follow the leader's key: each put is a proclamation; its delete hands over to the next one.
        let from = rev + 1;
        while (!ac.signal.aborted) {
          const e = await this.nextEvent(kv.key, undefined, from, () => true, ac.signal);
          if (!e || e.type === EVENT_DELETE) break;
          onLeader(e.kv);
          from = Number(e.kv.modRevision) + 1;
        }
      }
    };
    loop().catch((err) => {
      if (!ac.signal.aborted) onError(err);
    });
    return () => ac.abort();
  }

  /** Puts the owner key if absent (one txn), returning its create revision and any existing value. */
  private async enqueue(
    pfx: Buffer,
    lease: bigint,
    value: Buffer,
  ): Promise<{ key: Buffer; rev: number; existing?: Msg }> {
    const key = Buffer.concat([pfx, Buffer.from(lease.toString(16))]);
    const r = await this.b.txn({
      compare: [
        { result: EQUAL, target: TARGET_CREATE, key, createRevision: 0, targetUnion: 'createRevision' },
      ],
      success: [{ request: 'requestPut', requestPut: { key, value, lease } }],
      failure: [{ request: 'requestRange', requestRange: { key } }],
    });
    if (r.succeeded) return { key, rev: Number(r.header.revision) };
    const existing = r.responses[0].responseRange.kvs[0] as Msg;
    return { key, rev: Number(existing.createRevision), existing };
  }

  private async first(pfx: Buffer): Promise<Msg | undefined> {
    const r = await this.b.range({
      key: pfx,
      rangeEnd: prefixEnd(pfx),
      sortOrder: SORT_ASCEND,
      sortTarget: SORT_BY_CREATE,
      limit: 1,
    });
    return r.kvs?.[0];
  }

  /** Waits until no key under pfx has create revision <= maxCreateRev (each predecessor deleted). */
  private async waitDeletes(pfx: Buffer, maxCreateRev: number, signal?: AbortSignal): Promise<void> {
    while (true) {
      this.check(signal);
      const r = await this.b.range({
        key: pfx,
        rangeEnd: prefixEnd(pfx),
        maxCreateRevision: maxCreateRev,
        sortOrder: SORT_DESCEND,
        sortTarget: SORT_BY_CREATE,
        limit: 1,
      });
      const kv = r.kvs?.[0] as Msg | undefined;
      if (!kv) return;
      await this.nextEvent(
        kv.key,
        undefined,
        Number(r.header.revision) + 1,
        (e) => e.type === EVENT_DELETE,
        signal,
      );
    }
  }

  private check(signal?: AbortSignal): void {
    if (signal?.aborted || this.closing.signal.aborted) throw ConcurrencyErrors.cancelled();
  }

  /** The first event on [key, rangeEnd) from startRevision matching pred; undefined if the watch was canceled. */
  private nextEvent(
    key: Buffer,
    rangeEnd: Buffer | undefined,
    startRevision: number,
    pred: (e: Msg) => boolean,
    signal?: AbortSignal,
  ): Promise<Msg | undefined> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        this.closing.signal.removeEventListener('abort', onAbort);
        ws.close();
        fn();
      };
      const onAbort = () => finish(() => reject(ConcurrencyErrors.cancelled()));
      const ws = this.b.watchStream((resp) => {
        if (resp.canceled) return finish(() => resolve(undefined));
        for (const e of (resp.events ?? []) as Msg[]) {
          if (pred(e)) return finish(() => resolve(e));
        }
      });
      signal?.addEventListener('abort', onAbort);
      this.closing.signal.addEventListener('abort', onAbort);
      if (signal?.aborted || this.closing.signal.aborted) return onAbort();
      ws.watch({ key, rangeEnd: rangeEnd ?? Buffer.alloc(0), startRevision });
    });
  }
}
