// The apiserver process: an HTTP server (plain, no TLS) routing discovery, OpenAPI, health and resource
// requests, WebSocket watches, and the startup work (default namespaces, watch caches, compaction).
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type ServerResponse,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import {
  StatusError,
  failure,
  internalError,
  RESOURCES,
  resourceForKind,
  type KubeObject,
  type Status,
} from '../apimachinery/index.js';
import type { Logger } from '../common/index.js';
import { Storage, type EtcdTLS } from './storage.js';
import { PROCESS_SUBRESOURCES, RestHandler } from './rest.js';
import { decodeBody, parseResourcePath, readBody, sendJSON, sendStatus } from './request.js';
import { answerReview, isReviewPath } from './review.js';
import {
  AGGREGATED_DISCOVERY_TYPE,
  aggregatedDiscovery,
  wantsAggregated,
  apiVersions,
  apiGroupList,
  apiGroup,
  apiResourceList,
  openAPIV2,
  openAPIV3Root,
  openAPIV3Doc,
  KUBE_VERSION,
} from './discovery.js';
import { encodeForStore } from './codec.js';
import { ApiMetrics } from './metrics.js';
import { applyDefaults } from './defaults.js';
import { prepareForCreate } from './strategy.js';

export type { EtcdTLS };

export interface ApiServerOptions {
  etcdServers: string[];
  etcdTLS?: EtcdTLS;
  bindAddress: string;
  port: number;
  etcdPrefix: string;
  compactionIntervalMs: number;
  watchCacheSize: number;
  bookmarkIntervalMs: number;
  minRequestTimeoutSeconds: number;
  eventTTLSeconds: number;
}

const EMPTY_V2_PROTOBUF = Buffer.from([0x0a, 0x03, 0x32, 0x2e, 0x30]);

export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function notFoundPath(): Status {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {
    causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }],
  });
}

export class ApiServer {
  readonly storage: Storage;
  readonly rest: RestHandler;
  private server: Server | null = null;
  private wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private ready = false;
  private readonly metrics: ApiMetrics;

  constructor(
    readonly opts: ApiServerOptions,
    private readonly log: Logger,
  ) {
    this.storage = new Storage(opts.etcdServers, log.child('storage'), opts.etcdTLS);
    this.rest = new RestHandler(
      this.storage,
      {
        prefix: opts.etcdPrefix,
        watchCacheSize: opts.watchCacheSize,
        bookmarkIntervalMs: opts.bookmarkIntervalMs,
        minRequestTimeoutSeconds: opts.minRequestTimeoutSeconds,
        eventTTLSeconds: opts.eventTTLSeconds,
      },
      log.child('rest'),
    );
    this.metrics = new ApiMetrics(() => this.rest.cacheStats());
  }

