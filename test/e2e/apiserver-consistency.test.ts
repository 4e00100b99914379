// Randomized consistency checks through two apiservers on one store: optimistic concurrency loses no
// update, and a watch replayed onto its list reproduces the final state exactly. Seeded: the seed is
// printed, and EKL_SEED=<n> replays a run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, waitFor } from '../support/index.js';
import { startCluster, type Cluster } from '../../apiserver/testing.js';

const skip = !hasCommand('etcd') && 'etcd is not installed';
let c: Cluster;
const seed = Number(process.env.EKL_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough to pick operations. */
function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  if (skip) return;
  console.log(`apiserver-consistency seed=${seed} (replay with EKL_SEED=${seed})`);
  c = await startCluster({ apiservers: 2 });
});
after(async () => {
  if (c) await c.stop();
});

type Json = Record<string, any>;

async function call(
  server: number,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ code: number; body: Json }> {
  const r = await fetch(c.apiservers[server].url + path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'Content-Type': contentType },
  });
  return { code: r.status, body: (await r.json()) as Json };
}

const C = '/api/v1/namespaces/default/configmaps';

test('concurrent read-modify-write through two apiservers loses no increment', { skip }, async () => {
  const rand = rng(seed);
  assert.equal((await call(0, 'POST', C, { metadata: { name: 'counter' }, data: { n: '0' } })).code, 201);
  const workers = 4;
  const perWorker = 10;
  let conflicts = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; i < perWorker; i++) {
        for (let attempt = 0; ; attempt++) {
          assert.ok(attempt < 200, 'too many conflicts');
          const server = rand() < 0.5 ? 0 : 1;
          const cur = await call(server, 'GET', `${C}/counter`);
          const next = { ...cur.body, data: { n: String(Number(cur.body.data.n) + 1), last: `w${w}` } };
          const r = await call(rand() < 0.5 ? 0 : 1, 'PUT', `${C}/counter`, next);
          if (r.code === 200) break;
          assert.equal(r.code, 409, JSON.stringify(r.body));
          conflicts++;
        }
      }
    }),
  );
  const final = await call(1, 'GET', `${C}/counter`);
  assert.equal(Number(final.body.data.n), workers * perWorker, `seed=${seed}`);
  console.log(`counter: ${workers * perWorker} increments, ${conflicts} conflicts retried`);
});

test(
  'a watch applied to its list reproduces the final state (random creates, updates, deletes)',
  { skip },
  async () => {
    const rand = rng(seed + 1);
    const list = await call(0, 'GET', `${C}?labelSelector=fuzz`);
    const state = new Map<string, Json>(list.body.items.map((o: Json) => [o.metadata.name, o]));
    const ac = new AbortController();
    const r = await fetch(
      `${c.apiservers[1].url}${C}?watch=true&labelSelector=fuzz&resourceVersion=${list.body.metadata.resourceVersion}`,
      { signal: ac.signal },
    );
    let lastRV = 0;
    let orderOK = true;
    const reading = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const ev = JSON.parse(buf.slice(0, i)) as Json;
            buf = buf.slice(i + 1);
            const rv = Number(ev.object.metadata.resourceVersion);
            if (rv < lastRV) orderOK = false;
            lastRV = rv;
            if (ev.type === 'DELETED') state.delete(ev.object.metadata.name);
            else state.set(ev.object.metadata.name, ev.object);
          }
        }
      } catch {
        /* aborted */
      }
    })();
    const names = Array.from({ length: 12 }, (_, i) => `f${i}`);
    for (let op = 0; op < 100; op++) {
      const name = names[Math.floor(rand() * names.length)];
      const server = rand() < 0.5 ? 0 : 1;
      const roll = rand();
      if (roll < 0.4)
        await call(server, 'POST', C, {
          metadata: { name, labels: { fuzz: 'yes' } },
          data: { v: String(op) },
        });
      else if (roll < 0.6) await call(server, 'DELETE', `${C}/${name}`);
      else if (roll < 0.8)
        await call(
          server,
          'PATCH',
          `${C}/${name}`,
          { data: { v: String(op) } },
          'application/merge-patch+json',
        );
      // Moving an object out of and back into the selection exercises prev_kv filtering.
      else
        await call(
          server,
          'PATCH',
          `${C}/${name}`,
          { metadata: { labels: rand() < 0.5 ? { fuzz: null } : { fuzz: 'yes' } } },
          'application/merge-patch+json',
        );
    }
    const final = await call(0, 'GET', `${C}?labelSelector=fuzz`);
    const finalRV = Number(final.body.metadata.resourceVersion);
    const want = new Map<string, string>(
      final.body.items.map((o: Json) => [o.metadata.name, o.metadata.resourceVersion]),
    );
    // The watch has caught up when the state it built equals the final list (no writes happen after it).
    await waitFor(
      `the watch to converge (seed=${seed})`,
      () => {
        const got = new Map([...state].map(([k, v]) => [k, v.metadata.resourceVersion as string]));
        return JSON.stringify([...got].sort()) === JSON.stringify([...want].sort()) && lastRV <= finalRV;
      },
      { timeoutMs: 20_000 },
    );
    ac.abort();
    await reading;
    const got = new Map([...state].map(([k, v]) => [k, v.metadata.resourceVersion as string]));
    assert.deepEqual([...got].sort(), [...want].sort(), `seed=${seed}`);
    assert.ok(orderOK, `events out of revision order (seed=${seed})`);
  },
);
