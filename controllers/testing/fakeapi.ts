// A tiny in-memory Kubernetes-style HTTP API for unit tests of the client, informers and leader
// election: get/list/create/update/delete with resourceVersion conflicts, and watch with history and 410
// Gone once history is compacted. End-to-end tests use the real apiserver instead.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeObject, Status } from '../../apimachinery/index.js';

interface Ev {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  collection: string;
  object: KubeObject;
}

function status(code: number, reason: string, message: string): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code,
    reason: reason as Status['reason'],
    message,
  };
}

export class FakeApi {
  rv = 1;
  readonly objects = new Map<string, KubeObject>();
  readonly history: Ev[] = [];
  /** Events at or below this revision are compacted: watching from before it gets 410. */
  compacted = 0;
  readonly watchers = new Set<{ collection: string; res: http.ServerResponse }>();
  requests: string[] = [];
  /** While set, watch events are buffered instead of sent: simulates a lagging watch. */
  holdWatches = false;
  private held: { w: { collection: string; res: http.ServerResponse }; line: string }[] = [];
  private names = 0;
  private server!: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Ends every open watch (as a restarting apiserver would). */
  breakWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  compact(): void {
    this.compacted = this.rv;
  }

  /** Splits /api/v1/namespaces/ns/pods/name into the collection path and the name. */
  private parse(path: string): { collection: string; name?: string } {
    const parts = path.split('/').filter(Boolean);
    const base = parts[0] === 'api' ? 2 : 3; // /api/v1 or /apis/group/version
    const rest = parts.slice(base);
    let ns = '';
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      ns = rest[1]!;
      rest.splice(0, 2);
    }
    const prefix = parts.slice(0, base).join('/');
    return { collection: `${prefix}/${ns ? `namespaces/${ns}/` : ''}${rest[0]}`, name: rest[1] };
  }

  put(collection: string, obj: KubeObject, type: Ev['type']): KubeObject {
    const rv = ++this.rv;
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    const key = `${collection}/${obj.metadata.name}`;
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, stored);
    const ev: Ev = { rv, type, collection, object: stored };
    this.history.push(ev);
    for (const w of this.watchers) {
      if (!matches(w.collection, collection)) continue;
      const line = JSON.stringify({ type, object: stored }) + '\n';
      if (this.holdWatches) this.held.push({ w, line });
      else w.res.write(line);
    }
    return stored;
  }

  /** Sends the watch events held back while holdWatches was set. */
  releaseWatches(): void {
    this.holdWatches = false;
    for (const { w, line } of this.held.splice(0)) w.res.write(line);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const { collection, name } = this.parse(url.pathname);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = `${collection}/${name}`;
      if (req.method === 'GET' && name) {
        const o = this.objects.get(key);
        return o ? send(200, o) : send(404, status(404, 'NotFound', `"${name}" not found`));
      }
      if (req.method === 'GET' && url.searchParams.get('watch') === 'true') {
        const from = Number(url.searchParams.get('resourceVersion') ?? '0');
        if (from && from < this.compacted) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') }) +
              '\n',
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        for (const ev of this.history) {
          if (ev.rv > from && matches(collection, ev.collection))
            res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
        }
        const w = { collection, res };
        this.watchers.add(w);
        res.on('close', () => this.watchers.delete(w));
        return;
      }
      if (req.method === 'GET') {
        const items = [...this.objects.entries()]
          .filter(([k]) => matches(collection, k.slice(0, k.lastIndexOf('/'))))
          .map(([, o]) => o);
        return send(200, {
          kind: 'List',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(this.rv) },
          items,
        });
      }
      const obj = body ? (JSON.parse(body) as KubeObject) : undefined;
      if (req.method === 'POST' && !obj!.metadata.name && obj!.metadata.generateName) {
        obj!.metadata.name = `${obj!.metadata.generateName}${++this.names}`;
      }
      if (req.method === 'POST') {
        const k = `${collection}/${obj!.metadata.name}`;
        if (this.objects.has(k))
          return send(409, status(409, 'AlreadyExists', `"${obj!.metadata.name}" already exists`));
        return send(
          201,
          this.put(collection, { ...obj!, metadata: { ...obj!.metadata, uid: `uid-${this.rv}` } }, 'ADDED'),
        );
      }
      if (req.method === 'PUT') {
        const cur = this.objects.get(key);
        if (!cur) return send(404, status(404, 'NotFound', `"${name}" not found`));
        if (obj!.metadata.resourceVersion && obj!.metadata.resourceVersion !== cur.metadata.resourceVersion) {
          return send(
            409,
            status(
              409,
              'Conflict',
              'the object has been modified; please apply your changes to the latest version and try again',
            ),
          );
        }
        return send(
          200,
          this.put(
            collection,
            { ...obj!, metadata: { ...obj!.metadata, uid: cur.metadata.uid } },
            'MODIFIED',
          ),
        );
      }
      if (req.method === 'DELETE') {
        const cur = this.objects.get(key);
        if (!cur) return send(404, status(404, 'NotFound', `"${name}" not found`));
        this.put(collection, cur, 'DELETED');
        return send(200, cur);
      }
      send(405, status(405, 'MethodNotAllowed', 'no'));
    });
  }
}

/** A cluster-wide collection (/api/v1/pods) also sees every namespace's objects of that resource. */
function matches(watched: string, collection: string): boolean {
  if (watched === collection) return true;
  const m = /^(.*)\/namespaces\/[^/]+\/([^/]+)$/.exec(collection);
  return !!m && `${m[1]}/${m[2]}` === watched;
}
