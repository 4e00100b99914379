// The store side of the dashboard: each member's Maintenance Status (polled: Raft status has no watch),
// an index of the /registry key space kept by one read-only raw watch, key history read at past
// revisions, and Ranges at a past revision for time travel.
import { Etcd3, type IKeyValue, type IStatusResponse } from 'etcd3';
import type { Logger } from '../common/index.js';

export type Role = 'leader' | 'follower' | 'learner' | 'unknown';

/** One store member as the page shows it. Numbers are JS numbers: our revisions stay far below 2^53. */
export interface MemberStatus {
  endpoint: string;
  /** Hex member id as etcdctl prints it, once the member has answered. */
  id?: string;
  name?: string;
  reachable: boolean;
  role: Role;
  leader?: string;
  term?: number;
  raftIndex?: number;
  appliedIndex?: number;
  revision?: number;
  dbSize?: number;
  dbSizeInUse?: number;
  version?: string;
  errors: string[];
  error?: string;
  /** Status round trip, ms. */
  latencyMs?: number;
  /** When this member last answered (ms since epoch). */
  lastSeen?: number;
}

export interface LeaderChange {
  at: number;
  from?: string;
  to?: string;
  term?: number;
}

/** A key as the index keeps it: create revision, mod revision, version, value size. */
export interface KeyMeta {
  c: number;
  m: number;
  v: number;
  size: number;
}

export interface StoreEvent {
  rev: number;
  type: 'PUT' | 'DELETE';
  key: string;
  c: number;
  m: number;
  v: number;
  size: number;
}

export interface KeyVersion {
  /** mod_revision of this version. */
  rev: number;
  create: number;
  version: number;
  value: string;
}

export interface KeyHistory {
  key: string;
  exists: boolean;
  versions: KeyVersion[];
  /** Set when the walk back stopped at the compacted revision rather than at the key's creation. */
  compactedBefore?: number;
  truncated: boolean;
}

export type TimeTravel =
  | {
      ok: true;
      revision: number;
      current: number;
      keys: [string, number, number, number][];
      truncated: boolean;
    }
  | {
      ok: false;
      code: 'compacted' | 'future' | 'unavailable';
      message: string;
      revision: number;
      current?: number;
      compactRevision?: number;
    };

/** etcd's own words for the two revision errors (mvcc ErrCompacted, ErrFutureRev). */
export const ERR_COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
export const ERR_FUTURE_REV = 'etcdserver: mvcc: required revision is a future revision';

const MAX_KEYS = 200_000;
const PAGE = 2000;
const MAX_HISTORY = 40;
const MAX_VALUE_CHARS = 256 * 1024;
const STATUS_TIMEOUT_MS = 1500;

/**
 * The etcd3 client's fault handling, replaced: its default per-host circuit breaker stays open for 5 s after
 * three failures, which would hide a member's restart from a page whose point is to show it. Hosts pass
 * calls straight through; a call is tried up to three times, each time on the next host.
 */
const passThrough = { execute: (fn: (ctx: unknown) => unknown) => Promise.resolve().then(() => fn({})) };
const retryOnNextHost = {
  async execute(fn: (ctx: unknown) => unknown): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn({ attempt });
      } catch (err) {
        if (attempt >= 3 || !isUnavailable(err)) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  },
};
/** Watch reconnects: 100 ms doubling to at most 2 s (the client's default waits up to 30 s). */
class WatchBackoff {
  constructor(readonly duration: number) {}
  next(): WatchBackoff {
    return new WatchBackoff(Math.min(2000, Math.max(100, this.duration * 2)));
  }
}
const faultHandling = {
  host: () => passThrough,
  global: retryOnNextHost,
  watchBackoff: new WatchBackoff(0),
} as any;

function isUnavailable(err: unknown): boolean {
  const e = err as { code?: number; name?: string; message?: string };
  return (
    e?.code === 14 ||
    /Unavailable|unavailable|ECONNREFUSED|No connection|deadline/i.test(`${e?.name} ${e?.message}`)
  );
}

export interface StoreFeedOptions {
  endpoints: string[];
  prefix: string;
  statusIntervalMs: number;
  log: Logger;
}

export interface StoreFeedListener {
  members(m: MemberStatus[], change?: LeaderChange): void;
  event(e: StoreEvent): void;
  /** The index was rebuilt from a fresh Range (start, or after the watch lost its place). */
  reset(): void;
}

