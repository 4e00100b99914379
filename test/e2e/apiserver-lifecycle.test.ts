// Object lifecycle through bin/apiserver over plain HTTP: status/scale/binding/eviction subresources,
// generation, patches, graceful pod deletion, finalizers and propagation policies, namespace termination.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, run, waitFor } from '../support/index.js';
import { startCluster, type Cluster } from '../../apiserver/testing.js';

const skip = !hasCommand('etcd') && 'etcd is not installed';
let c: Cluster;

before(async () => {
  if (skip) return;
  c = await startCluster();
});
after(async () => {
  if (c) await c.stop();
});

type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ code: number; body: Json }> {
  const r = await fetch(c.url + path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'Content-Type': contentType },
  });
  return { code: r.status, body: (await r.json()) as Json };
}

const D = '/apis/apps/v1/namespaces/default/deployments';
const deployment = (name: string, replicas: number): Json => ({
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [
          { name: 'main', image: 'nginx:1.27' },
          { name: 'side', image: 'envoy:1' },
        ],
      },
    },
  },
});

test('generation moves on spec changes only; status and scale are subresources', { skip }, async () => {
  const made = await call('POST', D, deployment('api', 2));
  assert.equal(made.code, 201);
  assert.equal(made.body.metadata.generation, 1);
  assert.deepEqual(made.body.status, {});
  const lbl = await call(
    'PATCH',
    `${D}/api`,
    { metadata: { labels: { x: 'y' } } },
    'application/merge-patch+json',
  );
  assert.equal(lbl.body.metadata.generation, 1);
  // Status written through the main resource is ignored...
  const put = await call('PUT', `${D}/api`, {
    ...lbl.body,
    spec: { ...lbl.body.spec, replicas: 3 },
    status: { replicas: 9 },
  });
  assert.equal(put.body.metadata.generation, 2);
  assert.deepEqual(put.body.status, {});
  // ...and through /status it is the only thing that changes.
  const st = await call('PUT', `${D}/api/status`, {
    ...put.body,
    spec: { ...put.body.spec, replicas: 7 },
    status: {
      replicas: 3,
      readyReplicas: 2,
      updatedReplicas: 3,
      availableReplicas: 2,
      observedGeneration: 2,
    },
  });
  assert.equal(st.code, 200, JSON.stringify(st.body));
  assert.equal(st.body.status.readyReplicas, 2);
  assert.equal(st.body.spec.replicas, 3);
  assert.equal(st.body.metadata.generation, 2);
  const scale = await call('GET', `${D}/api/scale`);
  assert.deepEqual(scale.body.spec, { replicas: 3 });
  assert.deepEqual(scale.body.status, { replicas: 3, selector: 'app=api' });
  const scaled = await call(
    'PATCH',
    `${D}/api/scale`,
    { spec: { replicas: 5 } },
    'application/merge-patch+json',
  );
  assert.equal(scaled.body.spec.replicas, 5);
  assert.equal((await call('GET', `${D}/api`)).body.metadata.generation, 3);
  const bad = await call('PUT', `${D}/api/scale`, {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: 'api', namespace: 'default' },
    spec: { replicas: -1 },
  });
  assert.equal(bad.code, 422);
});

