// The HTTP endpoints on --listen-metrics-urls, and for plain HTTP on the client URLs as etcd has them: /health
// in etcd's JSON shape, /metrics for Prometheus, /version; on the client URLs also etcd's JSON gateway (/v3/).
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { VERSION } from './node.js';
import type { Metrics } from './metrics.js';
import { GrpcGateway } from '../api/gateway.js';

export interface HealthSource {
  /** Resolves true when the member has a leader, no alarm is raised and a linearizable read succeeds. */
  healthy(): Promise<{ ok: boolean; reason: string }>;
}

export class MetricsServer {
  private readonly servers: Server[] = [];
  /** Serves HTTP/1 connections accepted elsewhere (the client URLs' listener). */
  private readonly adopted = createServer((req, res) => {
    const gw = this.gateway;
    if (gw && GrpcGateway.handles(req.url ?? '/')) {
      gw.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    } else void this.handle(req.url ?? '/', res);
  });
  /** etcd's JSON gateway (/v3/...), on the client URLs only, as etcd serves it. */
  gateway: GrpcGateway | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly health: HealthSource,
  ) {}

  /** Listens on each URL; https ones with `tls` (the client URLs' certificate, as etcd serves them). */
  async listen(urls: string[], tls?: ServerOptions): Promise<number[]> {
    const ports: number[] = [];
    for (const u of urls) {
      const url = new URL(u);
      const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) =>
        void this.handle(req.url ?? '/', res);
      const srv: Server =
        url.protocol === 'https:' ? createHttpsServer(tls ?? {}, handler) : createServer(handler);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (err) => reject(new Error(`cannot listen on ${u}: ${err.message}`)));
        srv.listen(Number(url.port || 80), url.hostname.replace(/^\[|\]$/g, ''), () => resolve());
      });
      const addr = srv.address();
      ports.push(typeof addr === 'object' && addr ? addr.port : 0);
      this.servers.push(srv);
    }
    return ports;
  }

  /** Serves an HTTP/1 connection that arrived on a client URL. */
  accept(socket: Socket): void {
    this.adopted.emit('connection', socket);
    socket.resume();
  }

  private async handle(path: string, res: import('node:http').ServerResponse): Promise<void> {
    try {
      if (path === '/health' || path.startsWith('/health?')) {
        const h = await this.health.healthy();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h.ok ? { health: 'true' } : { health: 'false', reason: h.reason }));
        return;
      }
      if (path === '/version') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ etcdserver: VERSION, etcdcluster: VERSION.replace(/\.\d+$/, '.0') }));
        return;
      }
      if (path === '/metrics') {
        const body = await this.metrics.text();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        res.end(body);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found\n');
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  }

  async close(): Promise<void> {
    this.gateway?.close();
    this.adopted.closeAllConnections();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }
}
