// A small typed HTTP client for the Kubernetes API: CRUD, patch, subresources, list pagination and
// streaming watch, with errors returned as values carrying the server's Status.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import type { KubeObject, List, Status, StatusReason, WatchEvent } from './types.js';
import { RESOURCES, parseApiVersion, resourceByName, type ResourceInfo } from './meta.js';

/** Where a kind lives in the REST API (a ResourceInfo from meta.ts satisfies it). */
export type ResourceType = Pick<ResourceInfo, 'group' | 'version' | 'resource' | 'kind' | 'namespaced'>;

function builtin(group: string, resource: string): ResourceInfo {
  const r = resourceByName(group, resource);
  if (!r) throw new Error(`client: ${resource}.${group} is not a known resource`);
  return r;
}

/** The built-in resources this control plane serves, by plural name. */
export const Resources = {
  namespaces: builtin('', 'namespaces'),
  nodes: builtin('', 'nodes'),
  pods: builtin('', 'pods'),
  services: builtin('', 'services'),
  endpoints: builtin('', 'endpoints'),
  configmaps: builtin('', 'configmaps'),
  secrets: builtin('', 'secrets'),
  events: builtin('', 'events'),
  deployments: builtin('apps', 'deployments'),
  replicasets: builtin('apps', 'replicasets'),
  leases: builtin('coordination.k8s.io', 'leases'),
};

/** The resource for an ownerReference's apiVersion + kind, if it is one we serve. */
export function resourceForOwner(apiVersion: string, kind: string): ResourceInfo | undefined {
  const { group, version } = parseApiVersion(apiVersion);
  return RESOURCES.find((r) => r.group === group && r.version === version && r.kind === kind);
}

/** A result: the value, or the Status the server (or the transport) answered with. */
export type Result<T> = { ok: true; value: T } | { ok: false; status: Status };

/** Thrown by `unwrap`: an API failure as an exception for code that prefers them. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly status: Status) {
    super(`${status.code} ${status.reason ?? ''}: ${status.message ?? ''}`);
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): StatusReason | undefined {
    return this.status.reason;
  }
}

export function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw new ApiError(r.status);
  return r.value;
}

export function isNotFound(r: Result<unknown> | Status): boolean {
  return codeOf(r) === 404;
}
export function isConflict(r: Result<unknown> | Status): boolean {
  return codeOf(r) === 409;
}
export function isAlreadyExists(r: Result<unknown> | Status): boolean {
  const s = 'ok' in r ? (r.ok ? undefined : r.status) : r;
  return s?.code === 409 && s.reason === 'AlreadyExists';
}
export function isGone(r: Result<unknown> | Status): boolean {
  return codeOf(r) === 410;
}
function codeOf(r: Result<unknown> | Status): number | undefined {
  if ('ok' in r) return r.ok ? undefined : r.status.code;
  return r.code;
}

export function makeStatus(code: number, reason: StatusReason, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message };
}

const reasonForCode: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface ClientConfig {
  server: string;
  token?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  /** Upper bound on one non-watch request, ms. */
  timeoutMs?: number;
  /** Parallel connections per client (keep-alive pool size). */
  maxSockets?: number;
  userAgent?: string;
}

/**
 * Reads a kubeconfig (YAML): current-context -> context -> cluster server (+ TLS data) and user
 * credentials. Only what a plain client needs; exec plugins and auth providers are not supported.
 */
