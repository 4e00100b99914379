// Lists and watches through bin/apiserver on a real store: paging, watch semantics, the shared watch
// cache, bookmarks, 410 Gone after compaction, WebSocket, and two stateless apiservers on one store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { hasCommand, run, waitFor } from '../support/index.js';
import { startCluster, startApiServer, type Cluster } from '../../apiserver/testing.js';

const skip = !hasCommand('etcd') && 'etcd is not installed';
let c: Cluster;

before(async () => {
  if (skip) return;
  c = await startCluster({
    apiservers: 2,
    apiserverArgs: [
      '--etcd-compaction-interval',
      '1s',
      '--watch-cache-size',
      '100',
      '--watch-bookmark-interval',
      '300ms',
    ],
  });
});
after(async () => {
  if (c) await c.stop();
});

type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  body?: unknown,
  server = 0,
  contentType = 'application/json',
): Promise<{ code: number; body: Json }> {
  const r = await fetch(c.apiservers[server].url + path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'Content-Type': contentType },
  });
  return { code: r.status, body: (await r.json()) as Json };
}

const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): Json => ({
  metadata: { name, labels },
  data,
});

interface Stream {
  events: Json[];
  ended: boolean;
  close(): void;
}

/** Opens a chunked watch and collects its newline-delimited events. */
async function openWatch(path: string, server = 0): Promise<Stream> {
  const ac = new AbortController();
  const r = await fetch(c.apiservers[server].url + path, { signal: ac.signal });
  assert.equal(r.status, 200);
  const s: Stream = { events: [], ended: false, close: () => ac.abort() };
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) s.events.push(JSON.parse(line));
        }
      }
    } catch {
      /* aborted */
    }
    s.ended = true;
  })();
  return s;
}

const names = (evs: Json[], type?: string): string[] =>
  evs
    .filter((e) => e.type !== 'BOOKMARK' && (!type || e.type === type))
    .map((e) => `${e.type} ${e.object.metadata.name}`);

test('list pages with limit/continue at one revision, with remainingItemCount', { skip }, async () => {
  for (let i = 0; i < 25; i++)
    assert.equal(
      (
        await call(
          'POST',
          '/api/v1/namespaces/default/configmaps',
          cm(`page-${String(i).padStart(2, '0')}`, { set: 'paging' }),
        )
      ).code,
      201,
    );
  const first = await call('GET', '/api/v1/namespaces/default/configmaps?limit=10');
  assert.equal(first.body.items.length, 10);
  assert.ok(first.body.metadata.continue);
  assert.equal(first.body.metadata.remainingItemCount, 15);
  const rv = first.body.metadata.resourceVersion;
  // A write between pages must not show up: every page is read at the first page's revision.
  await call('POST', '/api/v1/namespaces/default/configmaps', cm('page-00a'));
  const seen: string[] = first.body.items.map((i: Json) => i.metadata.name);
  let cont = first.body.metadata.continue;
  while (cont) {
    const p = await call(
      'GET',
      `/api/v1/namespaces/default/configmaps?limit=10&continue=${encodeURIComponent(cont)}`,
    );
    assert.equal(p.code, 200);
    assert.equal(p.body.metadata.resourceVersion, rv);
    seen.push(...p.body.items.map((i: Json) => i.metadata.name));
    cont = p.body.metadata.continue;
  }
  assert.equal(seen.length, 25);
  assert.ok(!seen.includes('page-00a'));
  assert.deepEqual(seen, [...seen].sort());
  // With a label selector, pages fill up with matches only.
  const sel = await call('GET', '/api/v1/namespaces/default/configmaps?limit=20&labelSelector=set%3Dpaging');
  assert.equal(sel.body.items.length, 20);
  assert.ok(sel.body.metadata.continue);
});

