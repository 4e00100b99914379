// The watchable store: watchers on a key or range from a start revision, delivered in revision order and
// never dropped. Synced watchers get events as writes commit; unsynced ones (a past start revision, or a
// stream whose consumer stopped draining) catch up from the history in bounded batches.
import { keyString, type MvccStore, type RevisionEvents } from './kv.js';
import { EventType, MvccError, type Event } from './types.js';

export interface WatchRequest {
  key: Buffer;
  /** Empty/absent: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd?: Buffer;
  /** 0/absent = current revision + 1. */
  startRevision?: number;
  /** WatchCreateRequest.FilterType numbers: 0 = NOPUT, 1 = NODELETE. */
  filters?: number[];
  prevKv?: boolean;
  progressNotify?: boolean;
  /** 0/absent = the stream picks the lowest free id. */
  watchId?: number;
}

/**
 * One message for the client (the proto's WatchResponse without cluster/member/term, which the gRPC layer
 * adds): `revision` is the header revision.
 */
export interface WatchResponse {
  watchId: number;
  revision: number;
  events: Event[];
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
}

export interface WatchStreamOptions {
  /** Receives every response of the stream, in order. If it throws, the stream is closed (see `failure`). */
  onResponse: (resp: WatchResponse) => void;
  /** Events held for a paused stream before its watchers fall back to catching up from history. */
  maxPendingEvents?: number;
  /** Bytes (keys + values) held for a paused stream, likewise. */
  maxPendingBytes?: number;
  /** Watchers one stream may hold. */
  maxWatchers?: number;
}

export interface WatchableStoreOptions {
  /** Runs a catch-up round later (default setImmediate). Tests pass their own to drive it by hand. */
  schedule?: (fn: () => void) => void;
  /** Events per catch-up response (whole revisions; one revision may exceed it). */
  syncBatchEvents?: number;
  /** Bytes (keys + values) per catch-up response, so clients with a message size limit can take it. */
  syncBatchBytes?: number;
  /** Unsynced watchers served per catch-up round, so a round never starves the apply loop. */
  watchersPerSync?: number;
}

interface Watcher {
  id: number;
  stream: WatchStream;
  key: Buffer;
  lo: string;
  /** undefined = single key; null = to the end of the key space. */
  hi: string | null | undefined;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progressNotify: boolean;
  /** The next revision this watcher must see. */
  minRev: number;
  synced: boolean;
  /** Something was sent since the last periodic progress notification. */
  sentSinceProgress: boolean;
}

export class WatchableStore {
  private readonly keyWatchers = new Map<string, Set<Watcher>>();
  private readonly rangeWatchers = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private readonly schedule: (fn: () => void) => void;
  private readonly syncBatchEvents: number;
  private readonly syncBatchBytes: number;
  private readonly watchersPerSync: number;
  private syncScheduled = false;

  constructor(
    readonly kv: MvccStore,
    opts: WatchableStoreOptions = {},
  ) {
    this.schedule = opts.schedule ?? ((fn) => void setImmediate(fn));
    this.syncBatchEvents = opts.syncBatchEvents ?? 1000;
    this.syncBatchBytes = opts.syncBatchBytes ?? 1 << 20;
    this.watchersPerSync = opts.watchersPerSync ?? 512;
    if (kv.onCommit) throw new Error('mvcc: store already has a commit listener');
    kv.onCommit = (batch) => this.notify(batch);
  }

  newWatchStream(opts: WatchStreamOptions): WatchStream {
    const s = new WatchStream(this, opts);
    this.streams.add(s);
    return s;
  }

  /** Number of watchers (synced + unsynced) across all streams. */
  watcherCount(): { synced: number; unsynced: number } {
    let synced = this.rangeWatchers.size;
    for (const set of this.keyWatchers.values()) synced += set.size;
    return { synced, unsynced: this.unsynced.size };
  }

  /**
   * Periodic progress notification (etcd sends one every 10 minutes by default): every synced watcher
   * that asked for progress_notify and got nothing since the last one receives an empty response at the
   * current revision. The server calls this from its timer.
   */
  progressNotify(): void {
    const rev = this.kv.rev();
    for (const s of this.streams) {
      for (const w of s._watchers()) {
        if (!w.progressNotify || !w.synced) continue;
        if (w.sentSinceProgress) {
          w.sentSinceProgress = false;
          continue;
        }
        if (s.paused || s._queued() > 0) continue;
        s._deliver(w, { watchId: w.id, revision: rev, events: [] }, true);
      }
    }
  }

