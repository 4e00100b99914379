// The dashboard server: serves the page and a small JSON API, and pushes the cluster's live state to each
// page over a WebSocket in batches (a snapshot first, then deltas at most every --batch-interval).
import http from 'node:http';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import { KubeClient, type ClientConfig } from '../apimachinery/client.js';
import { RESOURCES } from '../apimachinery/index.js';
import type { Logger } from '../common/index.js';
import { applyManifest, ManifestError, MAX_MANIFEST_BYTES } from './apply.js';
import {
  ACTIONS,
  ControlClient,
  ControlError,
  sameEndpoint,
  urlsOf,
  type Action,
  type Component,
} from './control.js';
import { KubeFeed, type View, type WorkloadKind } from './kubefeed.js';
import { StoreFeed, shortError, type LeaderChange, type MemberStatus, type StoreEvent } from './storefeed.js';

export interface DashboardOptions {
  apiserver: ClientConfig;
  etcdServers: string[];
  etcdPrefix: string;
  clusterControl?: string;
  bindAddress: string;
  port: number;
  manifestsDir: string;
  statusIntervalMs: number;
  batchIntervalMs: number;
  log: Logger;
}

/** Store events held for one batch; past it they are counted, not sent (the page shows the count). */
const MAX_EVENTS_PER_BATCH = 500;
/** Recent events a new page starts with. */
const RECENT_EVENTS = 300;
/** A page whose socket buffers more than this stops getting deltas until it drains, then gets a snapshot. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 512 * 1024;
const MAX_CLIENTS = 64;
const WORKLOAD_KINDS: WorkloadKind[] = ['deployments', 'replicasets', 'pods', 'nodes', 'leases'];

interface Client {
  ws: WebSocket;
  /** Missed deltas: gets a full snapshot once its buffer drains. */
  stale: boolean;
}

export class DashboardServer {
  private readonly app = express();
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  readonly store: StoreFeed;
  readonly kube: KubeFeed;
  private readonly kubeClient: KubeClient;
  private readonly control?: ControlClient;
  private components: Component[] = [];
  private componentsError: string | undefined;

  // What changed since the last batch.
  private events: StoreEvent[] = [];
  private eventsDropped = 0;
  private readonly recent: StoreEvent[] = [];
  private readonly dirtyKeys = new Set<string>();
  private keysReset = false;
  private readonly dirty: Record<WorkloadKind, Map<string, View | null>> = {
    deployments: new Map(),
    replicasets: new Map(),
    pods: new Map(),
    nodes: new Map(),
    leases: new Map(),
  };
  private readonly kindReset = new Set<WorkloadKind>();
  private membersDirty = false;
  private leaderChange: LeaderChange | undefined;
  private timer: NodeJS.Timeout | undefined;
  private componentsTimer: NodeJS.Timeout | undefined;
  private readonly counters = { events: 0, batches: 0, bytes: 0 };
  url = '';

