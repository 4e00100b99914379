// The REST handlers: get, list, watch, create, update, patch, delete and the subresources (status, scale,
// binding, eviction, finalize; log, exec, attach and portforward answer why they cannot) for every served
// resource, on top of Storage (the store) and WatchCache (watch).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import {
  StatusError,
  badRequest,
  notFound,
  alreadyExists,
  conflict,
  invalid,
  methodNotAllowed,
  notAcceptable,
  forbidden,
  resourceExpired,
  success,
  internalError,
  parseSelector,
  parseFieldSelector,
  unsupportedField,
  fieldSelectorMatches,
  apiVersionOf,
  formatLabelSelector,
  typeInvalid,
  resourceForKind,
  FINALIZER_FOREGROUND,
  FINALIZER_ORPHAN,
  type KubeObject,
  type Status,
  type FieldError,
  type Selector,
  type FieldSelector,
  type ResourceInfo,
  type WatchEventType,
  SelectorParseError,
  FieldSelectorParseError,
} from '../apimachinery/index.js';
import type { Logger } from '../common/index.js';
import { Storage, storeErrorToStatus, type StoredKV } from './storage.js';
import { encodeForStore, decodeStored, rawWithResourceVersion } from './codec.js';
import { WatchCache, type WatchSink } from './watchcache.js';
import {
  readBody,
  decodeBody,
  negotiate,
  sendJSON,
  sendYAML,
  mediaType,
  type Target,
  type Negotiated,
} from './request.js';
import { checkSchema, pruneFields, dropNulls, validateObjectMeta, validateSemantics } from './validate.js';
import { applyDefaults } from './defaults.js';
import {
  prepareForCreate,
  prepareForUpdate,
  prepareForStatusUpdate,
  generateName,
  nowRFC3339,
  sameContent,
  STATUS_KINDS,
} from './strategy.js';
import { mergePatch, jsonPatch, strategicMergePatch } from './patch.js';
import { applyConfiguration, trackUpdate } from './managedfields.js';
import { DEFINITIONS, definitionFor } from './schemas.js';
import { toTable, type IncludeObject } from './tables.js';

type Obj = Record<string, unknown>;

export interface RestOptions {
  prefix: string;
  /** Events expire this long after their last write (kube-apiserver's --event-ttl); 0 keeps them. */
  eventTTLSeconds: number;
  watchCacheSize: number;
  bookmarkIntervalMs: number;
  /** Upper bound on a watch's lifetime when the client gives no timeoutSeconds. */
  minRequestTimeoutSeconds: number;
}

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];
const MAX_UPDATE_RETRIES = 10;
const MAX_LIST_SCAN_PAGES = 1000;
const LIST_PAGE_SIZE = 1000;
/** Largest slow-client backlog a watch may build before it is dropped (the client re-watches). */
const MAX_WATCH_BACKLOG_BYTES = 16 * 1024 * 1024;

interface Query {
  get(name: string): string | null;
}

function gr(info: ResourceInfo): { group: string; resource: string } {
  return { group: info.group, resource: info.resource };
}