  /**
   * One catch-up round over at most `watchersPerSync` unsynced watchers. Returns true if work remains.
   * Runs by itself through `schedule`; tests may call it directly.
   */
  syncWatchers(): boolean {
    const cur = this.kv.rev();
    const compactRev = this.kv.compactRevision();
    let served = 0;
    for (const w of [...this.unsynced]) {
      if (served >= this.watchersPerSync) break;
      const s = w.stream;
      if (s.paused || s._queued() > 0) continue;
      served++;
      // etcd cancels only below the compact revision: a watch may start at it.
      if (w.minRev < compactRev) {
        this.remove(w);
        s._dropWatcher(w.id);
        s._deliver(
          w,
          { watchId: w.id, revision: cur, events: [], compactRevision: compactRev, canceled: true },
          true,
        );
        continue;
      }
      if (w.minRev > cur) {
        // Starts in the future: nothing to catch up, wait among the synced ones.
        this.unsynced.delete(w);
        w.synced = true;
        this.addSynced(w);
        continue;
      }
      const batches = this.kv.eventsSince(w.minRev, cur, this.syncBatchEvents);
      const events: Event[] = [];
      let upTo = w.minRev - 1;
      let bytes = 0;
      for (const b of batches) {
        for (const ev of b.events) {
          if (!matches(w, ev)) continue;
          const e = present(w, ev);
          events.push(e);
          bytes += eventBytes([e]);
        }
        upTo = b.rev;
        // Whole revisions only; the next response carries on from here.
        if (bytes >= this.syncBatchBytes) break;
      }
      if (batches.length === 0) upTo = cur;
      w.minRev = upTo + 1;
      if (upTo >= cur) {
        this.unsynced.delete(w);
        w.synced = true;
        this.addSynced(w);
      } else {
        // Still behind: go to the back of the line so every unsynced watcher gets its turn.
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
      if (events.length > 0) s._deliver(w, { watchId: w.id, revision: upTo, events }, true);
    }
    for (const s of this.streams) s._maybeProgress();
    return this.unsynced.size > 0;
  }

  /**
   * After the key space was replaced (snapshot restore): every watcher catches up in the new history.
   * Synced watchers had seen everything up to `prevRev` (the revision before the restore), and Raft
   * makes the histories agree up to there, so they continue after it.
   */
  resync(prevRev: number): void {
    const synced = [...this.rangeWatchers];
    for (const set of this.keyWatchers.values()) synced.push(...set);
    for (const w of synced) {
      w.minRev = Math.max(w.minRev, prevRev + 1);
      this._unsync(w);
    }
    this._requestSync();
  }

  /** @internal */ _requestSync(): void {
    if (this.syncScheduled || this.unsynced.size === 0) return;
    this.syncScheduled = true;
    this.schedule(() => {
      this.syncScheduled = false;
      const more = this.syncWatchers();
      // Only keep going while some unsynced watcher can make progress (its stream is not paused).
      if (more && [...this.unsynced].some((w) => !w.stream.paused && w.stream._queued() === 0))
        this._requestSync();
    });
  }

  /** @internal */ _add(w: Watcher): void {
    if (w.synced) this.addSynced(w);
    else {
      this.unsynced.add(w);
      this._requestSync();
    }
  }

  /** @internal */ _remove(w: Watcher): void {
    this.remove(w);
  }

  /** @internal */ _closeStream(s: WatchStream): void {
    this.streams.delete(s);
  }

  /** @internal A synced watcher whose stream cannot take more: it will catch up from `minRev` later. */
  _unsync(w: Watcher): void {
    if (!w.synced) return;
    this.removeSynced(w);
    w.synced = false;
    this.unsynced.add(w);
  }

  private addSynced(w: Watcher): void {
    if (w.hi === undefined) {
      let set = this.keyWatchers.get(w.lo);
      if (!set) this.keyWatchers.set(w.lo, (set = new Set()));
      set.add(w);
    } else this.rangeWatchers.add(w);
  }

  private removeSynced(w: Watcher): void {
    if (w.hi === undefined) {
      const set = this.keyWatchers.get(w.lo);
      set?.delete(w);
      if (set && set.size === 0) this.keyWatchers.delete(w.lo);
    } else this.rangeWatchers.delete(w);
  }

  private remove(w: Watcher): void {
    if (w.synced) this.removeSynced(w);
    else this.unsynced.delete(w);
  }

  /** A write committed: hand its events to every synced watcher they concern. */
  private notify(batch: RevisionEvents): void {
    const per = new Map<Watcher, Event[]>();
    const add = (w: Watcher, ev: Event) => {
      if (w.minRev > batch.rev) return;
      let list = per.get(w);
      if (!list) per.set(w, (list = []));
      list.push(ev);
    };
    for (const ev of batch.events) {
      const set = this.keyWatchers.get(keyString(ev.kv.key));
      if (set) for (const w of set) add(w, ev);
    }
    if (this.rangeWatchers.size > 0) {
      for (const ev of batch.events) {
        const ks = keyString(ev.kv.key);
        for (const w of this.rangeWatchers) if (inRange(w, ks)) add(w, ev);
      }
    }
    for (const [w, evs] of per) {
      if (!w.synced) continue;
      const out: Event[] = [];
      for (const ev of evs) if (passes(w, ev)) out.push(present(w, ev));
      const prevMin = w.minRev;
      w.minRev = batch.rev + 1;
      if (out.length === 0) continue;
      if (!w.stream._offer(w, { watchId: w.id, revision: batch.rev, events: out })) {
        // The stream is full: this revision (and later ones) come from history once it drains.
        w.minRev = Math.max(prevMin, batch.rev);
        this._unsync(w);
      }
    }
    if (this.unsynced.size > 0) this._requestSync();
  }
}

/** One client Watch stream: many watchers, one ordered response sequence, and flow control. */
export class WatchStream {
  private readonly watchers = new Map<number, Watcher>();
  private readonly queue: WatchResponse[] = [];
  private queuedEvents = 0;
  private queuedBytes = 0;
  private nextId = 0;
  private closed = false;
  private progressPending = false;
  private isPaused = false;
  /** What the consumer threw, if it did (the stream is then closed). */
  failure: unknown;
  private readonly onResponse: (resp: WatchResponse) => void;
  private readonly maxPendingEvents: number;
  private readonly maxPendingBytes: number;
  private readonly maxWatchers: number;