export function parseKubeconfig(text: string, baseDir = '.', contextName?: string): ClientConfig {
  const doc = loadYaml(text) as any;
  if (!doc || typeof doc !== 'object') throw new Error('kubeconfig: not a YAML mapping');
  const ctxName: string | undefined = contextName ?? doc['current-context'];
  const contexts: any[] = doc.contexts ?? [];
  const clusters: any[] = doc.clusters ?? [];
  const users: any[] = doc.users ?? [];
  const ctx = ctxName ? contexts.find((c) => c?.name === ctxName)?.context : contexts[0]?.context;
  const clusterName = ctx?.cluster ?? clusters[0]?.name;
  const cluster = clusters.find((c) => c?.name === clusterName)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig: no cluster server for context "${ctxName ?? ''}"`);
  const user = users.find((u) => u?.name === ctx?.user)?.user ?? {};
  const file = (p: string | undefined) =>
    p ? readFileSync(p.startsWith('/') ? p : `${baseDir}/${p}`) : undefined;
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);
  return {
    server: String(cluster.server),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    ca: b64(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    cert: b64(user['client-certificate-data']) ?? file(user['client-certificate']),
    key: b64(user['client-key-data']) ?? file(user['client-key']),
    token: user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined),
  };
}

export function loadKubeconfig(path: string): ClientConfig {
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
  return parseKubeconfig(readFileSync(path, 'utf8'), dir);
}

/** The config from `--kubeconfig FILE` or `--server URL` (exactly one is required). */
export function configFromFlags(flags: { kubeconfig?: string; server?: string }): ClientConfig {
  if (flags.server && flags.kubeconfig) throw new Error('use either --server or --kubeconfig, not both');
  if (flags.server) {
    let u: URL;
    try {
      u = new URL(flags.server);
    } catch {
      throw new Error(`--server: "${flags.server}" is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(`--server: want http:// or https://`);
    return { server: flags.server };
  }
  if (flags.kubeconfig) return loadKubeconfig(flags.kubeconfig);
  throw new Error('one of --kubeconfig FILE or --server URL is required');
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface DeleteOptions {
  namespace?: string;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface WriteOptions {
  namespace?: string;
  fieldManager?: string;
  dryRun?: boolean;
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** An open watch: iterate its events; `close()` ends it (the iterator then finishes). */
export interface WatchStream<T> extends AsyncIterable<WatchEvent<T>> {
  close(): void;
}

/** Largest watch line we accept: a guard against a runaway stream, well above any object we store. */
const MAX_WATCH_LINE = 16 * 1024 * 1024;
/** Events buffered in a watch stream that the consumer has not taken yet; past it, the socket pauses. */
const WATCH_HIGH_WATER = 1024;

export class KubeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;

  constructor(readonly config: ClientConfig) {
    this.base = new URL(config.server);
    const secure = this.base.protocol === 'https:';
    this.mod = secure ? https : http;
    const agentOpts = { keepAlive: true, maxSockets: config.maxSockets ?? 32, keepAliveMsecs: 10_000 };
    this.agent = secure
      ? new https.Agent({
          ...agentOpts,
          ca: config.ca,
          cert: config.cert,
          key: config.key,
          rejectUnauthorized: !config.insecureSkipTLSVerify,
        })
      : new http.Agent(agentOpts);
  }

  /** Frees pooled connections (open watches keep their own sockets until closed). */
  close(): void {
    this.agent.destroy();
  }

  /** The URL path of a collection or one object (optionally a subresource). */
  path(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
    let p = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
    if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${r.resource}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  async get<T extends KubeObject>(r: ResourceType, name: string, namespace?: string): Promise<Result<T>> {
    return this.request<T>('GET', this.path(r, namespace, name));
  }

  async list<T extends KubeObject>(r: ResourceType, opts: ListOptions = {}): Promise<Result<List<T>>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.limit) q.set('limit', String(opts.limit));
    if (opts.continue) q.set('continue', opts.continue);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    return this.request<List<T>>('GET', withQuery(this.path(r, opts.namespace), q));
  }

  /** Lists every page (limit per page) and returns all items with the first page's resourceVersion. */
  async listAll<T extends KubeObject>(
    r: ResourceType,
    opts: Omit<ListOptions, 'continue'> = {},
  ): Promise<Result<List<T>>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    for (let page = 0; page < 100_000; page++) {
      const res = await this.list<T>(r, { ...opts, continue: cont, limit: opts.limit ?? 500 });
      if (!res.ok) return res;
      rv ??= res.value.metadata?.resourceVersion;
      items.push(...(res.value.items ?? []));
      cont = res.value.metadata?.continue || undefined;
      if (!cont) return { ok: true, value: { ...res.value, metadata: { resourceVersion: rv }, items } };
    }
    throw new Error('listAll: too many pages');
  }

  async create<T extends KubeObject>(r: ResourceType, obj: T, opts: WriteOptions = {}): Promise<Result<T>> {
    const ns = opts.namespace ?? obj.metadata?.namespace;
    return this.request<T>('POST', withQuery(this.path(r, ns), writeQuery(opts)), obj);
  }

  async update<T extends KubeObject>(r: ResourceType, obj: T, opts: WriteOptions = {}): Promise<Result<T>> {
    const ns = opts.namespace ?? obj.metadata?.namespace;
    return this.request<T>('PUT', withQuery(this.path(r, ns, obj.metadata.name!), writeQuery(opts)), obj);
  }

  async updateStatus<T extends KubeObject>(
    r: ResourceType,
    obj: T,
    opts: WriteOptions = {},
  ): Promise<Result<T>> {
    const ns = opts.namespace ?? obj.metadata?.namespace;
    return this.request<T>(
      'PUT',
      withQuery(this.path(r, ns, obj.metadata.name!, 'status'), writeQuery(opts)),
      obj,
    );
  }

  async patch<T extends KubeObject>(
    r: ResourceType,
    name: string,
    patch: unknown,
    opts: WriteOptions & { type?: PatchType; subresource?: string; force?: boolean } = {},
  ): Promise<Result<T>> {
    const q = writeQuery(opts);
    if (opts.force) q.set('force', 'true');
    const type = opts.type ?? 'merge';
    const body = typeof patch === 'string' ? patch : JSON.stringify(patch);
    return this.request<T>(
      'PATCH',
      withQuery(this.path(r, opts.namespace, name, opts.subresource), q),
      body,
      patchContentType[type],
    );
  }

  async delete<T = KubeObject | Status>(
    r: ResourceType,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<Result<T>> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    return this.request<T>('DELETE', this.path(r, opts.namespace, name), body);
  }

  /** POST to a subresource (pods/binding, pods/eviction...). */
  async createSubresource<T = KubeObject>(
    r: ResourceType,
    name: string,
    subresource: string,
    body: unknown,
    namespace?: string,
  ): Promise<Result<T>> {
    return this.request<T>('POST', this.path(r, namespace, name, subresource), body);
  }

  /**
   * Any request: the body (object, or a string sent as-is) and the answer parsed as JSON. A non-2xx answer
   * becomes `{ok:false, status}`, using the server's Status when it sent one.
   */
  request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Result<T>> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve) => {
      const req = this.mod.request(
        this.url(path),
        {
          method,
          agent: this.agent,
          headers: this.headers(payload === undefined ? undefined : contentType, payload),
          timeout: this.config.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => resolve(transportFailure(method, path, err)));
          res.on('end', () =>
            resolve(decodeResponse<T>(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (err) => resolve(transportFailure(method, path, err)));
      req.end(payload);
    });
  }

  /**
   * Opens a watch. Resolves once the server has answered the request: with the stream, or with the
   * Status it refused with (e.g. 410 Gone for a compacted resourceVersion).
   */
  watch<T extends KubeObject>(r: ResourceType, opts: WatchOptions = {}): Promise<Result<WatchStream<T>>> {
    const q = new URLSearchParams({ watch: 'true' });
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.allowWatchBookmarks) q.set('allowWatchBookmarks', 'true');
    if (opts.timeoutSeconds !== undefined) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    const path = withQuery(this.path(r, opts.namespace), q);
    return new Promise((resolve) => {
      // Watches get their own connection: a long-lived stream must not hold a pooled socket.
      const req = this.mod.request(this.url(path), { method: 'GET', headers: this.headers(), agent: false });
      const onAbort = () => req.destroy();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(transportFailure('GET', path, err));
      });
      req.on('response', (res) => {
        const code = res.statusCode ?? 0;
        if (code < 200 || code >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve(decodeResponse<WatchStream<T>>(code, Buffer.concat(chunks).toString('utf8'))),
          );
          res.on('error', (err) => resolve(transportFailure('GET', path, err)));
          return;
        }
        resolve({
          ok: true,
          value: new LineStream<T>(req, res, () => opts.signal?.removeEventListener('abort', onAbort)),
        });
      });
      req.end();
    });
  }

  private url(path: string): URL {
    return new URL(path, this.base);
  }

  private headers(contentType?: string, payload?: string): http.OutgoingHttpHeaders {
    const h: http.OutgoingHttpHeaders = {
      accept: 'application/json',
      'user-agent': this.config.userAgent ?? 'ekl-client/0.1',
    };
    if (this.config.token) h.authorization = `Bearer ${this.config.token}`;
    if (contentType) h['content-type'] = contentType;
    if (payload !== undefined) h['content-length'] = Buffer.byteLength(payload);
    return h;
  }
}