test(
  'strategic merge patch merges containers by name, honours $patch: delete and $setElementOrder; JSON patch',
  { skip },
  async () => {
    const p = await call(
      'PATCH',
      `${D}/api`,
      { spec: { template: { spec: { containers: [{ name: 'side', image: 'envoy:2' }] } } } },
      'application/strategic-merge-patch+json',
    );
    assert.deepEqual(
      p.body.spec.template.spec.containers.map((x: Json) => `${x.name}=${x.image}`),
      ['main=nginx:1.27', 'side=envoy:2'],
    );
    const del = await call(
      'PATCH',
      `${D}/api`,
      { spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } } },
      'application/strategic-merge-patch+json',
    );
    assert.deepEqual(
      del.body.spec.template.spec.containers.map((x: Json) => x.name),
      ['main'],
    );
    const add = await call(
      'PATCH',
      `${D}/api`,
      {
        spec: {
          template: {
            spec: {
              '$setElementOrder/containers': [{ name: 'first' }, { name: 'main' }],
              containers: [{ name: 'first', image: 'busybox:1' }],
            },
          },
        },
      },
      'application/strategic-merge-patch+json',
    );
    assert.deepEqual(
      add.body.spec.template.spec.containers.map((x: Json) => x.name),
      ['first', 'main'],
    );
    const jp = await call(
      'PATCH',
      `${D}/api`,
      [
        { op: 'test', path: '/spec/replicas', value: 5 },
        { op: 'replace', path: '/spec/replicas', value: 1 },
      ],
      'application/json-patch+json',
    );
    assert.equal(jp.body.spec.replicas, 1);
    const failed = await call(
      'PATCH',
      `${D}/api`,
      [{ op: 'test', path: '/spec/replicas', value: 99 }],
      'application/json-patch+json',
    );
    assert.equal(failed.code, 422);
  },
);

