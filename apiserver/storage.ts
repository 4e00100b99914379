// The apiserver's only door to the store: etcd v3 range/txn/watch/compact through the etcd3 client, with
// Kubernetes' optimistic-concurrency transactions and kube-apiserver's compaction loop.
import { Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import * as errors from 'etcd3';
import type { Logger } from '../common/index.js';
import {
  failure,
  serviceUnavailable,
  tooManyRequests,
  internalError,
  resourceExpired,
  StatusError,
  timeout,
} from '../apimachinery/index.js';

/** One key as read from the store; revisions are etcd's, as safe JS integers. */
export interface StoredKV {
  key: string;
  value: Buffer;
  modRevision: number;
  createRevision: number;
}

export interface ListResult {
  kvs: StoredKV[];
  /** The store revision the range was read at (the list's resourceVersion). */
  revision: number;
  more: boolean;
  /** Keys left after this page (etcd's count minus what we returned). */
  remaining: number;
}

export type WriteResult =
  { ok: true; revision: number } | { ok: false; current: StoredKV | null; revision: number };

export interface WatchHandlers {
  /** One store watch response: its events in revision order, or none for a progress notification. */
  onEvents(events: StoreEvent[], headerRevision: number): void;
  /** The watch ended for good (compaction, cancel): the owner must re-list. */
  onLost(reason: string, compacted: boolean): void;
}

export interface StoreEvent {
  type: 'PUT' | 'DELETE';
  kv: StoredKV;
  prev: StoredKV | null;
}

const UNARY_DEADLINE_MS = 10_000;
/** kube-apiserver's compaction lock key (it lives outside --etcd-prefix, as in Kubernetes). */
export const COMPACT_REV_KEY = 'compact_rev_key';

function toKV(kv: IKeyValue): StoredKV {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
}

/** The key after every key that starts with `prefix` (etcd's prefix range_end). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i]++;
      return out;
    }
  }
  return Buffer.from([0]);
}

/** Maps a store error to the Status a Kubernetes client expects: never a stack trace. */
export function storeErrorToStatus(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/request is too large/.test(msg))
    return new StatusError(failure(413, 'RequestEntityTooLarge', `the store refused the object: ${msg}`));
  if (/required revision has been compacted/.test(msg))
    return new StatusError(resourceExpired(`too old resource version: ${msg}`));
  if (err instanceof errors.GRPCResourceExhastedError || /too many requests/i.test(msg))
    return new StatusError(tooManyRequests(`the store is overloaded: ${msg}`, 1));
  if (err instanceof errors.GRPCDeadlineExceededError || /deadline exceeded|request timed out/i.test(msg))
    return new StatusError(timeout(`the store did not answer in time: ${msg}`, 1));
  if (
    err instanceof errors.GRPCUnavailableError ||
    err instanceof errors.ClientClosedError ||
    /no leader|unavailable|ECONNREFUSED|connect|broken circuit|isolated/i.test(msg)
  )
    return new StatusError(serviceUnavailable(`the store is unavailable: ${msg}`, 1));
  return new StatusError(internalError(`store: ${msg}`));
}

/**
 * Store leases for objects with a time to live, shared the way kube-apiserver's lease manager does: one
 * lease serves every object written within 5% of the TTL (up to 1,000 objects) and is granted 5% longer
 * than the TTL, so each object lives at least its TTL. Without sharing, every Event would cost a lease.
 */
class LeaseManager {
  private current: { id: string; grantedAt: number; ttl: number; uses: number } | null = null;
  private granting: Promise<string> | null = null;
  static readonly REUSE_FRACTION = 0.05;
  static readonly MAX_USES = 1000;

  constructor(private readonly client: Etcd3) {}

  async leaseFor(ttlSeconds: number): Promise<string> {
    const c = this.current;
    const reuseMs = ttlSeconds * 1000 * LeaseManager.REUSE_FRACTION;
    if (c && c.ttl === ttlSeconds && Date.now() - c.grantedAt < reuseMs && c.uses < LeaseManager.MAX_USES) {
      c.uses++;
      return c.id;
    }
    if (!this.granting) {
      this.granting = (async () => {
        const grantedAt = Date.now();
        const res = await this.client.leaseClient.leaseGrant({
          TTL: Math.ceil(ttlSeconds * (1 + LeaseManager.REUSE_FRACTION)),
        });
        this.current = { id: String(res.ID), grantedAt, ttl: ttlSeconds, uses: 0 };
        return this.current.id;
      })().finally(() => (this.granting = null));
    }
    const id = await this.granting;
    if (this.current) this.current.uses++;
    return id;
  }
}