  constructor(
    private readonly ws: WatchableStore,
    opts: WatchStreamOptions,
  ) {
    this.onResponse = opts.onResponse;
    this.maxPendingEvents = opts.maxPendingEvents ?? 10_000;
    this.maxPendingBytes = opts.maxPendingBytes ?? 16 << 20;
    this.maxWatchers = opts.maxWatchers ?? 100_000;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /**
   * Creates a watcher. Emits the `created` response (or a created+canceled one with the reason) before
   * anything else for it, and returns its id or the error.
   */
  watch(req: WatchRequest): number | MvccError {
    if (this.closed) throw new Error('mvcc: watch stream closed');
    const cur = this.ws.kv.rev();
    const fail = (err: MvccError): MvccError => {
      this.emit({
        watchId: -1,
        revision: cur,
        events: [],
        created: true,
        canceled: true,
        cancelReason: err.message,
      });
      return err;
    };
    let hi: string | null | undefined;
    const end = req.rangeEnd;
    if (!end || end.length === 0) hi = undefined;
    else if (end.length === 1 && end[0] === 0) hi = null;
    else {
      hi = keyString(end);
      if (keyString(req.key) >= hi)
        return fail(new MvccError('empty-watcher-range', 'mvcc: watcher range is empty'));
    }
    let id = req.watchId ?? 0;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return fail(
        new MvccError('duplicate-watch-id', 'mvcc: duplicate watch ID provided on the WatchStream'),
      );
    }
    if (this.watchers.size >= this.maxWatchers) {
      return fail(
        new MvccError(
          'too-many-watchers',
          `mvcc: too many watchers on this stream (max ${this.maxWatchers})`,
        ),
      );
    }
    const start = req.startRevision ?? 0;
    const minRev = start > 0 ? start : cur + 1;
    const filters = req.filters ?? [];
    const w: Watcher = {
      id,
      stream: this,
      key: Buffer.from(req.key),
      lo: keyString(req.key),
      hi,
      prevKv: !!req.prevKv,
      noPut: filters.includes(0),
      noDelete: filters.includes(1),
      progressNotify: !!req.progressNotify,
      minRev,
      synced: minRev > cur,
      sentSinceProgress: false,
    };
    this.watchers.set(id, w);
    this.emit({ watchId: id, revision: cur, events: [], created: true });
    this.ws._add(w);
    return id;
  }

  /** Cancels a watcher: drops what was queued for it and emits its `canceled` response. False if unknown. */
  cancel(id: number): boolean {
    const w = this.watchers.get(id);
    if (!w) return false;
    this.ws._remove(w);
    this._dropWatcher(id);
    this.emit({ watchId: id, revision: this.ws.kv.rev(), events: [], canceled: true });
    return true;
  }

