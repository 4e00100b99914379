// `npm run bench -- apiserver`: pod creates/s through bin/apiserver (many clients) against raw store puts/s
// in the same run, latency of listing 10,000 pods, and watch fan-out to 100 watchers.
// Flags: --pods N (10000) --concurrency N (64) --watchers N (100) --fanout-events N (200). EKL_STORE=ours
// runs against our bin/store instead of real etcd.
import { Agent, request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startStore, startApiServer } from '../apiserver/testing.js';
import { ROOT } from '../test/support/index.js';

function flag(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} wants a positive number`);
  return v;
}

function podBody(ns: string, name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: 'bench', shard: String(name.length % 4) } },
    spec: {
      containers: [
        {
          name: 'main',
          image: 'nginx:1.27',
          ports: [{ containerPort: 80 }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  });
}

interface Resp {
  code: number;
  body: string;
}

function http(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const u = new URL(base + path);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        agent,
        headers: {
          ...(body
            ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body) req.end(body);
    else req.end();
  });
}

/** Runs `total` jobs with `concurrency` in flight; returns elapsed seconds. */
async function pool(total: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await job(i);
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export async function run(args: string[]): Promise<void> {
  const pods = flag(args, 'pods', 10_000);
  const concurrency = flag(args, 'concurrency', 64);
  const watchers = flag(args, 'watchers', 100);
  const fanoutEvents = flag(args, 'fanout-events', 200);
  const store = await startStore();
  const api = await startApiServer(store.endpoint, [
    '--log-level',
    'warn',
    '--etcd-compaction-interval',
    '0',
  ]);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency + watchers + 8 });
  const etcd = new Etcd3({ hosts: store.endpoint });
  try {
    // 1. Raw store puts of the same bytes, same concurrency, one client connection (as the apiserver has).
    const rawN = Math.min(pods, 5000);
    const rawSecs = await pool(rawN, concurrency, async (i) => {
      await etcd.put(`/bench-raw/pods/default/p-${i}`).value(podBody('default', `p-${i}`));
    });
    const rawPerSec = rawN / rawSecs;

    // 2. Pod creates through the apiserver (POST, validation, defaults, create txn).
    await http(agent, api.url, 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'bench' } }));
    const createLat: number[] = [];
    let failures = 0;
    const createSecs = await pool(pods, concurrency, async (i) => {
      const t0 = performance.now();
      const r = await http(
        agent,
        api.url,
        'POST',
        '/api/v1/namespaces/bench/pods',
        podBody('bench', `pod-${i}`),
      );
      createLat.push(performance.now() - t0);
      if (r.code !== 201) failures++;
    });
    if (failures) throw new Error(`${failures} pod creates failed`);
    const createPerSec = pods / createSecs;

    // 3. Listing every pod (JSON, and the Table kubectl asks for), from the store at the current revision.
    const listMs: number[] = [];
    const tableMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      const r = await http(agent, api.url, 'GET', '/api/v1/namespaces/bench/pods');
      listMs.push(performance.now() - t0);
      const n = (JSON.parse(r.body) as { items?: unknown[] }).items?.length;
      if (i === 0 && n !== pods)
        throw new Error(`list returned ${n} pods, not ${pods}: ${r.code} ${r.body.slice(0, 300)}`);
      t0 = performance.now();
      await http(agent, api.url, 'GET', '/api/v1/namespaces/bench/pods', undefined, {
        Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      });
      tableMs.push(performance.now() - t0);
    }

    // 4. Watch fan-out: `watchers` clients on one resource, `fanoutEvents` changes; time until all saw all.
    const rv = JSON.parse((await http(agent, api.url, 'GET', '/api/v1/namespaces/bench/configmaps')).body)
      .metadata.resourceVersion as string;
    const sentAt = new Map<string, number>();
    const deliveryMs: number[] = [];
    let remaining = watchers * fanoutEvents;
    let allSeen!: () => void;
    const done = new Promise<void>((r) => (allSeen = r));
    const reqs = [];
    for (let w = 0; w < watchers; w++) {
      const u = new URL(`${api.url}/api/v1/namespaces/bench/configmaps?watch=true&resourceVersion=${rv}`);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent }, (res) => {
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const ev = JSON.parse(buf.slice(0, i)) as {
              type: string;
              object: { metadata: { name: string } };
            };
            buf = buf.slice(i + 1);
            if (ev.type !== 'ADDED') continue;
            deliveryMs.push(performance.now() - (sentAt.get(ev.object.metadata.name) ?? performance.now()));
            if (--remaining === 0) allSeen();
          }
        });
      });
      req.end();
      reqs.push(req);
    }
    const t0 = performance.now();
    await pool(fanoutEvents, 8, async (i) => {
      sentAt.set(`cm-${i}`, performance.now());
      await http(
        agent,
        api.url,
        'POST',
        '/api/v1/namespaces/bench/configmaps',
        JSON.stringify({ metadata: { name: `cm-${i}` }, data: { i: String(i) } }),
      );
    });
    const timeout = new Promise<void>((_, reject) =>
      setTimeout(
        () => reject(new Error(`watchers still missing ${remaining} events after 60s`)),
        60_000,
      ).unref(),
    );
    await Promise.race([done, timeout]);
    const fanoutSecs = (performance.now() - t0) / 1000;
    for (const r of reqs) r.destroy();

    const results = {
      benchmark: 'apiserver',
      store: process.env.EKL_STORE === 'ours' ? 'ours' : 'etcd 3.4',
      node: process.version,
      date: new Date().toISOString(),
      concurrency,
      rawStorePutsPerSec: Math.round(rawPerSec),
      podCreatesPerSec: Math.round(createPerSec),
      createsToRawPutsRatio: Number((createPerSec / rawPerSec).toFixed(3)),
      createLatencyMs: {
        p50: Number(pct(createLat, 50).toFixed(1)),
        p99: Number(pct(createLat, 99).toFixed(1)),
      },
      listPods: pods,
      listLatencyMs: { p50: Number(pct(listMs, 50).toFixed(1)), max: Number(Math.max(...listMs).toFixed(1)) },
      listTableLatencyMs: {
        p50: Number(pct(tableMs, 50).toFixed(1)),
        max: Number(Math.max(...tableMs).toFixed(1)),
      },
      watchers,
      fanoutEvents,
      fanoutDeliveredPerSec: Math.round((watchers * fanoutEvents) / fanoutSecs),
      fanoutDeliveryMs: {
        p50: Number(pct(deliveryMs, 50).toFixed(1)),
        p99: Number(pct(deliveryMs, 99).toFixed(1)),
      },
    };
    console.log(`apiserver benchmark (${results.store}, ${concurrency} concurrent clients)`);
    console.log('| metric | value |');
    console.log('|---|---|');
    console.log(`| raw store puts/s | ${results.rawStorePutsPerSec} |`);
    console.log(`| pod creates/s via apiserver | ${results.podCreatesPerSec} |`);
    console.log(
      `| creates / raw puts | ${(results.createsToRawPutsRatio * 100).toFixed(1)}% (target >= 50%) |`,
    );
    console.log(
      `| create latency p50 / p99 | ${results.createLatencyMs.p50} / ${results.createLatencyMs.p99} ms |`,
    );
    console.log(
      `| list ${pods} pods (JSON) p50 / max | ${results.listLatencyMs.p50} / ${results.listLatencyMs.max} ms |`,
    );
    console.log(
      `| list ${pods} pods (Table) p50 / max | ${results.listTableLatencyMs.p50} / ${results.listTableLatencyMs.max} ms |`,
    );
    console.log(
      `| watch fan-out ${watchers} watchers x ${fanoutEvents} events | ${results.fanoutDeliveredPerSec} events/s delivered |`,
    );
    console.log(
      `| fan-out delivery latency p50 / p99 | ${results.fanoutDeliveryMs.p50} / ${results.fanoutDeliveryMs.p99} ms |`,
    );
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'apiserver.json'), JSON.stringify(results, null, 2) + '\n');
  } finally {
    agent.destroy();
    etcd.close();
    await api.stop();
    await store.stop();
  }
}
