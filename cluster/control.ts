// The supervisor's control API on 127.0.0.1 (for the dashboard and the tutorial): list components, and
// stop, kill, start, pause or resume one; node heartbeats are passed through to the node-agent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SupervisorError, type Supervisor } from './supervisor.js';

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(
  sup: Supervisor,
  port: number,
  nodeAgentUrl: () => string | undefined,
  shutdown: () => void,
): Promise<ControlServer> {
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    const url = new URL(req.url ?? '/', 'http://control');
    const path = url.pathname.replace(/\/+$/, '');
    void (async () => {
      if (req.method === 'GET' && path === '/healthz') return reply(200, { ok: true });
      if (req.method === 'GET' && path === '/components') return reply(200, { components: sup.list() });
      if (req.method === 'POST' && path === '/shutdown') {
        reply(202, { shuttingDown: true, pid: process.pid });
        return shutdown();
      }
      let m = /^\/components\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && m) {
        const c = sup.get(decodeURIComponent(m[1]!));
        return c ? reply(200, c) : reply(404, { error: `no component named "${m[1]}"` });
      }
      m = /^\/components\/([^/]+)\/([a-z]+)$/.exec(path);
      if (m) {
        if (req.method !== 'POST') return reply(405, { error: 'use POST' });
        return reply(200, await sup.act(decodeURIComponent(m[1]!), m[2]!));
      }
      m = /^\/nodes(\/[^/]+\/(?:stop|start)-heartbeat)?$/.exec(path);
      if (m) {
        const agent = nodeAgentUrl();
        if (!agent) return reply(503, { error: 'the node-agent is not running' });
        const r = await fetch(agent + path, { method: req.method });
        return reply(r.status, await r.json());
      }
      reply(404, { error: `no route ${req.method} ${path}` });
    })().catch((err: unknown) => {
      const code = err instanceof SupervisorError ? err.code : 500;
      reply(code, { error: (err as Error).message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