/** The schema errors found while decoding a body, so a create need not check the same object twice. */
const decodedSchemaErrors = new WeakMap<object, FieldError[]>();

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class RestHandler {
  private caches = new Map<string, WatchCache>();

  constructor(
    private readonly storage: Storage,
    private readonly opts: RestOptions,
    private readonly log: Logger,
  ) {}

  // ---- keys --------------------------------------------------------------------------------------

  /** Seconds to live for objects of this resource (Events only), 0 for none. */
  private ttlOf(info: ResourceInfo): number {
    return info.kind === 'Event' ? this.opts.eventTTLSeconds : 0;
  }

  resourcePrefix(info: ResourceInfo): string {
    return `${this.opts.prefix}/${info.resource}/`;
  }

  key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return info.namespaced
      ? `${this.opts.prefix}/${info.resource}/${namespace}/${name}`
      : `${this.opts.prefix}/${info.resource}/${name}`;
  }

  collectionPrefix(info: ResourceInfo, namespace: string | undefined): string {
    return info.namespaced && namespace
      ? `${this.opts.prefix}/${info.resource}/${namespace}/`
      : this.resourcePrefix(info);
  }

  cache(info: ResourceInfo): WatchCache {
    let c = this.caches.get(info.resource);
    if (!c) {
      c = new WatchCache(
        this.storage,
        this.resourcePrefix(info),
        info.kind,
        apiVersionOf(info.group, info.version),
        this.log.child(`cache/${info.resource}`),
        this.opts.watchCacheSize,
        this.opts.bookmarkIntervalMs,
      );
      this.caches.set(info.resource, c);
    }
    return c;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.stop()));
  }

  cacheStats(): { resource: string; objects: number; watchers: number; eventsSent: number }[] {
    return [...this.caches.entries()].map(([resource, c]) => ({
      resource,
      objects: c.objectCount(),
      watchers: c.watcherCount(),
      eventsSent: c.eventsSent,
    }));
  }

  // ---- dispatch ----------------------------------------------------------------------------------

  async handle(req: IncomingMessage, res: ServerResponse, t: Target, q: Query): Promise<void> {
    const method = req.method ?? 'GET';
    const neg = negotiate(req.headers.accept);
    if (neg.unacceptable && !(method === 'GET' && q.get('watch'))) {
      throw new StatusError(
        notAcceptable(
          `only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io`,
        ),
      );
    }
    if (t.info.namespaced && t.name === undefined && t.namespace === undefined && method !== 'GET') {
      throw new StatusError(methodNotAllowed());
    }
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    if (t.name === undefined) {
      if (method === 'GET' && isWatch) return this.watch(res, t, q, neg);
      if (method === 'GET') return this.list(res, t, q, neg);
      if (method === 'POST') return this.create(req, res, t, q, neg);
      if (method === 'DELETE') return this.deleteCollection(req, res, t, q);
      throw new StatusError(methodNotAllowed());
    }
    if (t.subresource === 'binding') {
      if (method !== 'POST') throw new StatusError(methodNotAllowed());
      return this.bind(req, res, t);
    }
    if (t.subresource !== undefined && PROCESS_SUBRESOURCES.has(t.subresource)) {
      const allowed = t.subresource === 'log' ? ['GET'] : ['GET', 'POST'];
      if (!allowed.includes(method)) throw new StatusError(methodNotAllowed());
      return this.noProcesses(t);
    }
    if (t.subresource === 'eviction') {
      if (method !== 'POST') throw new StatusError(methodNotAllowed());
      return this.evict(req, res, t, q);
    }
    if (t.subresource === 'scale') {
      if (method === 'GET') return this.getScale(res, t);
      if (method === 'PUT' || method === 'PATCH') return this.updateScale(req, res, t, q, method);
      throw new StatusError(methodNotAllowed());
    }
    switch (method) {
      case 'GET':
        if (isWatch) return this.watch(res, t, q, neg);
        return this.get(res, t, neg);
      case 'PUT':
        return this.update(req, res, t, q, neg);
      case 'PATCH':
        return this.patch(req, res, t, q, neg);
      case 'DELETE':
        if (t.subresource) throw new StatusError(methodNotAllowed());
        return this.delete(req, res, t, q, neg);
      default:
        throw new StatusError(methodNotAllowed());
    }
  }

  private respond(
    res: ServerResponse,
    code: number,
    body: unknown,
    neg: Negotiated,
    warnings: string[] = [],
  ): void {
    if (neg.yaml) sendYAML(res, code, body, warnings);
    else sendJSON(res, code, body, warnings);
  }

  private respondObject(
    res: ServerResponse,
    code: number,
    obj: KubeObject,
    t: Target,
    neg: Negotiated,
    q?: Query,
    warnings: string[] = [],
  ): void {
    if (neg.table) {
      const include = (q?.get('includeObject') as IncludeObject | null) ?? 'Metadata';
      this.respond(
        res,
        code,
        toTable(t.info.kind, [obj], { resourceVersion: obj.metadata.resourceVersion }, include),
        neg,
        warnings,
      );
    } else this.respond(res, code, obj, neg, warnings);
  }

  // ---- read --------------------------------------------------------------------------------------

  private async getKV(t: Target): Promise<StoredKV> {
    const { kv } = await this.storage.get(this.key(t.info, t.namespace, t.name!));
    if (!kv) throw new StatusError(notFound(gr(t.info), t.name!));
    return kv;
  }

  private async get(res: ServerResponse, t: Target, neg: Negotiated): Promise<void> {
    const kv = await this.getKV(t);
    if (neg.table) this.respondObject(res, 200, decodeStored(kv), t, neg);
    else if (neg.yaml) sendYAML(res, 200, decodeStored(kv));
    else sendJSON(res, 200, rawWithResourceVersion(kv));
  }

  private selectors(t: Target, q: Query): { labels?: Selector; fields?: FieldSelector } {
    let labels: Selector | undefined;
    let fields: FieldSelector | undefined;
    try {
      const ls = q.get('labelSelector');
      if (ls) labels = parseSelector(ls);
      const fsRaw = q.get('fieldSelector');
      if (fsRaw) fields = parseFieldSelector(fsRaw);
    } catch (e) {
      if (e instanceof SelectorParseError || e instanceof FieldSelectorParseError)
        throw new StatusError(badRequest(`unable to parse requirement: ${e.message}`));
      throw e;
    }
    if (fields) {
      const bad = unsupportedField(t.info.kind, fields);
      if (bad) throw new StatusError(badRequest(`field label not supported: ${bad}`));
    }
    return { labels: labels?.empty() ? undefined : labels, fields: fields?.empty() ? undefined : fields };
  }

  private async list(res: ServerResponse, t: Target, q: Query, neg: Negotiated): Promise<void> {
    const { labels, fields } = this.selectors(t, q);
    const limitRaw = q.get('limit');
    const limit = limitRaw ? Number(limitRaw) : 0;
    if (!Number.isInteger(limit) || limit < 0)
      throw new StatusError(badRequest(`invalid limit "${limitRaw}"`));
    const prefix = this.collectionPrefix(t.info, t.namespace);
    const listKind = `${t.info.kind}List`;
    const apiVersion = apiVersionOf(t.info.group, t.info.version);
    const filter = (o: KubeObject): boolean =>
      (!labels || labels.matches(o.metadata.labels)) &&
      (!fields || fieldSelectorMatches(t.info.kind, fields, o));
    const rv = q.get('resourceVersion') ?? '';
    const cont = q.get('continue') ?? '';
    const rvMatch = q.get('resourceVersionMatch') ?? '';

    // resourceVersion=0 without paging: any state is fine, so serve it from the watch cache.
    if (rv === '0' && !cont && !limit && this.caches.has(t.info.resource)) {
      const c = this.cache(t.info);
      await c.start();
      const items = c
        .snapshot()
        .filter((o) => (!t.namespace || o.metadata.namespace === t.namespace) && filter(o));
      items.sort((a, b) =>
        (a.metadata.namespace ?? '') + '/' + a.metadata.name <
        (b.metadata.namespace ?? '') + '/' + b.metadata.name
          ? -1
          : 1,
      );
      return this.sendList(res, t, q, neg, listKind, apiVersion, items, {
        resourceVersion: String(c.currentRevision()),
      });
    }

    let revision = 0;
    let startKey: string | undefined;
    if (cont) {
      const tok = decodeContinue(cont);
      if (!tok.start.startsWith(prefix.slice(this.opts.prefix.length)))
        throw new StatusError(badRequest('continue key is not valid for this request'));
      revision = tok.rv;
      startKey = this.opts.prefix + tok.start;
    } else if (rv && rv !== '0' && rvMatch === 'Exact') {
      revision = Number(rv);
      if (!Number.isInteger(revision) || revision <= 0)
        throw new StatusError(badRequest(`invalid resourceVersion "${rv}"`));
    }
    const filtered = !!(labels || fields);
    const kvs: StoredKV[] = [];
    const objects: KubeObject[] | null = filtered || neg.table || neg.yaml ? [] : null;
    let more = false;
    let lastKey = '';
    let remaining = 0;
    try {
      for (let page = 0; ; page++) {
        if (page >= MAX_LIST_SCAN_PAGES)
          throw new StatusError(internalError(`list scanned more than ${MAX_LIST_SCAN_PAGES} pages`));
        // Without a limit the list is still read in pages (all at one revision) to keep each store
        // response well under the gRPC message bound.
        const want = limit ? (filtered ? Math.max(limit, 500) : limit) : LIST_PAGE_SIZE;
        const r = await this.storage.list(prefix, { startKey, revision, limit: want });
        if (!revision) revision = r.revision;
        for (const kv of r.kvs) {
          lastKey = kv.key;
          if (objects) {
            const o = decodeStored(kv);
            if (!filter(o)) continue;
            objects.push(o);
          } else kvs.push(kv);
          if (limit && (objects ? objects.length : kvs.length) >= limit) break;
        }
        const got = objects ? objects.length : kvs.length;
        if (limit && got >= limit) {
          more = r.more || (r.kvs.length > 0 && lastKey !== r.kvs[r.kvs.length - 1].key);
          remaining = filtered ? 0 : r.remaining;
          break;
        }
        if (!r.more || r.kvs.length === 0) break;
        startKey = lastKey + '\0';
      }
    } catch (e) {
      const st = storeErrorToStatus(e);
      if (cont && st.status.code === 410) {
        throw new StatusError(
          resourceExpired(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          ),
        );
      }
      if (st.status.code === 410)
        throw new StatusError(resourceExpired(`The resourceVersion for the provided list is too old.`));
      throw st;
    }
    const meta: Obj = { resourceVersion: String(revision) };
    if (more) {
      meta.continue = encodeContinue(revision, lastKey.slice(this.opts.prefix.length) + '\0');
      if (!filtered && remaining > 0) meta.remainingItemCount = remaining;
    }
    if (objects === null) {
      // Fast path: splice resourceVersion into the stored JSON of each item, no parse.
      const head = JSON.stringify({ kind: listKind, apiVersion, metadata: meta }).slice(0, -1);
      const body = `${head},"items":[${kvs.map(rawWithResourceVersion).join(',')}]}`;
      sendJSON(res, 200, body);
      return;
    }
    this.sendList(res, t, q, neg, listKind, apiVersion, objects, meta);
  }

  private sendList(
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
    kind: string,
    apiVersion: string,
    items: KubeObject[],
    meta: Obj,
  ): void {
    if (neg.table) {
      const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
      this.respond(res, 200, toTable(t.info.kind, items, meta as never, include), neg);
      return;
    }
    this.respond(res, 200, { kind, apiVersion, metadata: meta, items }, neg);
  }

  // ---- watch -------------------------------------------------------------------------------------

  private async watch(res: ServerResponse, t: Target, q: Query, neg: Negotiated): Promise<void> {
    const sinkFactory = (onClose: () => void): WatchSink => this.httpSink(res, t, q, neg, onClose);
    await this.startWatch(t, q, sinkFactory, (stop) => {
      res.on('close', stop);
    });
  }

  /** Serves a watch over a WebSocket (browsers): one JSON WatchEvent per message. */
  async watchWebSocket(ws: WebSocket, t: Target, q: Query, accept: string | undefined): Promise<void> {
    const neg = negotiate(accept);
    const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    const sinkFactory = (onClose: () => void): WatchSink => ({
      send: (type, object, line) => {
        if (ws.readyState !== ws.OPEN) return false;
        if (ws.bufferedAmount > MAX_WATCH_BACKLOG_BYTES) return false;
        ws.send(
          line && !neg.table
            ? line
            : JSON.stringify({ type, object: this.watchObject(type, object, t, neg, include) }),
        );
        return true;
      },
      close: () => {
        onClose();
        ws.close();
      },
    });
    try {
      await this.startWatch(t, q, sinkFactory, (stop) => ws.on('close', stop));
    } catch (e) {
      const st = e instanceof StatusError ? e.status : internalError(String(e));
      ws.send(JSON.stringify({ type: 'ERROR', object: st }));
      ws.close();
    }
  }

  private watchObject(
    type: WatchEventType,
    object: KubeObject | Status,
    t: Target,
    neg: Negotiated,
    include: IncludeObject,
  ): unknown {
    if (!neg.table || type === 'BOOKMARK' || type === 'ERROR') return object;
    const o = object as KubeObject;
    return toTable(t.info.kind, [o], { resourceVersion: o.metadata.resourceVersion }, include);
  }

  private httpSink(
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
    onClose: () => void,
  ): WatchSink {
    const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    let open = true;
    return {
      open: () => {
        if (open && !res.headersSent) {
          res.writeHead(200, {
            'Content-Type': 'application/json',
            'Transfer-Encoding': 'chunked',
            'Cache-Control': 'no-cache, private',
          });
          res.flushHeaders();
        }
      },
      send: (type, object, line) => {
        if (!open || res.destroyed) return false;
        if (res.writableLength > MAX_WATCH_BACKLOG_BYTES) return false;
        if (!res.headersSent)
          res.writeHead(200, {
            'Content-Type': 'application/json',
            'Transfer-Encoding': 'chunked',
            'Cache-Control': 'no-cache, private',
          });
        res.write(
          (line && !neg.table
            ? line
            : JSON.stringify({ type, object: this.watchObject(type, object, t, neg, include) })) + '\n',
        );
        return true;
      },
      close: () => {
        if (!open) return;
        open = false;
        onClose();
        if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end();
      },
    };
  }

  /** Opens a client watch on the cache; errors before it starts are thrown (the caller answers them). */
  private async startWatch(
    t: Target,
    q: Query,
    sinkFactory: (onClose: () => void) => WatchSink,
    onClientGone: (stop: () => void) => void,
  ): Promise<void> {
    const { labels, fields } = this.selectors(t, q);
    let fieldSel = fields;
    if (t.name !== undefined) {
      // GET .../pods/x?watch=true is a watch of one object.
      fieldSel = parseFieldSelector(`metadata.name=${t.name}` + (fields ? `,${fields.toString()}` : ''));
    }
    const rv = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const timeoutRaw = q.get('timeoutSeconds');
    let timeoutS = timeoutRaw ? Number(timeoutRaw) : this.opts.minRequestTimeoutSeconds * (1 + Math.random());
    if (!Number.isFinite(timeoutS) || timeoutS < 0)
      throw new StatusError(badRequest(`invalid timeoutSeconds "${timeoutRaw}"`));
    if (timeoutS === 0) timeoutS = this.opts.minRequestTimeoutSeconds;
    const cache = this.cache(t.info);
    await cache.start();
    const filter = { namespace: t.info.namespaced ? t.namespace : undefined, labels, fields: fieldSel };
    let initial: KubeObject[] | undefined;
    let from: number;
    if (rv === '') {
      // "Most recent": a consistent read from the store, then every change after it.
      const prefix = this.collectionPrefix(t.info, t.namespace);
      const objs: KubeObject[] = [];
      let startKey: string | undefined;
      let revision = 0;
      for (let i = 0; i < MAX_LIST_SCAN_PAGES; i++) {
        const page = await this.storage.list(prefix, { startKey, revision, limit: 1000 });
        if (!revision) revision = page.revision;
        for (const kv of page.kvs) objs.push(decodeStored(kv));
        if (!page.more || page.kvs.length === 0) break;
        startKey = page.kvs[page.kvs.length - 1].key + '\0';
      }
      initial = objs;
      from = revision;
    } else if (rv === '0') {
      initial = cache.snapshot();
      from = cache.currentRevision();
    } else {
      from = Number(rv);
      if (!Number.isInteger(from) || from < 0)
        throw new StatusError(badRequest(`invalid resourceVersion "${rv}"`));
      if (sendInitial) {
        initial = cache.snapshot();
        from = Math.max(from, cache.currentRevision());
      }
    }
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    let watcher: { stop(): void } | null = null;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      watcher?.stop();
    };
    const sink = sinkFactory(stop);
    const r = cache.watch({
      filter,
      sink,
      fromRevision: from,
      initial,
      bookmarks,
      initialEventsEndBookmark: sendInitial && bookmarks,
    });
    if ('code' in r) {
      // A compacted or too-old resourceVersion: Kubernetes answers 200 and one ERROR event with a 410 Status.
      sink.send('ERROR', r);
      sink.close();
      return;
    }
    watcher = r;
    // The client sees response headers at once even if nothing happens for a while.
    sink.open?.();
    timer = setTimeout(() => sink.close(), timeoutS * 1000);
    timer.unref();
    onClientGone(stop);
  }

  // ---- create ------------------------------------------------------------------------------------

  private manager(req: IncomingMessage | null, q: Query): string {
    const m = q.get('fieldManager');
    if (m) return m;
    const ua = (req?.headers['user-agent'] ?? 'unknown').split('/')[0];
    return ua || 'unknown';
  }

  /** Decodes and checks an object body for this endpoint: kind/apiVersion, schema, unknown fields. */
  private decodeObject(raw: unknown, t: Target, q: Query, warnings: string[], def: string): KubeObject {
    const info = t.info;
    if (!isObj(raw))
      throw new StatusError(
        badRequest(
          `the body must be a JSON or YAML object, not ${Array.isArray(raw) ? 'an array' : typeof raw}`,
        ),
      );
    const wantVersion = apiVersionOf(info.group, info.version);
    const kind = def.endsWith('.Scale') ? 'Scale' : def.endsWith('.Binding') ? 'Binding' : info.kind;
    const av = raw.apiVersion;
    const k = raw.kind;
    if (k !== undefined && k !== kind) {
      const other = typeof k === 'string' ? resourceForKind(k) : undefined;
      throw new StatusError(
        badRequest(
          other || typeof k !== 'string'
            ? `the kind in the body (${String(k)}) does not match the kind of the endpoint (${kind})`
            : `no kind "${k}" is registered for version "${String(av ?? wantVersion)}"`,
        ),
      );
    }
    const expectVersion = kind === 'Scale' ? 'autoscaling/v1' : wantVersion;
    if (av !== undefined && av !== expectVersion)
      throw new StatusError(
        badRequest(
          `the API version in the data (${String(av)}) does not match the expected API version (${expectVersion})`,
        ),
      );
    raw.apiVersion = expectVersion;
    raw.kind = kind;
    if (raw.metadata === undefined) raw.metadata = {};
    dropNulls(raw);
    const sr = checkSchema(def, raw);
    if (sr.typeErrors.length) {
      const causes: FieldError[] = sr.typeErrors.map((e) =>
        typeInvalid(e.field, e.got, `must be of type ${e.expected}`),
      );
      const first = sr.typeErrors[0];
      const st = badRequest(
        `${kind} in version "${expectVersion.split('/').pop()}" cannot be handled as a ${kind}: json: cannot unmarshal ${first.got} into Go struct field ${first.field} of type ${first.expected}`,
      );
      st.details = {
        kind,
        causes: causes.map((c) => ({
          reason: c.type,
          message: `Invalid value: ${JSON.stringify(c.value)}: ${c.detail}`,
          field: c.field,
        })),
      };
      throw new StatusError(st);
    }
    if (sr.unknownFields.length) {
      const mode = q.get('fieldValidation') ?? 'Warn';
      if (mode === 'Strict') {
        const msg = `strict decoding error: ${sr.unknownFields.map((f) => `unknown field "${f}"`).join(', ')}`;
        const st = badRequest(msg);
        st.details = {
          kind,
          causes: sr.unknownFields.map((f) => ({
            reason: 'FieldValueInvalid',
            message: `unknown field "${f}"`,
            field: f,
          })),
        };
        throw new StatusError(st);
      }
      if (mode !== 'Ignore') for (const f of sr.unknownFields) warnings.push(`unknown field "${f}"`);
      pruneFields(raw, sr.unknownFields);
    }
    // Required fields and enums are checked on the final object (after merge and defaults) in validateOrThrow.
    decodedSchemaErrors.set(raw, sr.fieldErrors);
    return raw as KubeObject;
  }

  /** `schemaErrors`: the decode-time schema check of this very object, when nothing has merged into it since. */
  private validateOrThrow(t: Target, o: KubeObject, schemaErrors?: FieldError[]): void {
    const errs: FieldError[] = schemaErrors
      ? [...schemaErrors]
      : checkSchema(definitionFor(t.info.group, t.info.kind)!, o).fieldErrors;
    validateObjectMeta(t.info.kind, o.metadata as Obj, t.info.namespaced, errs);
    validateSemantics(t.info.kind, o as Obj, errs);
    if (errs.length)
      throw new StatusError(
        invalid(t.info.kind, t.info.group, o.metadata.name ?? o.metadata.generateName ?? '', errs),
      );
  }

  /** NamespaceLifecycle: content may only go into a namespace that exists and is not terminating. */
  private async admitNamespace(namespace: string, name: string, t: Target): Promise<void> {
    const nsInfo = resourceForKind('Namespace')!;
    let ns: KubeObject | undefined = this.caches
      .get('namespaces')
      ?.get(this.key(nsInfo, undefined, namespace));
    if (!ns) {
      const { kv } = await this.storage.get(this.key(nsInfo, undefined, namespace));
      if (!kv) throw new StatusError(notFound({ group: '', resource: 'namespaces' }, namespace));
      ns = decodeStored(kv);
    }
    if (ns.metadata.deletionTimestamp || (ns.status as Obj | undefined)?.phase === 'Terminating') {
      const st = forbidden(
        gr(t.info),
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
      st.details!.causes = [
        {
          reason: 'NamespaceTerminating',
          message: `namespace ${namespace} is being terminated`,
          field: 'metadata.namespace',
        },
      ];
      throw new StatusError(st);
    }
  }

  private checkNamespace(t: Target, o: KubeObject): void {
    if (!t.info.namespaced) {
      delete o.metadata.namespace;
      return;
    }
    if (o.metadata.namespace && t.namespace && o.metadata.namespace !== t.namespace) {
      throw new StatusError(
        badRequest('the namespace of the provided object does not match the namespace sent on the request'),
      );
    }
    o.metadata.namespace = t.namespace ?? o.metadata.namespace;
  }

  /** The body of a create or update, decoded and checked as the target's kind in the target's namespace. */
  private async readObject(
    req: IncomingMessage,
    t: Target,
    q: Query,
  ): Promise<{ o: KubeObject; warnings: string[]; def: string }> {
    const body = decodeBody(await readBody(req), req.headers['content-type'] ?? '');
    const warnings: string[] = [];
    const def = definitionFor(t.info.group, t.info.kind)!;
    const o = this.decodeObject(body, t, q, warnings, def);
    this.checkNamespace(t, o);
    return { o, warnings, def };
  }

  private async create(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
  ): Promise<void> {
    const { o, warnings, def } = await this.readObject(req, t, q);
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = generateName(o.metadata.generateName);
    prepareForCreate(t.info.kind, o);
    applyDefaults(t.info.kind, o as Obj);
    // Defaults only add valid values, so the decode-time schema check still holds: no second pass.
    this.validateOrThrow(t, o, decodedSchemaErrors.get(o));
    if (t.info.namespaced) await this.admitNamespace(o.metadata.namespace!, o.metadata.name!, t);
    trackUpdate(o, null, this.manager(req, q), apiVersionOf(t.info.group, t.info.version), DEFINITIONS[def]);
    const created = await this.createObject(t.info, o, q.get('dryRun') === 'All');
    this.respondObject(res, 201, created, t, neg, q, warnings);
  }

  private async createObject(info: ResourceInfo, o: KubeObject, dryRun: boolean): Promise<KubeObject> {
    const key = this.key(info, o.metadata.namespace, o.metadata.name!);
    if (dryRun) {
      const { kv } = await this.storage.get(key);
      if (kv) throw new StatusError(alreadyExists(gr(info), o.metadata.name!));
      return o;
    }
    const r = await this.storage.create(key, encodeForStore(o), this.ttlOf(info));
    if (!r.ok) throw new StatusError(alreadyExists(gr(info), o.metadata.name!));
    o.metadata.resourceVersion = String(r.revision);
    return o;
  }

  // ---- update ------------------------------------------------------------------------------------

  /**
   * Kubernetes' GuaranteedUpdate: read, compute the next object, write if mod_revision is unchanged,
   * retry on a race unless the caller pinned a resourceVersion (then 409 Conflict).
   */
  private async guaranteedUpdate(
    t: Target,
    tryUpdate: (cur: KubeObject) => { next: KubeObject; pinnedRV?: string },
    opts: { dryRun?: boolean; onMissing?: () => Promise<KubeObject> } = {},
  ): Promise<{ obj: KubeObject; created: boolean }> {
    const key = this.key(t.info, t.namespace, t.name!);
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      const { kv } = await this.storage.get(key);
      if (!kv) {
        if (opts.onMissing) return { obj: await opts.onMissing(), created: true };
        throw new StatusError(notFound(gr(t.info), t.name!));
      }
      const cur = decodeStored(kv);
      const { next, pinnedRV } = tryUpdate(structuredClone(cur));
      if (pinnedRV && pinnedRV !== cur.metadata.resourceVersion)
        throw new StatusError(conflict(gr(t.info), t.name!));
      if (sameContent(next, cur)) return { obj: cur, created: false };
      if (opts.dryRun) return { obj: next, created: false };
      // An object marked for deletion whose last finalizer is gone (and with no grace period left) goes away.
      if (
        next.metadata.deletionTimestamp &&
        !(next.metadata.finalizers ?? []).length &&
        !next.metadata.deletionGracePeriodSeconds
      ) {
        const d = await this.storage.delete(key, kv.modRevision);
        if (d.ok) {
          next.metadata.resourceVersion = String(d.revision);
          return { obj: next, created: false };
        }
        if (pinnedRV) throw new StatusError(conflict(gr(t.info), t.name!));
        continue;
      }
      const r = await this.storage.update(key, encodeForStore(next), kv.modRevision, this.ttlOf(t.info));
      if (r.ok) {
        next.metadata.resourceVersion = String(r.revision);
        return { obj: next, created: false };
      }
      if (pinnedRV) throw new StatusError(conflict(gr(t.info), t.name!));
    }
    throw new StatusError(conflict(gr(t.info), t.name!, 'too many concurrent updates; please try again'));
  }

  /** Turns a full object from PUT or a patch result into what is stored, per subresource rules. */
  private prepareWrite(t: Target, next: KubeObject, cur: KubeObject, manager: string): KubeObject {
    let out = next;
    if (t.subresource === 'status') {
      out = prepareForStatusUpdate(next, cur);
    } else if (t.subresource === 'finalize') {
      out = {
        ...cur,
        metadata: { ...cur.metadata },
        spec: {
          ...((cur.spec as Obj) ?? {}),
          finalizers: ((next.spec as Obj | undefined)?.finalizers as string[]) ?? [],
        },
      };
    } else {
      prepareForUpdate(t.info.kind, out, cur);
      applyDefaults(t.info.kind, out as Obj);
    }
    if (t.info.kind === 'Namespace' && out.metadata.deletionTimestamp && t.subresource === 'finalize') {
      // Once every namespace finalizer is gone the namespace itself can go (with no metadata finalizers).
      if (!((out.spec as Obj).finalizers as string[]).length) out.metadata.deletionGracePeriodSeconds = 0;
    }
    this.validateOrThrow(t, out);
    if (out.metadata.deletionGracePeriodSeconds === 0) delete out.metadata.deletionGracePeriodSeconds;
    const def = definitionFor(t.info.group, t.info.kind)!;
    trackUpdate(
      out,
      cur,
      manager,
      apiVersionOf(t.info.group, t.info.version),
      DEFINITIONS[def],
      t.subresource === 'status' ? 'status' : undefined,
    );
    return out;
  }

  private async update(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
  ): Promise<void> {
    const { o, warnings } = await this.readObject(req, t, q);
    if (o.metadata.name !== undefined && o.metadata.name !== t.name)
      throw new StatusError(
        badRequest(
          `the name of the object (${o.metadata.name}) does not match the name on the URL (${t.name})`,
        ),
      );
    o.metadata.name = t.name;
    const manager = this.manager(req, q);
    const pinned = o.metadata.resourceVersion || undefined;
    const { obj } = await this.guaranteedUpdate(
      t,
      (cur) => ({ next: this.prepareWrite(t, structuredClone(o), cur, manager), pinnedRV: pinned }),
      { dryRun: q.get('dryRun') === 'All' },
    );
    this.respondObject(res, 200, obj, t, neg, q, warnings);
  }

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
  ): Promise<void> {
    const ct = mediaType(req.headers['content-type']);
    if (!PATCH_TYPES.includes(ct))
      throw new StatusError({
        ...badRequest(''),
        code: 415,
        reason: 'UnsupportedMediaType',
        message: `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
      });
    const raw = await readBody(req);
    const patchBody = decodeBody(raw, ct, [ct]);
    const def = definitionFor(t.info.group, t.info.kind)!;
    const manager = this.manager(req, q);
    const warnings: string[] = [];
    const dryRun = q.get('dryRun') === 'All';
    if (ct === 'application/apply-patch+yaml')
      return this.serverSideApply(res, t, q, neg, patchBody, def, dryRun);
    const { obj } = await this.guaranteedUpdate(
      t,
      (cur) => {
        const curJSON = cur as unknown;
        let patched: unknown;
        if (ct === 'application/json-patch+json') patched = jsonPatch(curJSON, patchBody);
        else if (ct === 'application/merge-patch+json') patched = mergePatch(curJSON, patchBody);
        else patched = strategicMergePatch(curJSON, patchBody, def);
        const w: string[] = [];
        const next = this.decodeObject(patched, t, q, w, def);
        for (const x of w) if (!warnings.includes(x)) warnings.push(x);
        if (next.metadata.name !== cur.metadata.name)
          throw new StatusError(badRequest('metadata.name cannot be changed by a patch'));
        if (t.info.namespaced && next.metadata.namespace !== cur.metadata.namespace)
          throw new StatusError(badRequest('metadata.namespace cannot be changed by a patch'));
        const pinned =
          next.metadata.resourceVersion && next.metadata.resourceVersion !== cur.metadata.resourceVersion
            ? next.metadata.resourceVersion
            : undefined;
        if (pinned) throw new StatusError(conflict(gr(t.info), t.name!));
        return { next: this.prepareWrite(t, next, cur, manager) };
      },
      { dryRun },
    );
    this.respondObject(res, 200, obj, t, neg, q, warnings);
  }

  private async serverSideApply(
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
    body: unknown,
    def: string,
    dryRun: boolean,
  ): Promise<void> {
    const manager = q.get('fieldManager');
    if (!manager)
      throw new StatusError(
        badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set in the query'),
      );
    const force = q.get('force') === 'true';
    const warnings: string[] = [];
    const applied = this.decodeObject(body, t, q, warnings, def);
    if (applied.metadata.name !== undefined && applied.metadata.name !== t.name)
      throw new StatusError(
        badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${t.name})`,
        ),
      );
    applied.metadata.name = t.name;
    this.checkNamespace(t, applied);
    const apiVersion = apiVersionOf(t.info.group, t.info.version);
    const schema = DEFINITIONS[def];
    const { obj, created } = await this.guaranteedUpdate(
      t,
      (cur) => {
        const merged = applyConfiguration(
          cur,
          structuredClone(applied),
          manager,
          force,
          apiVersion,
          schema,
          gr(t.info),
        );
        const mf = merged.metadata.managedFields;
        const next = t.subresource === 'status' ? prepareForStatusUpdate(merged, cur) : merged;
        if (t.subresource !== 'status') {
          prepareForUpdate(t.info.kind, next, cur);
          applyDefaults(t.info.kind, next as Obj);
        }
        next.metadata.managedFields = mf;
        this.validateOrThrow(t, next);
        return { next, pinnedRV: applied.metadata.resourceVersion || undefined };
      },
      {
        dryRun,
        onMissing: async () => {
          if (t.subresource) throw new StatusError(notFound(gr(t.info), t.name!));
          const o = applyConfiguration(
            null,
            structuredClone(applied),
            manager,
            force,
            apiVersion,
            schema,
            gr(t.info),
          );
          const mf = o.metadata.managedFields;
          prepareForCreate(t.info.kind, o);
          applyDefaults(t.info.kind, o as Obj);
          o.metadata.managedFields = mf;
          this.validateOrThrow(t, o);
          if (t.info.namespaced) await this.admitNamespace(o.metadata.namespace!, o.metadata.name!, t);
          return this.createObject(t.info, o, dryRun);
        },
      },
    );
    this.respondObject(res, created ? 201 : 200, obj, t, neg, q, warnings);
  }

  // ---- delete ------------------------------------------------------------------------------------

  private async deleteOptions(req: IncomingMessage, q: Query): Promise<Obj> {
    const raw = await readBody(req, 64 * 1024);
    let opts: Obj = {};
    if (raw.length && raw.toString('utf8').trim()) {
      const v = decodeBody(raw, req.headers['content-type'] ?? 'application/json');
      if (!isObj(v)) throw new StatusError(badRequest('DeleteOptions must be an object'));
      opts = v;
    }
    return checkDeleteOptions(opts, q);
  }

  private async delete(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
    neg: Negotiated,
  ): Promise<void> {
    const opts = await this.deleteOptions(req, q);
    const r = await this.deleteOne(t, opts, isDryRun(opts, q));
    if (r.status) this.respond(res, 200, r.status, neg);
    else this.respondObject(res, 200, r.obj!, t, neg, q);
  }

  /** Deletes one object, or marks it (finalizers, graceful pods, terminating namespaces). */
  async deleteOne(t: Target, opts: Obj, dryRun: boolean): Promise<{ obj?: KubeObject; status?: Status }> {
    const key = this.key(t.info, t.namespace, t.name!);
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      const kv = await this.getKV(t);
      const cur = decodeStored(kv);
      const pre = opts.preconditions as Obj | undefined;
      if (pre?.uid && pre.uid !== cur.metadata.uid)
        throw new StatusError(
          conflict(
            gr(t.info),
            t.name!,
            `Precondition failed: UID in precondition: ${String(pre.uid)}, UID in object meta: ${cur.metadata.uid}`,
          ),
        );
      if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion)
        throw new StatusError(
          conflict(
            gr(t.info),
            t.name!,
            `Precondition failed: ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
          ),
        );
      const next = structuredClone(cur);
      const m = next.metadata;
      const finalizers = [...(m.finalizers ?? [])];
      const policy = String(opts.propagationPolicy ?? 'Background');
      let mark = false;
      if (t.info.kind === 'Namespace') {
        const specFin = ((next.spec as Obj | undefined)?.finalizers as string[] | undefined) ?? [];
        if (specFin.length || finalizers.length) {
          mark = true;
          next.status = { ...((next.status as Obj) ?? {}), phase: 'Terminating' };
        }
      } else {
        if (policy === 'Foreground' && !finalizers.includes(FINALIZER_FOREGROUND))
          finalizers.push(FINALIZER_FOREGROUND);
        if (policy === 'Orphan' && !finalizers.includes(FINALIZER_ORPHAN)) finalizers.push(FINALIZER_ORPHAN);
        if (finalizers.length) mark = true;
      }
      let grace = 0;
      if (t.info.kind === 'Pod') {
        const spec = (cur.spec ?? {}) as Obj;
        const phase = (cur.status as Obj | undefined)?.phase;
        grace =
          opts.gracePeriodSeconds !== undefined
            ? Number(opts.gracePeriodSeconds)
            : Number(spec.terminationGracePeriodSeconds ?? 30);
        // Unscheduled or finished pods have no kubelet to wait for.
        if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
        if (m.deletionGracePeriodSeconds !== undefined && m.deletionGracePeriodSeconds < grace)
          grace = m.deletionGracePeriodSeconds;
        if (grace > 0) mark = true;
      }
      if (!mark) {
        if (dryRun) return { obj: cur };
        const d = await this.storage.delete(key, kv.modRevision);
        if (!d.ok) continue;
        if (t.info.kind === 'Pod') {
          cur.metadata.resourceVersion = String(d.revision);
          return { obj: cur };
        }
        return {
          status: success({
            name: t.name,
            ...(t.info.group ? { group: t.info.group } : {}),
            kind: t.info.resource,
            uid: cur.metadata.uid,
          }),
        };
      }
      const already = !!m.deletionTimestamp;
      if (!already) {
        m.deletionTimestamp =
          grace > 0
            ? new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
            : nowRFC3339();
        m.deletionGracePeriodSeconds = grace;
      } else if (t.info.kind === 'Pod' && grace < (m.deletionGracePeriodSeconds ?? 0)) {
        m.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        m.deletionGracePeriodSeconds = grace;
      }
      if (t.info.kind === 'Pod' && grace === 0 && !finalizers.length) {
        // A kubelet (or a forced delete) confirming termination: remove now.
        if (dryRun) return { obj: cur };
        const d = await this.storage.delete(key, kv.modRevision);
        if (!d.ok) continue;
        cur.metadata.resourceVersion = String(d.revision);
        return { obj: cur };
      }
      m.finalizers = finalizers.length ? finalizers : undefined;
      if (!m.finalizers) delete m.finalizers;
      if (dryRun) return { obj: next };
      if (sameContent(next, cur)) return { obj: cur };
      const r = await this.storage.update(key, encodeForStore(next), kv.modRevision, this.ttlOf(t.info));
      if (!r.ok) continue;
      next.metadata.resourceVersion = String(r.revision);
      return { obj: next };
    }
    throw new StatusError(conflict(gr(t.info), t.name!, 'too many concurrent updates; please try again'));
  }

  private async deleteCollection(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
  ): Promise<void> {
    const opts = await this.deleteOptions(req, q);
    const { labels, fields } = this.selectors(t, q);
    const r = await this.storage.list(this.collectionPrefix(t.info, t.namespace), { limit: 10_000 });
    const items: KubeObject[] = [];
    for (const kv of r.kvs) {
      const o = decodeStored(kv);
      if (labels && !labels.matches(o.metadata.labels)) continue;
      if (fields && !fieldSelectorMatches(t.info.kind, fields, o)) continue;
      try {
        const d = await this.deleteOne(
          { ...t, namespace: o.metadata.namespace, name: o.metadata.name },
          opts,
          isDryRun(opts, q),
        );
        if (d.obj) items.push(d.obj);
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 404)) throw e;
      }
    }
    sendJSON(res, 200, {
      kind: `${t.info.kind}List`,
      apiVersion: apiVersionOf(t.info.group, t.info.version),
      metadata: { resourceVersion: String(r.revision) },
      items,
    });
  }

  // ---- subresources ------------------------------------------------------------------------------

  private async bind(req: IncomingMessage, res: ServerResponse, t: Target): Promise<void> {
    const body = decodeBody(await readBody(req), req.headers['content-type'] ?? '');
    const b = this.decodeObject(
      body,
      t,
      { get: () => null },
      [],
      'io.k8s.api.core.v1.Binding',
    ) as KubeObject & { target: { name?: string; kind?: string } };
    const node = b.target?.name;
    if (!node)
      throw new StatusError(
        invalid('Binding', '', t.name!, [{ type: 'FieldValueRequired', field: 'target.name' }]),
      );
    await this.guaranteedUpdate(t, (cur) => {
      if (cur.metadata.deletionTimestamp)
        throw new StatusError(
          conflict(gr(t.info), t.name!, 'pod is being deleted, cannot be assigned to a host'),
        );
      const spec = cur.spec as Obj;
      if (spec.nodeName)
        throw new StatusError(
          conflict(
            gr(t.info),
            t.name!,
            `pod ${t.name} is already assigned to node "${String(spec.nodeName)}"`,
          ),
        );
      spec.nodeName = node;
      const st = ((cur.status as Obj) ?? {}) as Obj;
      const conds = ((st.conditions as Obj[]) ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({
        type: 'PodScheduled',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: nowRFC3339(),
      });
      st.conditions = conds;
      cur.status = st;
      return { next: cur };
    });
    sendJSON(res, 201, success());
  }

  /**
   * pods/NAME/log, exec, attach and portforward: 404 for a missing pod (as Kubernetes answers), and then a
   * 400 that says why there is nothing to show or reach: the node-agent's containers run no processes.
   */
  async noProcesses(t: Target): Promise<never> {
    await this.getKV(t);
    const what = t.subresource === 'log' ? 'no logs' : `no ${t.subresource}`;
    throw new StatusError(
      badRequest(
        `pod "${t.name}": ${what}: its containers are simulated by the node-agent, which runs no processes`,
      ),
    );
  }

  /**
   * POST pods/NAME/eviction (policy/v1 Eviction), what `kubectl drain` uses: the pod is deleted with the
   * Eviction's deleteOptions. There are no PodDisruptionBudgets here, so an eviction is never refused with
   * 429 for one.
   */
  private async evict(req: IncomingMessage, res: ServerResponse, t: Target, q: Query): Promise<void> {
    const body = decodeBody(await readBody(req, 64 * 1024), req.headers['content-type'] ?? '');
    if (!isObj(body) || (body.kind !== undefined && body.kind !== 'Eviction'))
      throw new StatusError(badRequest('the body of an eviction must be a policy/v1 Eviction'));
    const name = (body.metadata as Obj | undefined)?.name;
    if (name !== undefined && name !== t.name)
      throw new StatusError(badRequest('name in URL does not match name in Eviction object'));
    const opts = checkDeleteOptions(isObj(body.deleteOptions) ? { ...body.deleteOptions } : {}, q);
    await this.deleteOne(t, opts, isDryRun(opts, q));
    sendJSON(res, 201, success());
  }

  private scaleOf(o: KubeObject): KubeObject {
    const spec = (o.spec ?? {}) as Obj;
    const status = (o.status ?? {}) as Obj;
    let selector: string;
    try {
      selector = formatLabelSelector(spec.selector as never);
    } catch {
      selector = '';
    }
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: spec.replicas ?? 0 },
      status: { replicas: status.replicas ?? 0, selector: selector === '<none>' ? '' : selector },
    };
  }

  private async getScale(res: ServerResponse, t: Target): Promise<void> {
    sendJSON(res, 200, this.scaleOf(decodeStored(await this.getKV(t))));
  }

  private async updateScale(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: Query,
    method: string,
  ): Promise<void> {
    const ct = mediaType(req.headers['content-type']);
    const raw = await readBody(req);
    const body = decodeBody(
      raw,
      ct,
      method === 'PUT' ? ['application/json', 'application/yaml'] : PATCH_TYPES,
    );
    const manager = this.manager(req, q);
    const def = 'io.k8s.api.autoscaling.v1.Scale';
    const { obj } = await this.guaranteedUpdate(t, (cur) => {
      const scale = this.scaleOf(cur);
      let next: unknown;
      if (method === 'PUT') next = body;
      else if (ct === 'application/json-patch+json') next = jsonPatch(scale, body);
      else if (ct === 'application/merge-patch+json' || ct === 'application/apply-patch+yaml')
        next = mergePatch(scale, body);
      else next = strategicMergePatch(scale, body, def);
      const s = this.decodeObject(next, t, q, [], def);
      const replicas = (s.spec as Obj | undefined)?.replicas;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        throw new StatusError(
          invalid('Scale', 'autoscaling', t.name!, [
            {
              type: 'FieldValueInvalid',
              field: 'spec.replicas',
              value: replicas,
              detail: 'must be greater than or equal to 0',
            },
          ]),
        );
      }
      const out = structuredClone(cur);
      (out.spec as Obj).replicas = replicas;
      const pinned =
        s.metadata.resourceVersion && s.metadata.resourceVersion !== cur.metadata.resourceVersion
          ? s.metadata.resourceVersion
          : undefined;
      if (pinned) throw new StatusError(conflict(gr(t.info), t.name!));
      return { next: this.prepareWrite({ ...t, subresource: undefined }, out, cur, manager) };
    });
    sendJSON(res, 200, this.scaleOf(obj));
  }
}

// ---- continue tokens --------------------------------------------------------------------------------

/** The continue token: base64 of {v, rv, start} as Kubernetes encodes it (start is relative to the prefix). */
export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

export function decodeContinue(tok: string): { rv: number; start: string } {
  try {
    const o = JSON.parse(Buffer.from(tok, 'base64url').toString('utf8')) as {
      v?: string;
      rv?: number;
      start?: string;
    };
    if (
      o.v !== 'meta.k8s.io/v1' ||
      !Number.isInteger(o.rv) ||
      (o.rv as number) <= 0 ||
      typeof o.start !== 'string'
    )
      throw new Error('bad fields');
    return { rv: o.rv as number, start: o.start };
  } catch {
    throw new StatusError(
      badRequest(
        'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
      ),
    );
  }
}

export { STATUS_KINDS };

/** Pod subresources that reach a container's process, which simulated nodes do not have. */
export const PROCESS_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward']);

/** Applies DeleteOptions given as query parameters over those of a body, and checks them. */
function checkDeleteOptions(opts: Obj, q: Query): Obj {
  const pp = q.get('propagationPolicy');
  if (pp) opts.propagationPolicy = pp;
  const gp = q.get('gracePeriodSeconds');
  if (gp !== null) opts.gracePeriodSeconds = Number(gp);
  if (q.get('orphanDependents') === 'true') opts.propagationPolicy = 'Orphan';
  else if (opts.orphanDependents === true) opts.propagationPolicy ??= 'Orphan';
  if (
    opts.propagationPolicy !== undefined &&
    !['Foreground', 'Background', 'Orphan'].includes(String(opts.propagationPolicy))
  ) {
    throw new StatusError(
      invalid('DeleteOptions', 'meta.k8s.io', '', [
        {
          type: 'FieldValueNotSupported',
          field: 'propagationPolicy',
          value: opts.propagationPolicy,
          detail: 'supported values: "Foreground", "Background", "Orphan"',
        },
      ]),
    );
  }
  if (opts.gracePeriodSeconds !== undefined) {
    if (!Number.isInteger(opts.gracePeriodSeconds))
      throw new StatusError(badRequest('invalid gracePeriodSeconds'));
    // Negative grace means "immediately" in kubectl's --force path; treat like 0.
    if ((opts.gracePeriodSeconds as number) < 0) opts.gracePeriodSeconds = 0;
  }
  const dry = opts.dryRun;
  if (dry !== undefined && (!Array.isArray(dry) || dry.some((d) => d !== 'All')))
    throw new StatusError(
      invalid('DeleteOptions', 'meta.k8s.io', '', [
        { type: 'FieldValueNotSupported', field: 'dryRun', value: dry, detail: 'supported values: "All"' },
      ]),
    );
  return opts;
}

/** A dry run, asked for in the query (?dryRun=All) or in the DeleteOptions body (dryRun: [All]). */
function isDryRun(opts: Obj, q: Query): boolean {
  return q.get('dryRun') === 'All' || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
}