test(
  'watch from a resourceVersion: ADDED, MODIFIED, DELETED in order, from one shared store watch',
  { skip },
  async () => {
    const list = await call('GET', '/api/v1/namespaces/default/configmaps?limit=1');
    const w = await openWatch(
      `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    const created = await call('POST', '/api/v1/namespaces/default/configmaps', cm('w1'));
    await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/w1',
      { data: { k: 'v' } },
      0,
      'application/merge-patch+json',
    );
    await call('DELETE', '/api/v1/namespaces/default/configmaps/w1');
    await waitFor('three events', () => names(w.events).length >= 3);
    assert.deepEqual(names(w.events), ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.equal(rvs[0], Number(created.body.metadata.resourceVersion));
    assert.ok(rvs[0] < rvs[1] && rvs[1] < rvs[2]);
    w.close();
  },
);

test('many client watches share one store watch per resource (no polling)', { skip }, async () => {
  // etcd's own gauge of open store watchers (our store may not export it: then this test has nothing to read).
  const metric = async (): Promise<number> => {
    const text = await fetch(`${c.store.endpoint}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  if (process.env.EKL_STORE === 'ours' && Number.isNaN(await metric())) return;
  const before = await metric();
  assert.ok(before >= 11, `expected one store watcher per resource, got ${before}`);
  const streams = await Promise.all(Array.from({ length: 20 }, () => openWatch('/api/v1/pods?watch=true')));
  await call('POST', '/api/v1/namespaces/default/configmaps', cm('fanout'));
  await waitFor('all 20 watches to be open', () => streams.every((s) => !s.ended));
  assert.equal(await metric(), before, 'client watches must not open store watches');
  // The apiserver's own metrics count them as open watches on one resource.
  const own = await (await fetch(`${c.apiservers[0].url}/metrics`)).text();
  const open = /^apiserver_longrunning_requests\{verb="WATCH",resource="pods"\} (\d+)/m.exec(own);
  assert.ok(open && Number(open[1]) >= 20, own.slice(0, 500));
  assert.match(own, /^apiserver_request_total\{verb="POST",resource="configmaps",code="201"\} \d+/m);
  for (const s of streams) s.close();
});

test(
  'a selector watch sees an object leave (DELETED) and enter (ADDED) the selection',
  { skip },
  async () => {
    const w = await openWatch('/api/v1/namespaces/default/configmaps?watch=true&labelSelector=team%3Dblue');
    await waitFor('watch open', () => w.events !== undefined);
    await call('POST', '/api/v1/namespaces/default/configmaps', cm('sel', { team: 'blue' }));
    await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/sel',
      { metadata: { labels: { team: 'red' } } },
      0,
      'application/merge-patch+json',
    );
    await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/sel',
      { data: { ignored: 'yes' } },
      0,
      'application/merge-patch+json',
    );
    await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/sel',
      { metadata: { labels: { team: 'blue' } } },
      0,
      'application/merge-patch+json',
    );
    await waitFor('three events', () => names(w.events).length >= 3);
    assert.deepEqual(names(w.events), ['ADDED sel', 'DELETED sel', 'ADDED sel']);
    w.close();
  },
);

test(
  'resourceVersion "" and "0" start with the current state; bookmarks when allowed',
  { skip },
  async () => {
    const w = await openWatch('/api/v1/namespaces?watch=true&allowWatchBookmarks=true');
    await waitFor('initial namespaces', () => names(w.events, 'ADDED').length >= 4);
    assert.ok(names(w.events).includes('ADDED kube-system'));
    await waitFor('a bookmark', () => w.events.some((e) => e.type === 'BOOKMARK'), { timeoutMs: 10_000 });
    const bm = w.events.find((e) => e.type === 'BOOKMARK')!;
    assert.equal(bm.object.kind, 'Namespace');
    assert.ok(Number(bm.object.metadata.resourceVersion) > 0);
    w.close();
    const z = await openWatch('/api/v1/namespaces?watch=true&resourceVersion=0');
    await waitFor('initial namespaces from the cache', () => names(z.events, 'ADDED').length >= 4);
    assert.ok(!z.events.some((e) => e.type === 'BOOKMARK'));
    z.close();
  },
);

test('timeoutSeconds ends a watch', { skip }, async () => {
  const w = await openWatch('/api/v1/pods?watch=true&timeoutSeconds=1');
  await waitFor('the watch to end', () => w.ended, { timeoutMs: 10_000 });
});

test(
  'a resourceVersion older than the window and compacted in the store is 410 Gone (an ERROR event with a Status)',
  { skip },
  async () => {
    const start = await call('POST', '/api/v1/namespaces/default/configmaps', cm('churn'));
    for (let i = 0; i < 120; i++)
      await call(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/churn',
        { data: { i: String(i) } },
        0,
        'application/merge-patch+json',
      );
    // Outside the window the apiserver reads history from the store; once compacted, that is gone too.
    // A watch from resourceVersion N needs the store's history from N + 1: wait until that is compacted
    // (a compaction to exactly N + 1 leaves it readable, and the watch then rightly succeeds).
    const firstNeeded = Number(start.body.metadata.resourceVersion) + 1;
    await waitFor(
      'the first revision the watch needs to be compacted',
      async () => {
        await call('POST', '/api/v1/namespaces/default/configmaps', cm(`tick-${Date.now()}`));
        const r = await run('etcdctl', [
          '--endpoints',
          c.store.endpoint,
          'get',
          '/registry/x',
          `--rev=${firstNeeded}`,
        ]);
        return /compacted/.test(r.stderr);
      },
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    const w = await openWatch(
      `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${start.body.metadata.resourceVersion}`,
    );
    await waitFor('the stream to end', () => w.ended);
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0].type, 'ERROR');
    assert.equal(w.events[0].object.kind, 'Status');
    assert.equal(w.events[0].object.code, 410);
    assert.equal(w.events[0].object.reason, 'Expired');
  },
);