  /**
   * Asks for a progress notification (watchId -1 at the current revision). It is sent once every watcher
   * of the stream is synced and everything before it was delivered, so it is a true bookmark.
   */
  requestProgress(): void {
    this.progressPending = true;
    this._maybeProgress();
  }

  /** The consumer cannot take more: responses are held (bounded), then watchers fall back to history. */
  pause(): void {
    this.isPaused = true;
  }

  /** The consumer drained: flush what is held, then let watchers catch up. */
  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.flush();
    if (!this.isPaused) {
      this._maybeProgress();
      this.ws._requestSync();
    }
  }

  /** Removes every watcher; nothing more is emitted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers.values()) this.ws._remove(w);
    this.watchers.clear();
    this.queue.length = 0;
    this.queuedEvents = this.queuedBytes = 0;
    this.ws._closeStream(this);
  }

  /** Number of watchers on this stream. */
  get size(): number {
    return this.watchers.size;
  }

  // --- internals used by WatchableStore ---

  /** @internal */ _watchers(): IterableIterator<Watcher> {
    return this.watchers.values();
  }

  /** @internal */ _queued(): number {
    return this.queue.length;
  }

  /** @internal */ _dropWatcher(id: number): void {
    this.watchers.delete(id);
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const r = this.queue[i]!;
      if (r.watchId === id) {
        this.queue.splice(i, 1);
        this.queuedEvents -= r.events.length;
        this.queuedBytes -= eventBytes(r.events);
      }
    }
  }

  /** @internal Offers events of a synced watcher; false if the stream is over its bound. */
  _offer(w: Watcher, resp: WatchResponse): boolean {
    if (this.closed) return true;
    if (!this.isPaused && this.queue.length === 0) {
      this._deliver(w, resp, false);
      return true;
    }
    const bytes = eventBytes(resp.events);
    if (
      this.queuedEvents + resp.events.length > this.maxPendingEvents ||
      this.queuedBytes + bytes > this.maxPendingBytes
    ) {
      return false;
    }
    this._deliver(w, resp, false);
    return true;
  }

  /** @internal */ _deliver(w: Watcher, resp: WatchResponse, _fromSync: boolean): void {
    w.sentSinceProgress = true;
    this.emit(resp);
  }

  /** @internal */ _maybeProgress(): void {
    if (!this.progressPending || this.closed || this.isPaused || this.queue.length > 0) return;
    for (const w of this.watchers.values()) if (!w.synced) return;
    this.progressPending = false;
    this.emit({ watchId: -1, revision: this.ws.kv.rev(), events: [] });
  }

  private emit(resp: WatchResponse): void {
    if (this.closed) return;
    if (this.isPaused || this.queue.length > 0) {
      this.queue.push(resp);
      this.queuedEvents += resp.events.length;
      this.queuedBytes += eventBytes(resp.events);
      return;
    }
    this.send(resp);
  }

  /** A consumer that throws loses its stream, never the apply loop that is delivering to it. */
  private send(resp: WatchResponse): void {
    try {
      this.onResponse(resp);
    } catch (err) {
      this.failure = err;
      this.close();
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.isPaused && !this.closed) {
      const r = this.queue.shift()!;
      this.queuedEvents -= r.events.length;
      this.queuedBytes -= eventBytes(r.events);
      this.send(r);
    }
  }
}

function inRange(w: Watcher, ks: string): boolean {
  if (w.hi === undefined) return ks === w.lo;
  return ks >= w.lo && (w.hi === null || ks < w.hi);
}

function passes(w: Watcher, ev: Event): boolean {
  if (ev.type === EventType.PUT) return !w.noPut;
  return !w.noDelete;
}

function matches(w: Watcher, ev: Event): boolean {
  return inRange(w, keyString(ev.kv.key)) && passes(w, ev);
}

/** The event as this watcher sees it: with or without prev_kv (shared KeyValues are never mutated). */
function present(w: Watcher, ev: Event): Event {
  if (w.prevKv)
    return ev.prevKv ? { type: ev.type, kv: ev.kv, prevKv: ev.prevKv } : { type: ev.type, kv: ev.kv };
  return { type: ev.type, kv: ev.kv };
}

function eventBytes(events: Event[]): number {
  let n = 0;
  for (const ev of events)
    n += ev.kv.key.length + ev.kv.value.length + (ev.prevKv ? ev.prevKv.value.length : 0);
  return n;
}