test(
  'pods: binding sets the node; deleting a scheduled pod is graceful until the kubelet confirms',
  { skip },
  async () => {
    const P = '/api/v1/namespaces/default/pods';
    await call('POST', P, {
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    const b = await call('POST', `${P}/p/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'p' },
      target: { kind: 'Node', name: 'node-1' },
    });
    assert.equal(b.code, 201, JSON.stringify(b.body));
    const again = await call('POST', `${P}/p/binding`, {
      metadata: { name: 'p' },
      target: { name: 'node-2' },
    });
    assert.equal(again.code, 409);
    const bound = await call('GET', `${P}/p`);
    assert.equal(bound.body.spec.nodeName, 'node-1');
    assert.ok(
      bound.body.status.conditions.some((x: Json) => x.type === 'PodScheduled' && x.status === 'True'),
    );
    const onNode = await call('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1');
    assert.equal(onNode.body.items.length, 1);
    const del = await call('DELETE', `${P}/p`);
    assert.equal(del.code, 200);
    assert.ok(del.body.metadata.deletionTimestamp);
    assert.equal(del.body.metadata.deletionGracePeriodSeconds, 30);
    assert.equal((await call('GET', `${P}/p`)).code, 200);
    const gone = await call('DELETE', `${P}/p?gracePeriodSeconds=0`);
    assert.equal(gone.code, 200);
    assert.equal((await call('GET', `${P}/p`)).code, 404);
  },
);

test(
  'pods: an eviction deletes the pod with its options; dry runs and mismatched names change nothing',
  { skip },
  async () => {
    const P = '/api/v1/namespaces/default/pods';
    await call('POST', P, {
      metadata: { name: 'ev' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    const eviction = (name: string, deleteOptions?: Json): Json => ({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace: 'default' },
      ...(deleteOptions ? { deleteOptions } : {}),
    });
    const wrong = await call('POST', `${P}/ev/eviction`, eviction('other'));
    assert.equal(wrong.code, 400);
    assert.match(wrong.body.message, /name in URL does not match name in Eviction object/);
    const dry = await call('POST', `${P}/ev/eviction`, eviction('ev', { dryRun: ['All'] }));
    assert.equal(dry.code, 201, JSON.stringify(dry.body));
    assert.equal((await call('GET', `${P}/ev`)).code, 200);
    // The same rule holds for a DeleteOptions body on DELETE.
    const dryDel = await call('DELETE', `${P}/ev`, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      dryRun: ['All'],
    });
    assert.equal(dryDel.code, 200);
    assert.equal((await call('GET', `${P}/ev`)).code, 200);
    const bad = await call('POST', `${P}/ev/eviction`, eviction('ev', { dryRun: ['Some'] }));
    assert.equal(bad.code, 422);
    assert.equal((await call('GET', `${P}/ev`)).code, 200);
    const ok = await call('POST', `${P}/ev/eviction`, eviction('ev', { gracePeriodSeconds: 0 }));
    assert.equal(ok.code, 201);
    assert.equal(ok.body.status, 'Success');
    assert.equal((await call('GET', `${P}/ev`)).code, 404, 'an unscheduled pod goes at once');
    assert.equal((await call('POST', `${P}/ev/eviction`, eviction('ev'))).code, 404);
    assert.equal((await call('GET', `${P}/ev/eviction`)).code, 405);
    // Discovery names the subresource as kubectl drain looks for it.
    const v1 = await call('GET', '/api/v1');
    assert.deepEqual(
      v1.body.resources.find((r: Json) => r.name === 'pods/eviction'),
      {
        name: 'pods/eviction',
        singularName: '',
        namespaced: true,
        group: 'policy',
        version: 'v1',
        kind: 'Eviction',
        verbs: ['create'],
      },
    );
    const exec = v1.body.resources.find((r: Json) => r.name === 'pods/exec');
    assert.deepEqual([exec.kind, exec.verbs], ['PodExecOptions', ['create', 'get']]);
  },
);

test('finalizers hold an object; foreground and orphan deletion add their finalizers', { skip }, async () => {
  const C = '/api/v1/namespaces/default/configmaps';
  await call('POST', C, { metadata: { name: 'held', finalizers: ['example.com/hold'] } });
  const marked = await call('DELETE', `${C}/held`);
  assert.ok(marked.body.metadata.deletionTimestamp);
  assert.equal((await call('GET', `${C}/held`)).code, 200);
  // Nothing but removing finalizers may change a deleting object's deletion fields.
  const rm = await call(
    'PATCH',
    `${C}/held`,
    [{ op: 'remove', path: '/metadata/finalizers' }],
    'application/json-patch+json',
  );
  assert.equal(rm.code, 200);
  assert.equal((await call('GET', `${C}/held`)).code, 404);
  await call('POST', D, deployment('fg', 1));
  await call('DELETE', `${D}/fg`, {
    kind: 'DeleteOptions',
    apiVersion: 'v1',
    propagationPolicy: 'Foreground',
  });
  assert.deepEqual((await call('GET', `${D}/fg`)).body.metadata.finalizers, ['foregroundDeletion']);
  await call('POST', D, deployment('or', 1));
  await call('DELETE', `${D}/or?propagationPolicy=Orphan`);
  assert.deepEqual((await call('GET', `${D}/or`)).body.metadata.finalizers, ['orphan']);
  await call('POST', D, deployment('bg', 1));
  const bg = await call('DELETE', `${D}/bg`);
  assert.equal(bg.body.kind, 'Status');
  assert.equal(bg.body.status, 'Success');
  assert.equal((await call('GET', `${D}/bg`)).code, 404);
});

test('generateName, secrets stringData, services get a cluster IP and defaults', { skip }, async () => {
  const g = await call('POST', '/api/v1/namespaces/default/configmaps', {
    metadata: { generateName: 'gen-' },
  });
  assert.match(g.body.metadata.name, /^gen-[a-z0-9]{5}$/);
  const s = await call('POST', '/api/v1/namespaces/default/secrets', {
    metadata: { name: 's' },
    stringData: { pw: 'hunter2' },
  });
  assert.equal(s.body.data.pw, Buffer.from('hunter2').toString('base64'));
  assert.equal(s.body.stringData, undefined);
  assert.equal(s.body.type, 'Opaque');
  const svc = await call('POST', '/api/v1/namespaces/default/services', {
    metadata: { name: 'web' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  });
  assert.equal(svc.code, 201, JSON.stringify(svc.body));
  assert.match(svc.body.spec.clusterIP, /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
  assert.deepEqual(svc.body.spec.ports, [{ port: 80, protocol: 'TCP', targetPort: 80 }]);
  assert.equal(svc.body.spec.type, 'ClusterIP');
});

test(
  'a write that changes nothing keeps the resourceVersion (no new revision, no watch event)',
  { skip },
  async () => {
    const made = await call('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'same', labels: { a: 'b' } },
      data: { x: '1', y: '2' },
    });
    const rv = made.body.metadata.resourceVersion;
    // Same content with keys in another order, through PUT and through the status-less kinds' patch path.
    const put = await call('PUT', '/api/v1/namespaces/default/configmaps/same', {
      data: { y: '2', x: '1' },
      metadata: { labels: { a: 'b' }, name: 'same', resourceVersion: rv },
    });
    assert.equal(put.code, 200);
    assert.equal(put.body.metadata.resourceVersion, rv);
    const patch = await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/same',
      { data: { x: '1' } },
      'application/merge-patch+json',
    );
    assert.equal(patch.body.metadata.resourceVersion, rv);
    const st = await call('GET', `${D}/api`);
    const again = await call('PUT', `${D}/api/status`, st.body);
    assert.equal(again.body.metadata.resourceVersion, st.body.metadata.resourceVersion);
  },
);

test('events expire after --event-ttl through a store lease', { skip }, async () => {
  const { startApiServer } = await import('../../apiserver/testing.js');
  const short = await startApiServer(c.store.endpoint, ['--event-ttl', '2s']);
  try {
    const ev = (name: string): Json => ({
      metadata: { name },
      involvedObject: { kind: 'Pod', name: 'x', namespace: 'default' },
      reason: 'Test',
      message: 'm',
      type: 'Normal',
    });
    for (const n of ['e1', 'e2']) {
      const r = await fetch(`${short.url}/api/v1/namespaces/default/events`, {
        method: 'POST',
        body: JSON.stringify(ev(n)),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(r.status, 201);
    }
    // The key is attached to a store lease (the store, not a timer here, expires it).
    const kv = await run('etcdctl', [
      '--endpoints',
      c.store.endpoint,
      'get',
      '/registry/events/default/e1',
      '-w',
      'json',
    ]);
    assert.ok(Number(JSON.parse(kv.stdout).kvs[0].lease) !== 0, kv.stdout);
    await waitFor(
      'the events to expire',
      async () => (await call('GET', '/api/v1/namespaces/default/events')).body.items.length === 0,
      { timeoutMs: 20_000, intervalMs: 250 },
    );
  } finally {
    await short.stop();
  }
});

test(
  "a watch from before this apiserver's window but still in the store catches up from the store",
  { skip },
  async () => {
    const { startApiServer } = await import('../../apiserver/testing.js');
    const small = await startApiServer(c.store.endpoint, ['--watch-cache-size', '100']);
    try {
      const C = `${small.url}/api/v1/namespaces/default/configmaps`;
      const send = async (
        method: string,
        url: string,
        body: unknown,
        ct = 'application/json',
      ): Promise<Json> =>
        (await (
          await fetch(url, { method, body: JSON.stringify(body), headers: { 'Content-Type': ct } })
        ).json()) as Json;
      const start = await send('POST', C, { metadata: { name: 'old-rv' }, data: { i: '0' } });
      for (let i = 1; i <= 150; i++)
        await send('PATCH', `${C}/old-rv`, { data: { i: String(i) } }, 'application/merge-patch+json');
      const ac = new AbortController();
      const r = await fetch(
        `${C}?watch=true&fieldSelector=metadata.name%3Dold-rv&resourceVersion=${start.metadata.resourceVersion}`,
        { signal: ac.signal },
      );
      const seen: string[] = [];
      void (async () => {
        const dec = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
            buf += dec.decode(chunk, { stream: true });
            let i: number;
            while ((i = buf.indexOf('\n')) >= 0) {
              const ev = JSON.parse(buf.slice(0, i)) as Json;
              buf = buf.slice(i + 1);
              seen.push(`${ev.type} ${ev.type === 'ERROR' ? ev.object.code : ev.object.data.i}`);
            }
          }
        } catch {
          /* aborted */
        }
      })();
      await waitFor('the 150 changes from the store', () => seen.length >= 150, { timeoutMs: 20_000 });
      // Then live events from the shared window, with nothing lost or repeated at the hand-over.
      await send('PATCH', `${C}/old-rv`, { data: { i: 'live' } }, 'application/merge-patch+json');
      await waitFor('the live change', () => seen.includes('MODIFIED live'), { timeoutMs: 20_000 });
      ac.abort();
      assert.deepEqual(seen, [
        ...Array.from({ length: 150 }, (_, i) => `MODIFIED ${i + 1}`),
        'MODIFIED live',
      ]);
    } finally {
      await small.stop();
    }
  },
);