test('compaction bounds history: an old continue token becomes 410 Expired', { skip }, async () => {
  const first = await call('GET', '/api/v1/namespaces/default/configmaps?limit=2');
  const cont = first.body.metadata.continue;
  const rv = Number(first.body.metadata.resourceVersion);
  // The compaction loop (1s here) compacts to the revision it saw one round earlier.
  await waitFor(
    'history before the token to be compacted',
    async () => {
      await call('POST', '/api/v1/namespaces/default/configmaps', cm(`tick-${Date.now()}`));
      const r = await run('etcdctl', ['--endpoints', c.store.endpoint, 'get', '/registry/x', `--rev=${rv}`]);
      return /compacted/.test(r.stderr);
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
  const r = await call(
    'GET',
    `/api/v1/namespaces/default/configmaps?limit=2&continue=${encodeURIComponent(cont)}`,
  );
  assert.equal(r.code, 410);
  assert.equal(r.body.reason, 'Expired');
  assert.match(r.body.message, /continue parameter is too old/);
});

test('WebSocket watch for browsers', { skip }, async () => {
  const ws = new WebSocket(
    `${c.apiservers[0].url.replace('http', 'ws')}/api/v1/namespaces/default/configmaps?watch=true&labelSelector=via%3Dws`,
  );
  const got: Json[] = [];
  ws.on('message', (m) => got.push(JSON.parse(String(m))));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  await waitFor('initial state', async () => true);
  await call('POST', '/api/v1/namespaces/default/configmaps', cm('ws1', { via: 'ws' }));
  await waitFor('ADDED over ws', () =>
    got.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'ws1'),
  );
  ws.close();
});

test(
  'two apiservers on one store: a write through one is read and watched through the other; a restart loses nothing',
  { skip },
  async () => {
    const w = await openWatch(
      '/api/v1/namespaces/default/configmaps?watch=true&labelSelector=shared%3Dyes',
      1,
    );
    const made = await call(
      'POST',
      '/api/v1/namespaces/default/configmaps',
      cm('shared', { shared: 'yes' }, { a: '1' }),
      0,
    );
    assert.equal(made.code, 201);
    const read = await call('GET', '/api/v1/namespaces/default/configmaps/shared', undefined, 1);
    assert.equal(read.body.metadata.resourceVersion, made.body.metadata.resourceVersion);
    await waitFor('the other apiserver to stream it', () => names(w.events).includes('ADDED shared'));
    // A stale write through the second apiserver conflicts just the same.
    await call(
      'PUT',
      '/api/v1/namespaces/default/configmaps/shared',
      {
        ...cm('shared', { shared: 'yes' }, { a: '2' }),
        metadata: {
          name: 'shared',
          labels: { shared: 'yes' },
          resourceVersion: made.body.metadata.resourceVersion,
        },
      },
      0,
    );
    const stale = await call(
      'PUT',
      '/api/v1/namespaces/default/configmaps/shared',
      {
        ...cm('shared', { shared: 'yes' }, { a: '3' }),
        metadata: { name: 'shared', resourceVersion: made.body.metadata.resourceVersion },
      },
      1,
    );
    assert.equal(stale.code, 409);
    w.close();
    // Restart apiserver 0: it keeps nothing of its own.
    await c.apiservers[0].stop();
    c.apiservers[0] = await startApiServer(c.store.endpoint);
    const after = await call('GET', '/api/v1/namespaces/default/configmaps/shared', undefined, 0);
    assert.equal(after.code, 200);
    assert.equal(after.body.data.a, '2');
  },
);

test('several events in one store revision (a range delete) all reach watchers', { skip }, async () => {
  for (const n of ['multi-a', 'multi-b', 'multi-c'])
    await call('POST', '/api/v1/namespaces/default/configmaps', cm(n, { batch: 'yes' }));
  const list = await call('GET', '/api/v1/namespaces/default/configmaps?labelSelector=batch%3Dyes');
  const w = await openWatch(
    `/api/v1/namespaces/default/configmaps?watch=true&labelSelector=batch%3Dyes&resourceVersion=${list.body.metadata.resourceVersion}`,
    1,
  );
  const del = await run('etcdctl', [
    '--endpoints',
    c.store.endpoint,
    'del',
    '/registry/configmaps/default/multi-',
    '--prefix',
  ]);
  assert.equal(del.stdout.trim(), '3');
  await waitFor('three deletions', () => names(w.events, 'DELETED').length === 3);
  assert.deepEqual(names(w.events), ['DELETED multi-a', 'DELETED multi-b', 'DELETED multi-c']);
  const revs = new Set(
    w.events.filter((e) => e.type === 'DELETED').map((e) => e.object.metadata.resourceVersion),
  );
  assert.equal(revs.size, 1, 'one revision for the whole range delete');
  // The apiserver keeps serving after it.
  assert.equal((await call('GET', '/api/v1/namespaces/default/configmaps/shared', undefined, 1)).code, 200);
  w.close();
});