/** Parses a chunked newline-delimited WatchEvent stream into an async iterator. */
class LineStream<T> implements WatchStream<T> {
  private buf = '';
  private readonly queue: WatchEvent<T>[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private closed = false;

  constructor(
    private readonly req: http.ClientRequest,
    private readonly res: http.IncomingMessage,
    private readonly onDone: () => void,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.push(chunk));
    res.on('end', () => this.finish());
    res.on('error', () => this.finish());
    res.on('close', () => this.finish());
    req.on('error', () => this.finish());
  }

  private push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      try {
        this.queue.push(JSON.parse(line) as WatchEvent<T>);
      } catch {
        // A line that is not JSON means the stream is corrupt: stop rather than guess.
        this.queue.push({ type: 'ERROR', object: makeStatus(500, 'InternalError', 'malformed watch event') });
        this.close();
        break;
      }
    }
    if (this.buf.length > MAX_WATCH_LINE) {
      this.queue.push({ type: 'ERROR', object: makeStatus(500, 'InternalError', 'watch event too large') });
      this.close();
    }
    if (this.queue.length > WATCH_HIGH_WATER) this.res.pause();
    this.wake();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onDone();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.req.destroy();
    this.res.destroy();
    this.finish();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    try {
      while (true) {
        if (this.queue.length > 0) {
          const ev = this.queue.shift()!;
          if (this.queue.length < WATCH_HIGH_WATER / 2 && this.res.isPaused()) this.res.resume();
          yield ev;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => (this.waiter = r));
      }
    } finally {
      this.close();
    }
  }
}

function withQuery(path: string, q: URLSearchParams): string {
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function writeQuery(opts: WriteOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (opts.fieldManager) q.set('fieldManager', opts.fieldManager);
  if (opts.dryRun) q.set('dryRun', 'All');
  return q;
}

function transportFailure<T>(method: string, path: string, err: Error): Result<T> {
  return {
    ok: false,
    status: makeStatus(503, 'ServiceUnavailable', `${method} ${path}: ${err.message}`),
  };
}

function decodeResponse<T>(code: number, text: string): Result<T> {
  let body: any;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (code >= 200 && code < 300) {
    if (body === undefined && text !== '') {
      return {
        ok: false,
        status: makeStatus(500, 'InternalError', `response is not JSON: ${text.slice(0, 200)}`),
      };
    }
    return { ok: true, value: body as T };
  }
  if (body && body.kind === 'Status') {
    return { ok: false, status: { ...body, code: body.code ?? code } as Status };
  }
  return {
    ok: false,
    status: makeStatus(code, reasonForCode[code] ?? 'InternalError', text.slice(0, 500) || `HTTP ${code}`),
  };
}