  /** Starts listening at once (health answers), then prepares the store; /readyz turns ok when done. */
  async start(): Promise<number> {
    this.server = createServer((req, res) => void this.route(req, res));
    this.server.keepAliveTimeout = 65_000;
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.bindAddress, () => resolve());
    });
    const port = (this.server.address() as AddressInfo).port;
    this.log.info('serving', {
      address: `http://${this.opts.bindAddress}:${port}`,
      etcd: this.opts.etcdServers.join(','),
    });
    await this.bootstrap();
    this.storage.startCompaction(this.opts.compactionIntervalMs);
    this.ready = true;
    this.log.info('ready');
    return port;
  }

  /** Creates the default namespaces if missing and fills every watch cache, retrying until the store answers. */
  private async bootstrap(): Promise<void> {
    const nsInfo = resourceForKind('Namespace')!;
    for (let attempt = 0; ; attempt++) {
      try {
        for (const name of DEFAULT_NAMESPACES) {
          const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
          prepareForCreate('Namespace', ns);
          applyDefaults('Namespace', ns as Record<string, unknown>);
          await this.storage.create(this.rest.key(nsInfo, undefined, name), encodeForStore(ns));
        }
        await Promise.all(RESOURCES.map((r) => this.rest.cache(r).start()));
        return;
      } catch (err) {
        this.log.warn('store not ready; retrying', {
          attempt,
          error: err instanceof StatusError ? err.status.message : String(err),
        });
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    try {
      await this.dispatch(req, res, url, path);
    } catch (err) {
      if (err instanceof StatusError) sendStatus(res, err.status);
      else {
        this.log.error('request failed', {
          method: req.method,
          path,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
        sendStatus(res, internalError(err instanceof Error ? err.message : String(err)));
      }
    } finally {
      const ms = Date.now() - started;
      this.log.debug('request', { method: req.method, path, code: res.statusCode, ms });
      const target = parseResourcePath(path).target;
      if (target) {
        const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
        const method = req.method ?? 'GET';
        const verb =
          method === 'GET' ? (watch ? 'WATCH' : target.name === undefined ? 'LIST' : 'GET') : method;
        const resource = target.subresource
          ? `${target.info.resource}/${target.subresource}`
          : target.info.resource;
        this.metrics.observe(verb, resource, res.statusCode, watch ? null : ms / 1000);
      }
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (
      path === '/healthz' ||
      path === '/livez' ||
      path === '/readyz' ||
      path.startsWith('/healthz/') ||
      path.startsWith('/livez/') ||
      path.startsWith('/readyz/')
    ) {
      const ok = path.startsWith('/livez') || this.ready;
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(ok ? 'ok' : 'not ready: store bootstrap in progress');
      return;
    }
    if (method === 'GET') {
      if (path === '/version' || path === '/version/') return sendJSON(res, 200, KUBE_VERSION);
      if (path === '/metrics') {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(text);
        return;
      }
      if (
        (path === '/api' || path === '/api/' || path === '/apis' || path === '/apis/') &&
        wantsAggregated(req.headers.accept)
      ) {
        // Aggregated discovery: every resource of every group in one response per root.
        const body = JSON.stringify(aggregatedDiscovery(path.startsWith('/api/') || path === '/api'));
        res.writeHead(200, {
          'Content-Type': AGGREGATED_DISCOVERY_TYPE,
          'Content-Length': String(Buffer.byteLength(body)),
        });
        res.end(body);
        return;
      }
      if (path === '/api' || path === '/api/')
        return sendJSON(
          res,
          200,
          apiVersions(req.headers.host ?? `${this.opts.bindAddress}:${this.opts.port}`),
        );
      if (path === '/apis' || path === '/apis/') return sendJSON(res, 200, apiGroupList());
      if (path === '/openapi/v2') {
        const accept = req.headers.accept ?? '';
        if (accept && !/application\/json|\*\/\*/.test(accept)) {
          // kubectl 1.32 asks for protobuf only and treats 406 or 404 as a validation error. It validates
          // against OpenAPI v3 (JSON) and the server's fieldValidation instead, so the protobuf form we
          // serve is an empty gnostic Document (field 1, swagger = "2.0"): "no v2 schemas to check".
          res.writeHead(200, {
            'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
            'Content-Length': String(EMPTY_V2_PROTOBUF.length),
          });
          res.end(EMPTY_V2_PROTOBUF);
          return;
        }
        return sendJSON(res, 200, openAPIV2());
      }
      if (path === '/openapi/v3' || path === '/openapi/v3/') return sendJSON(res, 200, openAPIV3Root());
      if (path.startsWith('/openapi/v3/')) {
        const doc = openAPIV3Doc(path.slice('/openapi/v3/'.length));
        if (!doc) return sendStatus(res, notFoundPath());
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Cache-Control': 'public, immutable',
          ETag: `"${doc.hash}"`,
        });
        res.end(doc.body);
        return;
      }
      const m = /^\/apis\/([^/]+)\/?$/.exec(path);
      if (m) {
        const g = apiGroup(m[1]);
        return g ? sendJSON(res, 200, g) : sendStatus(res, notFoundPath());
      }
    }
    if (method === 'POST' && isReviewPath(path)) {
      const body = decodeBody(await readBody(req, 64 * 1024), req.headers['content-type'] ?? '');
      return sendJSON(res, 201, answerReview(path, body));
    }
    const parsed = parseResourcePath(path);
    if (parsed.target) {
      if (!this.ready)
        return sendStatus(
          res,
          failure(503, 'ServiceUnavailable', 'the apiserver is starting: the store is not ready yet', {
            retryAfterSeconds: 1,
          }),
        );
      return this.rest.handle(req, res, parsed.target, url.searchParams);
    }
    if (parsed.groupVersion && !parsed.unknown && method === 'GET') {
      const list = apiResourceList(parsed.groupVersion.group, parsed.groupVersion.version);
      if (list) return sendJSON(res, 200, list);
    }
    // An unknown group, resource or subresource: what Kubernetes answers for a path it does not serve.
    return sendStatus(res, notFoundPath());
  }

  private upgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parsed = parseResourcePath(url.pathname);
    const sub = parsed.target?.subresource;
    if (parsed.target && sub && PROCESS_SUBRESOURCES.has(sub)) {
      // kubectl exec/attach/port-forward upgrade to a stream; answer with the Status it prints instead.
      this.rest.noProcesses(parsed.target).catch((err: unknown) => {
        const st =
          err instanceof StatusError
            ? err.status
            : internalError(err instanceof Error ? err.message : String(err));
        const body = JSON.stringify(st);
        socket.end(
          `HTTP/1.1 ${st.code} ${STATUS_CODES[st.code!] ?? ''}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      });
      return;
    }
    if (
      !parsed.target ||
      !this.ready ||
      (url.searchParams.get('watch') !== 'true' && url.searchParams.get('watch') !== '1')
    ) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nwebsocket upgrade is served for watch requests only\n',
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.rest.watchWebSocket(ws, parsed.target!, url.searchParams, req.headers.accept);
    });
  }

  async stop(): Promise<void> {
    this.ready = false;
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    for (const c of this.wss.clients) c.terminate();
    await this.rest.stop();
    this.storage.close();
  }
}