/** TLS to the store (kube-apiserver's --etcd-cafile, --etcd-certfile, --etcd-keyfile), as file contents. */
export interface EtcdTLS {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export class Storage {
  readonly client: Etcd3;
  private readonly leases: LeaseManager;
  private compactTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    endpoints: string[],
    private readonly log: Logger,
    tls?: EtcdTLS,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      ...(tls?.ca
        ? {
            credentials: {
              rootCertificate: tls.ca,
              ...(tls.cert && tls.key ? { certChain: tls.cert, privateKey: tls.key } : {}),
            },
          }
        : {}),
      dialTimeout: 5000,
      // Pages are bounded (see rest.ts), but one page of large objects can pass gRPC's 4 MiB default.
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + UNARY_DEADLINE_MS }),
    });
    this.leases = new LeaseManager(this.client);
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeErrorToStatus(err);
    }
  }

  async get(key: string): Promise<{ kv: StoredKV | null; revision: number }> {
    return this.wrap(async () => {
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      return { kv: res.kvs.length ? toKV(res.kvs[0]) : null, revision: Number(res.header.revision) };
    });
  }

  /**
   * One consistent page of keys under `prefix`, starting at `startKey` (inclusive), read at `revision`
   * (0 = now). The etcd limit is one more than asked so `more` is exact without a count.
   */
  async list(
    prefix: string,
    opts: { startKey?: string; revision?: number; limit?: number } = {},
  ): Promise<ListResult> {
    return this.wrap(async () => {
      const res = await this.client.kv.range({
        key: Buffer.from(opts.startKey ?? prefix),
        range_end: prefixEnd(prefix),
        revision: opts.revision ?? 0,
        limit: opts.limit ?? 0,
      });
      const kvs = res.kvs.map(toKV);
      const count = Number(res.count);
      return {
        kvs,
        revision: Number(res.header.revision),
        more: res.more,
        remaining: Math.max(0, count - kvs.length),
      };
    });
  }

  /**
   * Create: `If(mod_revision == 0) Then Put Else Get` (Kubernetes' create transaction). `ttlSeconds`
   * attaches the key to a store lease so it expires (Events).
   */
  async create(key: string, value: Buffer, ttlSeconds = 0): Promise<WriteResult> {
    return this.cas(key, value, 0, ttlSeconds ? await this.leases.leaseFor(ttlSeconds) : '0');
  }

  /** Update: `If(mod_revision == expected) Then Put Else Get`. */
  async update(
    key: string,
    value: Buffer,
    expectedModRevision: number,
    ttlSeconds = 0,
  ): Promise<WriteResult> {
    if (expectedModRevision <= 0) throw new Error('update needs the current mod_revision');
    return this.cas(
      key,
      value,
      expectedModRevision,
      ttlSeconds ? await this.leases.leaseFor(ttlSeconds) : '0',
    );
  }

  private async cas(key: string, value: Buffer, modRevision: number, lease: string): Promise<WriteResult> {
    return this.wrap(async () => {
      const k = Buffer.from(key);
      const res = await this.client.kv.txn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: modRevision }],
        success: [{ request_put: { key: k, value, lease } }],
        failure: [{ request_range: { key: k } }],
      });
      const revision = Number(res.header.revision);
      if (res.succeeded) return { ok: true, revision };
      const kvs = res.responses[0]?.response_range?.kvs ?? [];
      return { ok: false, current: kvs.length ? toKV(kvs[0]) : null, revision };
    });
  }

  /** Delete: `If(mod_revision == expected) Then Delete Else Get`. */
  async delete(key: string, expectedModRevision: number): Promise<WriteResult> {
    return this.wrap(async () => {
      const k = Buffer.from(key);
      const res = await this.client.kv.txn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
        success: [{ request_delete_range: { key: k } }],
        failure: [{ request_range: { key: k } }],
      });
      const revision = Number(res.header.revision);
      if (res.succeeded) return { ok: true, revision };
      const kvs = res.responses[0]?.response_range?.kvs ?? [];
      return { ok: false, current: kvs.length ? toKV(kvs[0]) : null, revision };
    });
  }

  /** The store's current revision (a quorum read of an empty range). */
  async currentRevision(): Promise<number> {
    return this.wrap(async () => {
      const res = await this.client.kv.range({ key: Buffer.from(COMPACT_REV_KEY), count_only: true });
      return Number(res.header.revision);
    });
  }

  /** Watches every key under `prefix` from `fromRevision` with prev_kv; the etcd3 client resumes after blips. */
  async watchPrefix(prefix: string, fromRevision: number, h: WatchHandlers): Promise<() => Promise<void>> {
    const w: Watcher = await this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(fromRevision))
      .withPreviousKV()
      .create();
    let lost = false;
    w.on('data', (res: IWatchResponse) => {
      if (lost) return;
      if (res.canceled || res.compact_revision !== '0') return;
      const events: StoreEvent[] = (res.events ?? []).map((e) => ({
        type: e.type === 'Delete' || (e.type as unknown) === 1 ? 'DELETE' : 'PUT',
        kv: toKV(e.kv),
        prev: e.prev_kv ? toKV(e.prev_kv) : null,
      }));
      h.onEvents(events, Number(res.header.revision));
    });
    let canceledByStore = false;
    w.on('error', (err) => {
      // The client library emits 'error' only when the store canceled the watch (compaction is the usual
      // reason; etcd 3.4 leaves cancel_reason empty for it). The library has already dropped the watcher:
      // cancelling it again would make the library throw on the store's answer, so we must not.
      canceledByStore = true;
      if (lost) return;
      lost = true;
      const msg = err instanceof Error ? err.message : String(err);
      h.onLost(msg, /compact|Watcher canceled/i.test(msg));
    });
    return async () => {
      lost = true;
      if (!canceledByStore) await w.cancel().catch(() => undefined);
    };
  }

  /**
   * One round of kube-apiserver's compaction: the compact_rev_key version is a logical clock shared by
   * every apiserver; whoever bumps it from `lastVersion` compacts to the revision it saw last round, so
   * about one interval of history is kept however many apiservers run.
   */
  async compactRound(
    lastVersion: number,
    lastRevision: number,
  ): Promise<{ version: number; revision: number }> {
    return this.wrap(async () => {
      const k = Buffer.from(COMPACT_REV_KEY);
      const res = await this.client.kv.txn({
        compare: [{ key: k, target: 'Version', result: 'Equal', version: lastVersion }],
        success: [{ request_put: { key: k, value: Buffer.from(String(lastRevision)) } }],
        failure: [{ request_range: { key: k } }],
      });
      const revision = Number(res.header.revision);
      if (!res.succeeded) {
        const kv = res.responses[0]?.response_range?.kvs?.[0];
        return { version: kv ? Number(kv.version) : 0, revision };
      }
      if (lastRevision > 0) {
        await this.client.kv.compact({ revision: lastRevision, physical: false }).catch((err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          // Someone compacted past us already: harmless.
          if (!/compacted/.test(msg)) throw err;
        });
        this.log.info('compacted store history', { revision: lastRevision });
      }
      return { version: lastVersion + 1, revision };
    });
  }

  startCompaction(intervalMs: number): void {
    if (intervalMs <= 0) return;
    let version = 0;
    let revision = 0;
    const tick = async (): Promise<void> => {
      try {
        ({ version, revision } = await this.compactRound(version, revision));
      } catch (err) {
        this.log.warn('compaction round failed', { error: String((err as Error).message ?? err) });
      }
      if (!this.closed) this.compactTimer = setTimeout(() => void tick(), intervalMs);
    };
    this.compactTimer = setTimeout(() => void tick(), intervalMs);
  }

  close(): void {
    this.closed = true;
    if (this.compactTimer) clearTimeout(this.compactTimer);
    this.client.close();
  }
}
