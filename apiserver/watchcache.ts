// The watch cache: ONE store watch per resource prefix, shared by every client of this apiserver. It keeps
// the current objects and a bounded window of recent events; a client watch replays from the window and
// then follows live events, filtered per client (namespace, label and field selectors, with prev_kv so an
// object leaving a selector is DELETED for that client).
import type { KubeObject, Selector, FieldSelector, WatchEventType } from '../apimachinery/index.js';
import { fieldSelectorMatches, resourceExpired, type Status } from '../apimachinery/index.js';
import type { Logger } from '../common/index.js';
import type { Storage, StoreEvent } from './storage.js';
import { decodeStored } from './codec.js';

export interface CachedEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The store revision; one revision can hold several events (a txn or a range delete). */
  revision: number;
  /** Position in this cache's event sequence: strictly increasing, unlike revision. */
  seq: number;
  key: string;
  /** The object after the event (for DELETED: the last state, with the deletion's resourceVersion). */
  object: KubeObject;
  prev: KubeObject | null;
  /** The serialized WatchEvent line, built once and shared by every unfiltered watcher. */
  line?: string;
}

export interface WatchFilter {
  namespace?: string;
  labels?: Selector;
  fields?: FieldSelector;
}

export interface WatchSink {
  /** Sends one event; returns false when the client is too slow and must be dropped. */
  send(type: WatchEventType, object: KubeObject | Status, line?: string): boolean;
  close(): void;
  /** Commits the response headers before the first event. */
  open?(): void;
}

export interface CacheWatcher {
  stop(): void;
}

interface Subscriber {
  filter: WatchFilter;
  sink: WatchSink;
  unfiltered: boolean;
  /** The revision the client's state is at: only later events are sent. */
  startRevision: number;
  /** Highest event seq delivered, so replay and live events never overlap. */
  sentSeq: number;
  /** Highest revision this watcher has seen all events of (for bookmarks). */
  sentRevision: number;
  bookmarks: boolean;
}

export class WatchCache {
  private objects = new Map<string, KubeObject>();
  private events: CachedEvent[] = [];
  private head = 0; // ring start index into `events` (events are appended; trimmed by slicing in batches)
  /** Events with revision > oldestRevision are all in the window. */
  private oldestRevision = 0;
  private revision = 0;
  private subscribers = new Set<Subscriber>();
  private stopWatch: (() => Promise<void>) | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;
  private bookmarkTimer: NodeJS.Timeout | null = null;
  private seq = 0;

  constructor(
    private readonly storage: Storage,
    /** e.g. /registry/pods/ */
    readonly prefix: string,
    readonly kind: string,
    readonly apiVersion: string,
    private readonly log: Logger,
    private readonly windowSize = 10_000,
    bookmarkIntervalMs = 60_000,
  ) {
    if (bookmarkIntervalMs > 0) {
      this.bookmarkTimer = setInterval(() => this.sendBookmarks(), bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
  }

  /** Lists the prefix at one revision, then watches from the next: the cache is ready when this resolves. */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.initialize().catch((err) => {
        this.starting = null;
        throw err;
      });
    }
    return this.starting;
  }

  private async initialize(): Promise<void> {
    const objects = new Map<string, KubeObject>();
    let revision = 0;
    let startKey: string | undefined;
    // Page through the prefix at one revision so a large resource does not need one huge response.
    for (;;) {
      const page = await this.storage.list(this.prefix, { startKey, revision, limit: 1000 });
      if (revision === 0) revision = page.revision;
      for (const kv of page.kvs) {
        try {
          objects.set(kv.key, decodeStored(kv));
        } catch (err) {
          this.log.error('skipping corrupt stored object', { key: kv.key, error: (err as Error).message });
        }
      }
      if (!page.more || page.kvs.length === 0) break;
      startKey = page.kvs[page.kvs.length - 1].key + '\0';
    }
    this.objects = objects;
    this.events = [];
    this.head = 0;
    this.oldestRevision = revision;
    this.revision = revision;
    this.stopWatch = await this.storage.watchPrefix(this.prefix, revision + 1, {
      onEvents: (evs, headerRevision) => this.apply(evs, headerRevision),
      onLost: (reason, compacted) => this.lost(reason, compacted),
    });
    this.log.info('watch cache ready', { prefix: this.prefix, objects: objects.size, revision });
  }