  constructor(private readonly opts: DashboardOptions) {
    this.kubeClient = new KubeClient({ ...opts.apiserver, userAgent: 'dashboard', timeoutMs: 15_000 });
    if (opts.clusterControl) this.control = new ControlClient(opts.clusterControl);
    this.store = new StoreFeed(
      {
        endpoints: opts.etcdServers,
        prefix: opts.etcdPrefix,
        statusIntervalMs: opts.statusIntervalMs,
        log: opts.log,
      },
      {
        members: (_m, change) => {
          this.membersDirty = true;
          if (change) this.leaderChange = change;
        },
        event: (e) => this.onStoreEvent(e),
        reset: () => {
          this.keysReset = true;
          this.dirtyKeys.clear();
        },
      },
    );
    this.kube = new KubeFeed(this.kubeClient, opts.log, {
      upsert: (k, v) => this.dirty[k].set(v.id, v),
      remove: (k, id) => this.dirty[k].set(id, null),
      reset: (k) => {
        this.kindReset.add(k);
        this.dirty[k].clear();
      },
    });
    this.routes();
    this.http = http.createServer(this.app);
    this.wss = new WebSocketServer({ server: this.http, path: '/ws', maxPayload: 64 * 1024 });
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  async start(): Promise<string> {
    await new Promise<void>((res, rej) => {
      this.http.once('error', rej);
      this.http.listen(this.opts.port, this.opts.bindAddress, () => res());
    });
    const addr = this.http.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    const host = this.opts.bindAddress.includes(':') ? `[${this.opts.bindAddress}]` : this.opts.bindAddress;
    this.url = `http://${host}:${port}`;
    void this.store.start();
    this.kube.start();
    void this.refreshComponents();
    this.timer = setInterval(() => this.flush(), this.opts.batchIntervalMs);
    return this.url;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.componentsTimer);
    for (const c of this.clients) c.ws.terminate();
    this.wss.close();
    this.kube.stop();
    this.kubeClient.close();
    await this.store.stop();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  // ---- batching -----------------------------------------------------------------------------------

  private onStoreEvent(e: StoreEvent): void {
    this.counters.events++;
    this.dirtyKeys.add(e.key);
    if (this.events.length < MAX_EVENTS_PER_BATCH) this.events.push(e);
    else this.eventsDropped++;
    this.recent.push(e);
    if (this.recent.length > RECENT_EVENTS * 2) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
  }

  private snapshot(): object {
    const workloads: Record<string, View[]> = {};
    for (const k of WORKLOAD_KINDS) workloads[k] = [...this.kube.objects[k].values()];
    const keys: [string, number, number, number][] = [];
    for (const [k, m] of this.store.keys) keys.push([k, m.c, m.m, m.v]);
    return {
      type: 'snapshot',
      now: Date.now(),
      info: this.info(),
      members: this.decoratedMembers(),
      leaderChanges: this.store.leaderChanges,
      revision: this.store.revision,
      keys,
      events: this.recent.slice(-RECENT_EVENTS),
      workloads,
      components: this.components,
    };
  }

  /** One delta for every page: built and serialized once per interval, only when something changed. */
  private flush(): void {
    const msg: Record<string, unknown> = { type: 'batch', now: Date.now(), revision: this.store.revision };
    let changed = false;
    if (this.membersDirty) {
      msg.members = this.decoratedMembers();
      msg.watching = this.store.watching;
      if (this.leaderChange) msg.leaderChange = this.leaderChange;
      this.membersDirty = false;
      this.leaderChange = undefined;
      changed = true;
    }
    if (this.keysReset) {
      const keys: [string, number, number, number][] = [];
      for (const [k, m] of this.store.keys) keys.push([k, m.c, m.m, m.v]);
      msg.keysReset = keys;
      this.keysReset = false;
      this.dirtyKeys.clear();
      changed = true;
    } else if (this.dirtyKeys.size > 0) {
      const put: [string, number, number, number][] = [];
      const del: string[] = [];
      for (const k of this.dirtyKeys) {
        const m = this.store.keys.get(k);
        if (m) put.push([k, m.c, m.m, m.v]);
        else del.push(k);
      }
      msg.keys = { put, del };
      this.dirtyKeys.clear();
      changed = true;
    }
    if (this.events.length > 0 || this.eventsDropped > 0) {
      msg.events = this.events;
      msg.eventsDropped = this.eventsDropped;
      this.events = [];
      this.eventsDropped = 0;
      changed = true;
    }
    const wl: Record<string, { reset?: boolean; put: View[]; del: string[] }> = {};
    for (const k of WORKLOAD_KINDS) {
      const d = this.dirty[k];
      if (d.size === 0 && !this.kindReset.has(k)) continue;
      const entry: { reset?: boolean; put: View[]; del: string[] } = { put: [], del: [] };
      if (this.kindReset.has(k)) {
        entry.reset = true;
        entry.put = [...this.kube.objects[k].values()];
      } else
        for (const [id, v] of d) {
          if (v) entry.put.push(v);
          else entry.del.push(id);
        }
      wl[k] = entry;
      d.clear();
      changed = true;
    }
    this.kindReset.clear();
    if (Object.keys(wl).length > 0) msg.workloads = wl;
    if (!changed) {
      this.resyncStaleClients();
      return;
    }
    const text = JSON.stringify(msg);
    this.counters.batches++;
    for (const c of this.clients) {
      if (c.stale) continue;
      if (c.ws.bufferedAmount > HIGH_WATER) {
        c.stale = true;
        continue;
      }
      c.ws.send(text);
      this.counters.bytes += text.length;
    }
    this.resyncStaleClients();
  }

  private resyncStaleClients(): void {
    for (const c of this.clients) {
      if (c.stale && c.ws.bufferedAmount < LOW_WATER) {
        c.stale = false;
        c.ws.send(JSON.stringify(this.snapshot()));
      }
    }
  }

  private onConnection(ws: WebSocket): void {
    if (this.clients.size >= MAX_CLIENTS) {
      ws.close(1013, 'too many dashboard pages open');
      return;
    }
    const c: Client = { ws, stale: false };
    this.clients.add(c);
    ws.on('close', () => this.clients.delete(c));
    ws.on('error', () => this.clients.delete(c));
    // The page sends nothing it needs answered over the socket; requests go over HTTP.
    ws.on('message', () => undefined);
    ws.send(JSON.stringify(this.snapshot()));
  }

  // ---- control API ------------------------------------------------------------------------------

  private async refreshComponents(): Promise<void> {
    if (!this.control) return;
    try {
      const list = await this.control.components();
      const before = JSON.stringify(this.components);
      this.components = list;
      this.componentsError = undefined;
      if (JSON.stringify(list) !== before) this.membersDirty = true;
    } catch (err) {
      this.componentsError = shortError(err);
    } finally {
      clearTimeout(this.componentsTimer);
      this.componentsTimer = setTimeout(() => void this.refreshComponents(), 1000);
    }
  }

  /** Members with the supervisor's name and state for each (matched by client URL). */
  private decoratedMembers(): (MemberStatus & { component?: string; state?: string; pid?: number })[] {
    return this.store.members.map((m) => {
      const c = this.components.find(
        (x) => x.kind === 'store' && urlsOf(x).some((u) => sameEndpoint(u, m.endpoint)),
      );
      return c ? { ...m, component: c.name, state: c.state, pid: c.pid } : m;
    });
  }

  private info(): object {
    return {
      apiserver: this.opts.apiserver.server,
      etcdServers: this.opts.etcdServers,
      prefix: this.opts.etcdPrefix,
      control: !!this.control,
      controlError: this.componentsError,
      batchIntervalMs: this.opts.batchIntervalMs,
      statusIntervalMs: this.opts.statusIntervalMs,
      resources: RESOURCES.map((r) => ({ resource: r.resource, kind: r.kind, namespaced: r.namespaced })),
    };
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  private routes(): void {
    const app = this.app;
    app.disable('x-powered-by');
    app.use((_req, res, next) => {
      // Everything the page loads comes from here: no other origin may be reached from it.
      res.setHeader(
        'content-security-policy',
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
      );
      next();
    });
    app.use(express.static(publicDir(), { index: 'index.html', maxAge: 0 }));
    app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
    app.get('/api/info', (_req, res) => void res.json(this.info()));
    app.get(
      '/api/stats',
      (_req, res) =>
        void res.json({
          ...this.counters,
          clients: this.clients.size,
          keys: this.store.keys.size,
          revision: this.store.revision,
          watching: this.store.watching,
          synced: this.kube.synced,
          objects: Object.fromEntries(WORKLOAD_KINDS.map((k) => [k, this.kube.objects[k].size])),
        }),
    );
    app.get(
      '/api/key',
      (req, res) =>
        void this.wrap(res, async () => {
          const key = String(req.query.key ?? '');
          if (!key) return bad(res, 'query parameter "key" is required');
          return res.json(await this.store.history(key));
        }),
    );
    app.get(
      '/api/value',
      (req, res) =>
        void this.wrap(res, async () => {
          const key = String(req.query.key ?? '');
          const rev = Number(req.query.rev);
          if (!key || !Number.isSafeInteger(rev) || rev <= 0)
            return bad(res, '"key" and a positive "rev" are required');
          return res.json(await this.store.valueAt(key, rev));
        }),
    );
    app.get(
      '/api/timetravel',
      (req, res) =>
        void this.wrap(res, async () => {
          const rev = Number(req.query.rev);
          if (!Number.isSafeInteger(rev) || rev <= 0) return bad(res, '"rev" must be a positive revision');
          return res.json(await this.store.timeTravel(rev));
        }),
    );
    app.get(
      '/api/compact-revision',
      (_req, res) =>
        void this.wrap(res, async () => {
          return res.json({
            compactRevision: await this.store.compactRevision(),
            current: this.store.revision,
          });
        }),
    );
    app.get('/api/manifests', (_req, res) => void res.json(this.manifestNames()));
    app.get('/api/manifest', (req, res) => {
      const name = String(req.query.name ?? '');
      // Only names from the listing: a request cannot climb out of the folder.
      if (!this.manifestNames().includes(name))
        return void res.status(404).json({ message: `no manifest "${name}"` });
      res.type('text/plain').send(readFileSync(join(this.opts.manifestsDir, name), 'utf8'));
    });
    app.post(
      '/api/apply',
      express.text({ type: '*/*', limit: MAX_MANIFEST_BYTES }),
      (req: Request, res: Response) =>
        void this.wrap(res, async () => {
          const text = typeof req.body === 'string' ? req.body : '';
          try {
            return res.json({ results: await applyManifest(this.kubeClient, text) });
          } catch (err) {
            if (err instanceof ManifestError) return bad(res, err.message);
            throw err;
          }
        }),
    );
    app.get(
      '/api/components',
      (_req, res) =>
        void this.wrap(res, async () => {
          if (!this.control)
            return res.status(404).json({ message: 'the dashboard was started without --cluster-control' });
          return res.json(await this.control.components());
        }),
    );
    app.post(
      '/api/components/:name/:action',
      (req, res) =>
        void this.wrap(res, async () => {
          if (!this.control)
            return res.status(404).json({ message: 'the dashboard was started without --cluster-control' });
          const action = String(req.params.action) as Action;
          if (!ACTIONS.includes(action))
            return bad(res, `unknown action "${action}" (want ${ACTIONS.join(', ')})`);
          const out = await this.control.act(String(req.params.name), action);
          void this.refreshComponents();
          return res.json(out ?? { ok: true });
        }),
    );
    app.use('/api', (_req, res) => void res.status(404).json({ message: 'no such API path' }));
  }

  /** Manifest files in the folder and one level of subfolders (e.g. invalid/bad-name.yaml), sorted. */
  private manifestNames(): string[] {
    const dir = this.opts.manifestsDir;
    if (!existsSync(dir)) return [];
    const out: string[] = [];
    const isManifest = (n: string) => /\.(ya?ml|json)$/.test(n);
    for (const n of readdirSync(dir).sort()) {
      const st = statSync(join(dir, n));
      if (st.isFile() && isManifest(n)) out.push(n);
      else if (st.isDirectory())
        for (const m of readdirSync(join(dir, n)).sort())
          if (isManifest(m) && statSync(join(dir, n, m)).isFile()) out.push(`${n}/${m}`);
      if (out.length >= 500) break;
    }
    return out;
  }

  private async wrap(res: Response, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const code = err instanceof ControlError ? err.code : 502;
      if (!res.headersSent) res.status(code).json({ message: shortError(err) });
    }
  }
}

function bad(res: Response, message: string): Response {
  return res.status(400).json({ message });
}

/** dashboard/public from the source tree, whether this file runs from dist/dashboard or dashboard/. */
export function publicDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const p of [join(here, 'public'), resolve(here, '../../dashboard/public')])
    if (existsSync(join(p, 'index.html'))) return p;
  throw new Error(`dashboard/public not found near ${here}`);
}

export function defaultManifestsDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const p of [resolve(here, '../manifests'), resolve(here, '../../manifests')])
    if (existsSync(p)) return p;
  return resolve(here, '../manifests');
}