export class StoreFeed {
  readonly keys = new Map<string, KeyMeta>();
  revision = 0;
  members: MemberStatus[];
  readonly leaderChanges: LeaderChange[] = [];
  watching = false;
  private readonly client: Etcd3;
  private readonly memberClients = new Map<string, Etcd3>();
  private names = new Map<string, string>();
  private leader: string | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private watcher: { cancel(): Promise<void> } | undefined;
  private stopped = false;
  private polling = false;
  private lastMemberList = 0;

  constructor(
    private readonly opts: StoreFeedOptions,
    private readonly listener: StoreFeedListener,
  ) {
    if (opts.endpoints.length === 0) throw new Error('at least one store endpoint is required');
    this.client = new Etcd3({ hosts: opts.endpoints, dialTimeout: 3000, faultHandling });
    this.members = opts.endpoints.map((endpoint) => ({
      endpoint,
      reachable: false,
      role: 'unknown',
      errors: [],
    }));
  }

  async start(): Promise<void> {
    this.schedulePoll(0);
    await this.resync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
    for (const c of this.memberClients.values()) c.close();
  }

  // ---- member status ------------------------------------------------------------------------------

  private schedulePoll(ms: number): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => void this.poll(), ms);
  }

  private memberClient(endpoint: string): Etcd3 {
    let c = this.memberClients.get(endpoint);
    if (!c) {
      c = new Etcd3({ hosts: [endpoint], dialTimeout: STATUS_TIMEOUT_MS, faultHandling });
      this.memberClients.set(endpoint, c);
    }
    return c;
  }

  /** Forgets a member's client after a failure: the client's circuit breaker would hide a quick restart. */
  private dropMemberClient(endpoint: string): void {
    this.memberClients.get(endpoint)?.close();
    this.memberClients.delete(endpoint);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    const started = Date.now();
    try {
      const results = await Promise.all(this.opts.endpoints.map((e) => this.statusOf(e)));
      if (Date.now() - this.lastMemberList > 5000 || results.some((r) => r.id && !this.names.has(r.id))) {
        await this.refreshNames();
      }
      for (const r of results) if (r.id) r.name = this.names.get(r.id);
      // The leader is who the highest-term reachable member says it is.
      let best: MemberStatus | undefined;
      for (const r of results)
        if (r.reachable && r.leader && r.leader !== '0' && (!best || (r.term ?? 0) > (best.term ?? 0)))
          best = r;
      const leader = best?.leader;
      let change: LeaderChange | undefined;
      if (leader !== this.leader && !(leader === undefined && this.leader === undefined)) {
        change = { at: Date.now(), from: this.leader, to: leader, term: best?.term };
        this.leader = leader;
        this.leaderChanges.push(change);
        if (this.leaderChanges.length > 50) this.leaderChanges.shift();
      }
      this.members = results;
      this.listener.members(results, change);
    } finally {
      this.polling = false;
      this.schedulePoll(Math.max(50, this.opts.statusIntervalMs - (Date.now() - started)));
    }
  }

  private async statusOf(endpoint: string): Promise<MemberStatus> {
    const prev = this.members.find((m) => m.endpoint === endpoint);
    const t0 = Date.now();
    try {
      const s: IStatusResponse = await this.memberClient(endpoint).maintenance.status({
        deadline: Date.now() + STATUS_TIMEOUT_MS,
      });
      const id = hexId(s.header.member_id);
      const leader = hexId(s.leader);
      const role: Role = s.isLearner
        ? 'learner'
        : leader === id
          ? 'leader'
          : leader === '0'
            ? 'unknown'
            : 'follower';
      return {
        endpoint,
        id,
        reachable: true,
        role,
        leader,
        term: Number(s.raftTerm),
        raftIndex: Number(s.raftIndex),
        appliedIndex: Number(s.raftAppliedIndex),
        revision: Number(s.header.revision),
        dbSize: Number(s.dbSize),
        dbSizeInUse: Number(s.dbSizeInUse),
        version: s.version,
        errors: s.errors ?? [],
        latencyMs: Date.now() - t0,
        lastSeen: Date.now(),
      };
    } catch (err) {
      this.dropMemberClient(endpoint);
      // Keep the last known numbers (greyed out in the page) so a visitor sees where it stopped.
      return {
        ...(prev ?? { endpoint, errors: [] }),
        endpoint,
        reachable: false,
        role: 'unknown',
        error: shortError(err),
        latencyMs: undefined,
      };
    }
  }

  private async refreshNames(): Promise<void> {
    this.lastMemberList = Date.now();
    try {
      const r = await this.client.cluster.memberList({ linearizable: false } as any, {
        deadline: Date.now() + STATUS_TIMEOUT_MS,
      });
      const names = new Map<string, string>();
      for (const m of r.members ?? []) names.set(hexId(m.ID), m.name || hexId(m.ID));
      this.names = names;
    } catch {
      // Names are decoration; the status numbers do not depend on them.
    }
  }

  // ---- key space ----------------------------------------------------------------------------------

  /** Reads the whole prefix at one revision (keys only, paged), then watches from the next revision. */
  async resync(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.watching = false;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const { keys, revision } = await this.rangeAll(undefined, MAX_KEYS);
        this.keys.clear();
        for (const [k, c, m, v] of keys.keys) this.keys.set(k, { c, m, v, size: 0 });
        this.revision = revision;
        this.listener.reset();
        await this.watchFrom(revision + 1);
        return;
      } catch (err) {
        this.opts.log.warn('store range failed; retrying', { error: shortError(err), attempt });
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  private async watchFrom(rev: number): Promise<void> {
    const w = await this.client.watch().prefix(this.opts.prefix).startRevision(String(rev)).create();
    this.watcher = w;
    this.watching = true;
    const onKv = (type: 'PUT' | 'DELETE') => (kv: IKeyValue) => {
      const key = kv.key.toString('utf8');
      const e: StoreEvent = {
        rev: Number(kv.mod_revision),
        type,
        key,
        c: Number(kv.create_revision),
        m: Number(kv.mod_revision),
        v: Number(kv.version),
        size: kv.value?.length ?? 0,
      };
      if (e.rev > this.revision) this.revision = e.rev;
      if (type === 'PUT') {
        if (this.keys.has(key) || this.keys.size < MAX_KEYS)
          this.keys.set(key, { c: e.c, m: e.m, v: e.v, size: e.size });
      } else this.keys.delete(key);
      this.listener.event(e);
    };
    w.on('put', onKv('PUT'));
    w.on('delete', onKv('DELETE'));
    w.on('data', (res) => {
      const r = Number(res.header?.revision ?? 0);
      if (r > this.revision) this.revision = r;
    });
    w.on('disconnected', () => (this.watching = false));
    w.on('connected', () => (this.watching = true));
    w.on('error', (err) => {
      // The client gives up on a watch it cannot resume (e.g. its revision was compacted): start over.
      this.opts.log.warn('store watch failed; re-reading the key space', { error: shortError(err) });
      if (!this.stopped) void this.resync();
    });
  }

  /** Every key under the prefix at `revision` (latest when undefined), keys only, at most `max`. */
  private async rangeAll(
    revision: number | undefined,
    max: number,
  ): Promise<{ keys: { keys: [string, number, number, number][]; truncated: boolean }; revision: number }> {
    const prefix = Buffer.from(this.opts.prefix);
    const end = prefixEnd(prefix);
    const out: [string, number, number, number][] = [];
    let from = prefix;
    let rev = revision;
    let headerRev: number;
    while (true) {
      const r = await this.client.kv.range(
        {
          key: from,
          range_end: end,
          keys_only: true,
          limit: Math.min(PAGE, max - out.length + 1),
          ...(rev !== undefined ? { revision: rev } : {}),
        },
        { deadline: Date.now() + 10_000 },
      );
      headerRev = Number(r.header.revision);
      rev ??= headerRev;
      for (const kv of r.kvs) {
        if (out.length >= max) return { keys: { keys: out, truncated: true }, revision: headerRev };
        out.push([
          kv.key.toString('utf8'),
          Number(kv.create_revision),
          Number(kv.mod_revision),
          Number(kv.version),
        ]);
      }
      if (!r.more || r.kvs.length === 0) break;
      from = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return { keys: { keys: out, truncated: false }, revision: revision === undefined ? rev! : headerRev };
  }

  /** One key's value now and its earlier versions, read back one Range at a past revision at a time. */
  async history(key: string): Promise<KeyHistory> {
    const versions: KeyVersion[] = [];
    const out: KeyHistory = { key, exists: false, versions, truncated: false };
    let at: number | undefined;
    for (let i = 0; i < MAX_HISTORY; i++) {
      let kv: IKeyValue | undefined;
      try {
        const r = await this.client.kv.range(
          { key: Buffer.from(key), ...(at !== undefined ? { revision: at } : {}) },
          { deadline: Date.now() + 5000 },
        );
        kv = r.kvs[0];
      } catch (err) {
        if (isCompacted(err)) {
          out.compactedBefore = at;
          return out;
        }
        throw err;
      }
      if (!kv) return out;
      if (i === 0) out.exists = true;
      const rev = Number(kv.mod_revision);
      versions.push({
        rev,
        create: Number(kv.create_revision),
        version: Number(kv.version),
        value: valueText(kv.value),
      });
      if (Number(kv.version) <= 1) return out;
      at = rev - 1;
    }
    out.truncated = true;
    return out;
  }

  /** A key's value at a revision (for time travel). */
  async valueAt(
    key: string,
    revision: number,
  ): Promise<{ ok: true; kv?: KeyVersion } | { ok: false; message: string }> {
    try {
      const r = await this.client.kv.range(
        { key: Buffer.from(key), revision },
        { deadline: Date.now() + 5000 },
      );
      const kv = r.kvs[0];
      if (!kv) return { ok: true };
      return {
        ok: true,
        kv: {
          rev: Number(kv.mod_revision),
          create: Number(kv.create_revision),
          version: Number(kv.version),
          value: valueText(kv.value),
        },
      };
    } catch (err) {
      return { ok: false, message: shortError(err) };
    }
  }

  /** The key space as it was at `revision`: a keys-only Range at that revision. */
  async timeTravel(revision: number, max = 20_000): Promise<TimeTravel> {
    try {
      const { keys } = await this.rangeAll(revision, max);
      return { ok: true, revision, current: this.revision, keys: keys.keys, truncated: keys.truncated };
    } catch (err) {
      if (isCompacted(err)) {
        return {
          ok: false,
          code: 'compacted',
          message: ERR_COMPACTED,
          revision,
          current: this.revision,
          compactRevision: await this.compactRevision().catch(() => undefined),
        };
      }
      if (/future revision/.test(String((err as Error)?.message))) {
        return { ok: false, code: 'future', message: ERR_FUTURE_REV, revision, current: this.revision };
      }
      return { ok: false, code: 'unavailable', message: shortError(err), revision, current: this.revision };
    }
  }

  /**
   * The store's compact revision: the oldest revision a Range still reads. Status does not report it, so
   * a binary search with one-key Ranges finds it (about 20 reads).
   */
  async compactRevision(): Promise<number> {
    let lo = 1;
    let hi = Math.max(1, this.revision);
    const readable = async (rev: number) => {
      try {
        await this.client.kv.range({ key: Buffer.from(this.opts.prefix), limit: 1, revision: rev });
        return true;
      } catch (err) {
        if (isCompacted(err)) return false;
        throw err;
      }
    };
    if (await readable(lo)) return lo;
    while (lo + 1 < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readable(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}

function isCompacted(err: unknown): boolean {
  return /required revision has been compacted/.test(String((err as Error)?.message ?? err));
}

export function hexId(id: string | number | undefined): string {
  if (id === undefined || id === null || id === '') return '0';
  try {
    return BigInt(id).toString(16);
  } catch {
    return String(id);
  }
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A value as text for the page: pretty JSON when it parses, else UTF-8 (bounded). */
export function valueText(v: Buffer | undefined): string {
  if (!v) return '';
  let s = v.toString('utf8');
  if (s.length > MAX_VALUE_CHARS) return s.slice(0, MAX_VALUE_CHARS) + `\n... (${v.length} bytes, truncated)`;
  try {
    s = JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    // Not JSON (a protobuf value from a real Kubernetes, or a user's key): show it as it is.
  }
  return s;
}

export function shortError(err: unknown): string {
  let m = String((err as Error)?.message ?? err);
  // gRPC's words for the two ways a member is down, made readable.
  if (/ECONNREFUSED/.test(m)) m = 'connection refused (the process is not running)';
  else if (/DEADLINE_EXCEEDED|Deadline exceeded/i.test(m)) m = 'no answer in time (paused, or overloaded)';
  return m.length > 300 ? m.slice(0, 300) + '...' : m;
}