  private lost(reason: string, compacted: boolean): void {
    this.log.warn('store watch lost; re-listing', { prefix: this.prefix, reason, compacted });
    // Every client watch ends; clients resume from their last resourceVersion (or get 410 and re-list).
    for (const s of this.subscribers) s.sink.close();
    this.subscribers.clear();
    this.stopWatch = null;
    this.starting = null;
    if (!this.stopped) {
      const retry = (): void => {
        if (this.stopped) return;
        this.start().catch((err) => {
          this.log.warn('watch cache restart failed', { prefix: this.prefix, error: String(err) });
          setTimeout(retry, 1000).unref();
        });
      };
      retry();
    }
  }

  currentRevision(): number {
    return this.revision;
  }

  /** The current objects (the state a watch from resourceVersion "0" starts with). */
  snapshot(): KubeObject[] {
    return [...this.objects.values()];
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  private apply(evs: StoreEvent[], headerRevision: number): void {
    const before = this.revision;
    let last = before;
    for (const e of evs) {
      let ev: CachedEvent;
      try {
        if (e.type === 'PUT') {
          const obj = decodeStored(e.kv);
          const prev = e.prev ? decodeStored(e.prev) : (this.objects.get(e.kv.key) ?? null);
          ev = {
            type: e.kv.createRevision === e.kv.modRevision ? 'ADDED' : 'MODIFIED',
            seq: 0,
            revision: e.kv.modRevision,
            key: e.kv.key,
            object: obj,
            prev,
          };
          this.objects.set(e.kv.key, obj);
        } else {
          const prev = e.prev ? decodeStored(e.prev) : (this.objects.get(e.kv.key) ?? null);
          if (!prev) {
            this.bump(e.kv.modRevision);
            continue;
          }
          const obj = structuredClone(prev);
          obj.metadata.resourceVersion = String(e.kv.modRevision);
          ev = { type: 'DELETED', seq: 0, revision: e.kv.modRevision, key: e.kv.key, object: obj, prev };
          this.objects.delete(e.kv.key);
        }
      } catch (err) {
        this.log.error('skipping undecodable store event', { key: e.kv.key, error: (err as Error).message });
        this.bump(e.kv.modRevision);
        continue;
      }
      if (ev.revision <= before || ev.revision < last) {
        // The store delivers each revision once and in order; anything else means we would serve wrong data.
        throw new Error(
          `watch cache ${this.prefix}: event revision ${ev.revision} after ${last} (batch began after ${before})`,
        );
      }
      last = ev.revision;
      ev.seq = ++this.seq;
      this.push(ev);
      this.revision = ev.revision;
      this.dispatch(ev);
    }
    if (headerRevision > this.revision && evs.length === 0) this.revision = headerRevision;
  }

  private bump(rev: number): void {
    if (rev > this.revision) this.revision = rev;
  }

  private push(ev: CachedEvent): void {
    this.events.push(ev);
    if (this.events.length - this.head > this.windowSize) {
      this.oldestRevision = this.events[this.head].revision;
      this.head++;
      // Compact the array occasionally rather than shifting on every event.
      if (this.head > this.windowSize) {
        this.events = this.events.slice(this.head);
        this.head = 0;
      }
    }
  }

  private matches(f: WatchFilter, o: KubeObject | null): boolean {
    if (!o) return false;
    if (f.namespace && o.metadata.namespace !== f.namespace) return false;
    if (f.labels && !f.labels.matches(o.metadata.labels)) return false;
    if (f.fields && !fieldSelectorMatches(this.kind, f.fields, o)) return false;
    return true;
  }

  /** What this event looks like to one filtered watcher (or null if it should not see it). */
  private project(s: Subscriber, ev: CachedEvent): { type: CachedEvent['type']; object: KubeObject } | null {
    if (s.unfiltered) return ev;
    const cur = ev.type === 'DELETED' ? false : this.matches(s.filter, ev.object);
    const prev = ev.prev ? this.matches(s.filter, ev.prev) : false;
    if (ev.type === 'DELETED') return prev ? ev : null;
    if (cur && prev) return { type: 'MODIFIED', object: ev.object };
    if (cur) return { type: 'ADDED', object: ev.object };
    if (prev) {
      const gone = structuredClone(ev.prev!);
      gone.metadata.resourceVersion = ev.object.metadata.resourceVersion;
      return { type: 'DELETED', object: gone };
    }
    return null;
  }

  private lineOf(ev: CachedEvent): string {
    if (!ev.line) ev.line = JSON.stringify({ type: ev.type, object: ev.object });
    return ev.line;
  }

  private deliver(s: Subscriber, ev: CachedEvent): void {
    // Events at or before the start revision are already in the client's state (its list, or the initial
    // objects we sent), even when they reach this cache later than the client's list did.
    if (ev.seq <= s.sentSeq || ev.revision <= s.startRevision) return;
    const p = this.project(s, ev);
    s.sentSeq = ev.seq;
    s.sentRevision = ev.revision;
    if (!p) return;
    const ok = p === ev ? s.sink.send(ev.type, ev.object, this.lineOf(ev)) : s.sink.send(p.type, p.object);
    if (!ok) this.drop(s, 'client too slow');
    else this.eventsSent++;
  }

  private dispatch(ev: CachedEvent): void {
    for (const s of this.subscribers) this.deliver(s, ev);
  }

  private drop(s: Subscriber, why: string): void {
    if (!this.subscribers.delete(s)) return;
    this.log.debug('closing watcher', { prefix: this.prefix, why });
    s.sink.close();
  }

  private sendBookmarks(): void {
    for (const s of this.subscribers) {
      if (!s.bookmarks) continue;
      const rv = Math.max(s.sentRevision, this.revision);
      s.sentRevision = rv;
      if (!s.sink.send('BOOKMARK', this.bookmarkObject(rv))) this.drop(s, 'client too slow');
    }
  }

  bookmarkObject(rv: number, annotations?: Record<string, string>): KubeObject {
    return {
      kind: this.kind,
      apiVersion: this.apiVersion,
      metadata: { resourceVersion: String(rv), ...(annotations ? { annotations } : {}) },
    };
  }

  /**
   * Starts a client watch.
   * - `fromRevision` N: every matching event after N (410 if N is older than the window).
   * - `initial`: objects to send first as ADDED (a state snapshot), then events after `fromRevision`.
   */
  watch(opts: {
    filter: WatchFilter;
    sink: WatchSink;
    fromRevision: number;
    initial?: KubeObject[];
    bookmarks: boolean;
    initialEventsEndBookmark?: boolean;
  }): CacheWatcher | Status {
    const { filter, sink, fromRevision } = opts;
    if (fromRevision < this.oldestRevision) {
      // Older than the window. The store may still hold that history (this apiserver started after the
      // client listed elsewhere): read it from the store, then join the shared window. Bounded: past
      // MAX_CATCH_UPS such readers, or if the store compacted it, the answer is 410 as Kubernetes gives.
      if (opts.initial === undefined && this.catchUps < WatchCache.MAX_CATCH_UPS) return this.catchUp(opts);
      return resourceExpired(`too old resource version: ${fromRevision} (${this.oldestRevision})`);
    }
    const unfiltered =
      !filter.namespace &&
      (!filter.labels || filter.labels.empty()) &&
      (!filter.fields || filter.fields.empty());
    const s: Subscriber = {
      filter,
      sink,
      unfiltered,
      sentSeq: 0,
      startRevision: fromRevision,
      sentRevision: fromRevision,
      bookmarks: opts.bookmarks,
    };
    for (const o of opts.initial ?? []) {
      if (!this.matches(filter, o)) continue;
      if (!sink.send('ADDED', o)) {
        sink.close();
        return { stop: () => undefined };
      }
    }
    // Replay the window: events are in revision order, so binary-search the first one after fromRevision.
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].revision <= fromRevision) lo = mid + 1;
      else hi = mid;
    }
    this.subscribers.add(s);
    for (let i = lo; i < this.events.length && this.subscribers.has(s); i++) this.deliver(s, this.events[i]);
    if (opts.initialEventsEndBookmark && this.subscribers.has(s)) {
      const rv = Math.max(s.sentRevision, this.revision);
      sink.send('BOOKMARK', this.bookmarkObject(rv, { 'k8s.io/initial-events-end': 'true' }));
    }
    return { stop: () => this.drop(s, 'client gone') };
  }

  /** Watch events sent to clients so far (for metrics). */
  eventsSent = 0;

  objectCount(): number {
    return this.objects.size;
  }

  static readonly MAX_CATCH_UPS = 64;
  private catchUps = 0;

  /**
   * Serves a watch from `fromRevision` with a dedicated store watch until its events reach the window,
   * then hands the client to the shared window (which replays everything after the last event sent).
   */
  private catchUp(opts: Parameters<WatchCache['watch']>[0]): CacheWatcher {
    this.catchUps++;
    const { sink } = opts;
    const s: Subscriber = {
      filter: opts.filter,
      sink,
      unfiltered: false,
      sentSeq: 0,
      startRevision: opts.fromRevision,
      sentRevision: opts.fromRevision,
      bookmarks: false,
    };
    let finished = false;
    let cancel: (() => Promise<void>) | null = null;
    let joined: CacheWatcher | null = null;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.catchUps--;
      if (cancel) void cancel();
    };
    const fail = (st: Status): void => {
      finish();
      sink.send('ERROR', st);
      sink.close();
    };
    this.storage
      .watchPrefix(this.prefix, opts.fromRevision + 1, {
        onEvents: (evs) => {
          if (finished) return;
          let last = s.sentRevision;
          for (const e of evs) {
            let ev: CachedEvent;
            try {
              const prev = e.prev ? decodeStored(e.prev) : null;
              if (e.type === 'PUT') {
                const type = e.kv.createRevision === e.kv.modRevision ? 'ADDED' : 'MODIFIED';
                ev = {
                  type,
                  seq: 0,
                  revision: e.kv.modRevision,
                  key: e.kv.key,
                  object: decodeStored(e.kv),
                  prev,
                };
              } else {
                if (!prev) continue;
                const obj = structuredClone(prev);
                obj.metadata.resourceVersion = String(e.kv.modRevision);
                ev = {
                  type: 'DELETED',
                  seq: 0,
                  revision: e.kv.modRevision,
                  key: e.kv.key,
                  object: obj,
                  prev,
                };
              }
            } catch (err) {
              this.log.error('skipping undecodable store event', {
                key: e.kv.key,
                error: (err as Error).message,
              });
              continue;
            }
            const p = this.project(s, ev);
            if (p && !sink.send(p.type, p.object)) {
              finish();
              sink.close();
              return;
            }
            last = ev.revision;
          }
          s.sentRevision = last;
          if (last >= this.oldestRevision) {
            // Every event after `last` is in the window now: join it.
            finish();
            const w = this.watch({ ...opts, fromRevision: last, initial: undefined });
            if ('code' in w) fail(w);
            else joined = w;
          }
        },
        onLost: () => {
          if (finished) return;
          // The store canceled the read: its history from there is compacted (or otherwise gone).
          fail(resourceExpired(`too old resource version: ${opts.fromRevision} (${this.oldestRevision})`));
        },
      })
      .then((c) => {
        cancel = c;
        if (finished) void c();
      })
      .catch((err: unknown) =>
        fail(resourceExpired(`too old resource version: ${opts.fromRevision} (${String(err)})`)),
      );
    return {
      stop: () => {
        finish();
        joined?.stop();
      },
    };
  }

  watcherCount(): number {
    return this.subscribers.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const s of this.subscribers) s.sink.close();
    this.subscribers.clear();
    if (this.stopWatch) await this.stopWatch();
  }
}
