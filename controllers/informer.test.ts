// Tests for the Informer and the API client against an in-memory fake API server: list then watch,
// indexes, resuming after a broken watch, re-listing after 410 Gone, and handler delivery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../apimachinery/index.js';
import { KubeClient, Resources } from '../apimachinery/client.js';
import { Logger } from '../common/index.js';
import { Informer, NamespaceIndex, NodeIndex, OwnerIndex } from './informer.js';
import { FakeApi } from './testing/fakeapi.js';

const quiet = new Logger('test', 'error');

function pod(name: string, ns = 'default', node?: string, owner?: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      ...(owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: owner, controller: true },
            ],
          }
        : {}),
    },
    spec: { containers: [{ name: 'c' }], ...(node ? { nodeName: node } : {}) },
  };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('informer lists, watches, indexes and survives broken watches and 410 Gone', async () => {
  const api = new FakeApi();
  await api.start();
  const client = new KubeClient({ server: api.url });
  const inf = new Informer<Pod>(client, Resources.pods, { logger: quiet });
  const seen: string[] = [];
  inf.addEventHandlers({
    onAdd: (p) => seen.push(`add ${p.metadata.name}`),
    onUpdate: (o, p) =>
      o.metadata.resourceVersion !== p.metadata.resourceVersion && seen.push(`update ${p.metadata.name}`),
    onDelete: (p) => seen.push(`delete ${p.metadata.name}`),
  });
  try {
    api.put('api/v1/namespaces/default/pods', pod('a', 'default', 'n1', 'o1'), 'ADDED');
    api.put('api/v1/namespaces/other/pods', pod('b', 'other', 'n2'), 'ADDED');
    inf.start();
    await inf.waitForSync();
    assert.equal(inf.size, 2);
    assert.deepEqual(
      inf.byIndex(NamespaceIndex, 'other').map((p) => p.metadata.name),
      ['b'],
    );
    assert.deepEqual(
      inf.byIndex(NodeIndex, 'n1').map((p) => p.metadata.name),
      ['a'],
    );
    assert.deepEqual(
      inf.byIndex(OwnerIndex, 'o1').map((p) => p.metadata.name),
      ['a'],
    );

    // Watch events flow into the cache and indexes.
    api.put('api/v1/namespaces/default/pods', pod('c', 'default', 'n1'), 'ADDED');
    api.put('api/v1/namespaces/default/pods', pod('a', 'default', 'n2', 'o1'), 'MODIFIED');
    await until('watch events', () => inf.size === 3 && inf.byIndex(NodeIndex, 'n2').length === 2);
    assert.deepEqual(
      inf.byIndex(NodeIndex, 'n1').map((p) => p.metadata.name),
      ['c'],
    );

    // A broken watch resumes from the last resourceVersion without a re-list, missing nothing.
    const relists = inf.relists;
    api.breakWatches();
    api.put('api/v1/namespaces/default/pods', pod('d'), 'ADDED');
    await until('event after reconnect', () => inf.get('default/d') !== undefined);
    assert.equal(inf.relists, relists, 'resumed, not re-listed');

    // History compacted while disconnected: the watch gets 410 and the informer re-lists; a delete that
    // happened in the gap is noticed through the list.
    api.breakWatches();
    const cur = api.objects.get('api/v1/namespaces/default/pods/c')!;
    api.put('api/v1/namespaces/default/pods', cur, 'DELETED');
    api.compact();
    api.breakWatches();
    await until(
      're-list after 410',
      () => inf.relists > relists && inf.get('default/c') === undefined,
      10_000,
    );
    assert.ok(seen.includes('delete c'));
    assert.ok(seen.includes('update a'));
    assert.ok(inf.byIndex(NodeIndex, 'n1').length === 0, 'index cleaned on delete');
  } finally {
    await inf.stop();
    client.close();
    await api.stop();
  }
});

test('client maps error responses to Status values and supports create/update conflicts', async () => {
  const api = new FakeApi();
  await api.start();
  const client = new KubeClient({ server: api.url });
  try {
    const created = await client.create(Resources.pods, pod('x'));
    assert.ok(created.ok);
    const again = await client.create(Resources.pods, pod('x'));
    assert.ok(!again.ok && again.status.code === 409 && again.status.reason === 'AlreadyExists');
    const stale = await client.update(Resources.pods, {
      ...created.value,
      metadata: { ...created.value.metadata, resourceVersion: '1' },
    });
    assert.ok(!stale.ok && stale.status.reason === 'Conflict');
    const missing = await client.get(Resources.pods, 'nope', 'default');
    assert.ok(!missing.ok && missing.status.code === 404);
    const list = await client.list(Resources.pods, { namespace: 'default' });
    assert.ok(list.ok && list.value.items.length === 1);
    const del = await client.delete(Resources.pods, 'x', {
      namespace: 'default',
      propagationPolicy: 'Background',
    });
    assert.ok(del.ok);
    const dead = new KubeClient({ server: 'http://127.0.0.1:1', timeoutMs: 2000 });
    const down = await dead.get(Resources.pods, 'x', 'default');
    assert.ok(!down.ok && down.status.code === 503, 'transport errors are Status values too');
    dead.close();
  } finally {
    client.close();
    await api.stop();
  }
});

test('watch stream yields events and close() ends iteration', async () => {
  const api = new FakeApi();
  await api.start();
  const client = new KubeClient({ server: api.url });
  try {
    const w = await client.watch<Pod>(Resources.pods, { namespace: 'default', resourceVersion: '0' });
    assert.ok(w.ok);
    api.put('api/v1/namespaces/default/pods', pod('p1'), 'ADDED');
    const names: string[] = [];
    for await (const ev of w.value) {
      names.push(`${ev.type} ${(ev.object as Pod).metadata.name}`);
      if (names.length === 1) api.put('api/v1/namespaces/default/pods', pod('p2'), 'ADDED');
      if (names.length === 2) w.value.close();
    }
    assert.deepEqual(names, ['ADDED p1', 'ADDED p2']);
  } finally {
    client.close();
    await api.stop();
  }
});
