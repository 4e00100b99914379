// An Informer keeps a local cache of one resource in step with the API server: list, then watch from the
// list's resourceVersion; re-list on 410 Gone or a broken watch (with backoff); periodic resync. Handlers
// are told about adds, updates and deletes, and should only enqueue keys.
import type { KubeObject, Status } from '../apimachinery/index.js';
import { isGone, type KubeClient, type ResourceType } from '../apimachinery/client.js';
import { Logger } from '../common/index.js';
import { Backoff } from './backoff.js';

export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

/** Maps an object to the index values it is filed under. */
export type IndexFunc<T> = (obj: T) => string[];

export interface InformerOptions<T> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Every resyncMs, every cached object is re-delivered as an update (0 = never). */
  resyncMs?: number;
  /** Extra indexes besides the built-in namespace, owner and node ones. */
  indexers?: Record<string, IndexFunc<T>>;
  logger?: Logger;
  /** Page size of the initial list. */
  pageSize?: number;
}

/** The cache key of an object: namespace/name, or name for cluster-scoped objects. */
export function keyOf(obj: KubeObject): string {
  const m = obj.metadata;
  return m.namespace ? `${m.namespace}/${m.name}` : m.name!;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export const NamespaceIndex = 'namespace';
export const OwnerIndex = 'owner';
export const NodeIndex = 'node';

const builtinIndexers: Record<string, IndexFunc<KubeObject>> = {
  [NamespaceIndex]: (o) => (o.metadata.namespace ? [o.metadata.namespace] : []),
  [OwnerIndex]: (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid),
  [NodeIndex]: (o) => {
    const n = (o.spec as { nodeName?: string } | undefined)?.nodeName;
    return n ? [n] : [];
  },
};

/** Shortest watch before the informer suspects a flapping server and backs off. */
const MIN_HEALTHY_WATCH_MS = 1000;

export class Informer<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly indexers: Record<string, IndexFunc<T>>;
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly handlers: EventHandlers<T>[] = [];
  private readonly log: Logger;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** The resourceVersion the cache reflects (of the last list, event or bookmark). */
  lastSyncResourceVersion = '';
  relists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    private readonly opts: InformerOptions<T> = {},
  ) {
    this.indexers = { ...(builtinIndexers as Record<string, IndexFunc<T>>), ...(opts.indexers ?? {}) };
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
    this.log =
      opts.logger?.child(`informer/${resource.resource}`) ?? new Logger(`informer/${resource.resource}`);
  }

  /** Adds handlers; if the cache is already filled, the new handler first gets an add per cached object. */
  addEventHandlers(h: EventHandlers<T>): void {
    this.handlers.push(h);
    if (this.synced) for (const o of this.items.values()) h.onAdd?.(o);
  }

  start(): void {
    if (this.running) return;
    this.running = this.run();
    if (this.opts.resyncMs && this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.running;
    this.running = undefined;
    this.abort = new AbortController();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(name: string, namespace?: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(index: string, value: string): T[] {
    const idx = this.indices.get(index);
    if (!idx) throw new Error(`informer ${this.resource.resource}: no index "${index}"`);
    const keys = idx.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.items.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(200, 30_000);
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const listed = await this.client.listAll<T>(this.resource, {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: this.opts.pageSize ?? 500,
      });
      if (signal.aborted) return;
      if (!listed.ok) {
        this.log.warn('list failed', { code: listed.status.code, message: listed.status.message });
        await sleep(backoff.next(), signal);
        continue;
      }
      this.relists++;
      this.replace(listed.value.items, listed.value.metadata.resourceVersion ?? '');
      const relist = await this.watchLoop(backoff, signal);
      if (!relist) return;
    }
  }

  /** Watches until the watch can no longer resume; returns true when a re-list is needed. */
  private async watchLoop(backoff: Backoff, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const started = Date.now();
      const w = await this.client.watch<T>(this.resource, {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        resourceVersion: this.lastSyncResourceVersion,
        allowWatchBookmarks: true,
        // Spread reconnects of many informers, as client-go does (5-10 minutes).
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        signal,
      });
      if (signal.aborted) return false;
      if (!w.ok) {
        if (isGone(w)) {
          this.log.info('watch expired (410), re-listing', { resourceVersion: this.lastSyncResourceVersion });
        } else {
          this.log.warn('watch failed, re-listing', { code: w.status.code, message: w.status.message });
          await sleep(backoff.next(), signal);
        }
        return true;
      }
      let events = 0;
      for await (const ev of w.value) {
        if (ev.type === 'ERROR') {
          const st = ev.object as Status;
          w.value.close();
          if (st.code === 410) {
            this.log.info('watch expired (410), re-listing');
          } else {
            this.log.warn('watch error, re-listing', { code: st.code, message: st.message });
            await sleep(backoff.next(), signal);
          }
          return true;
        }
        events++;
        this.apply(ev.type, ev.object as T);
      }
      if (signal.aborted) return false;
      if (events > 0 || Date.now() - started >= MIN_HEALTHY_WATCH_MS) backoff.reset();
      else await sleep(backoff.next(), signal);
    }
    return false;
  }

  private apply(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.lastSyncResourceVersion = rv;
      return;
    }
    const key = keyOf(obj);
    const old = this.items.get(key);
    if (type === 'DELETED') {
      if (old) {
        this.remove(key, old);
        for (const h of this.handlers) h.onDelete?.(obj);
      }
    } else if (old) {
      this.put(key, obj, old);
      for (const h of this.handlers) h.onUpdate?.(old, obj);
    } else {
      this.put(key, obj, undefined);
      for (const h of this.handlers) h.onAdd?.(obj);
    }
    if (rv) this.lastSyncResourceVersion = rv;
  }

  /** Swaps in a fresh list: objects gone since are deleted, the rest delivered as adds or updates. */
  private replace(list: T[], resourceVersion: string): void {
    const fresh = new Map<string, T>();
    for (const o of list) fresh.set(keyOf(o), o);
    for (const [key, old] of [...this.items]) {
      if (!fresh.has(key)) {
        this.remove(key, old);
        for (const h of this.handlers) h.onDelete?.(old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.items.get(key);
      this.put(key, obj, old);
      for (const h of this.handlers) {
        if (old) h.onUpdate?.(old, obj);
        else h.onAdd?.(obj);
      }
    }
    this.lastSyncResourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private resync(): void {
    for (const o of this.items.values()) for (const h of this.handlers) h.onUpdate?.(o, o);
  }

  private put(key: string, obj: T, old: T | undefined): void {
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        let s = idx.get(v);
        if (!s) idx.set(v, (s = new Set()));
        s.add(key);
      }
    }
  }

  private remove(key: string, old: T): void {
    this.unindex(key, old);
    this.items.delete(key);
  }

  private unindex(key: string, old: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name)!;
      for (const v of fn(old)) {
        const s = idx.get(v);
        if (!s) continue;
        s.delete(key);
        if (s.size === 0) idx.delete(v);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Hands out one Informer per (resource, namespace, selectors), so controllers in one process share a single
 * list+watch and cache per resource.
 */
export class SharedInformerFactory {
  private readonly informers = new Map<string, Informer<any>>();
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly defaults: { resyncMs?: number; logger?: Logger } = {},
  ) {}

  informerFor<T extends KubeObject>(resource: ResourceType, opts: InformerOptions<T> = {}): Informer<T> {
    const id = [
      resource.group,
      resource.resource,
      opts.namespace ?? '',
      opts.labelSelector ?? '',
      opts.fieldSelector ?? '',
    ].join('|');
    let inf = this.informers.get(id) as Informer<T> | undefined;
    if (!inf) {
      inf = new Informer<T>(this.client, resource, { ...this.defaults, ...opts });
      this.informers.set(id, inf);
      if (this.started) inf.start();
    }
    return inf;
  }

  start(): void {
    this.started = true;
    for (const i of this.informers.values()) i.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
