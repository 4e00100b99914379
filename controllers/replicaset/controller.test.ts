// Tests for the ReplicaSet controller against the fake API server: it creates exactly the missing pods,
// and its expectations stop a second sync on a lagging cache from creating them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, ReplicaSet } from '../../apimachinery/index.js';
import { KubeClient } from '../../apimachinery/client.js';
import { Logger } from '../../common/index.js';
import { EventRecorder } from '../events.js';
import { SharedInformerFactory } from '../informer.js';
import { FakeApi } from '../testing/fakeapi.js';
import { ReplicaSetController, slowStartBatch } from './controller.js';

const RS_PATH = 'apis/apps/v1/namespaces/default/replicasets';
const quiet = new Logger('test', 'error');

function rs(replicas: number): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'default', uid: 'rs-uid', generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

async function setup(replicas: number) {
  const api = new FakeApi();
  await api.start();
  api.put(RS_PATH, rs(replicas), 'ADDED');
  const client = new KubeClient({ server: api.url });
  const informers = new SharedInformerFactory(client, { logger: quiet });
  const recorder = new EventRecorder(client, 'replicaset-controller', '', quiet);
  const c = new ReplicaSetController({ client, informers, recorder, logger: quiet });
  informers.start();
  await informers.waitForSync();
  const pods = () =>
    [...api.objects.keys()].filter((k) => k.startsWith('api/v1/namespaces/default/pods/')).length;
  const stop = async () => {
    c.stop();
    await recorder.stop();
    await informers.stop();
    client.close();
    await api.stop();
  };
  return { api, c, pods, stop };
}

test('creates the missing pods, owned by the ReplicaSet', async () => {
  const { api, c, pods, stop } = await setup(5);
  try {
    await c.sync('default/web');
    assert.equal(pods(), 5);
    const p = [...api.objects.values()].find((o) => o.kind === 'Pod') as Pod;
    assert.equal(p.metadata.ownerReferences?.[0]?.uid, 'rs-uid');
    assert.equal(p.metadata.ownerReferences?.[0]?.controller, true);
    assert.equal(p.metadata.labels?.app, 'web');
  } finally {
    await stop();
  }
});

test('expectations: a second sync on a lagging cache does not over-create', async () => {
  const { api, c, pods, stop } = await setup(5);
  try {
    api.holdWatches = true; // the informer will not see the new pods yet
    await c.sync('default/web');
    await c.sync('default/web');
    assert.equal(pods(), 5, 'no duplicates while the creations are unobserved');
    api.releaseWatches();
    const deadline = Date.now() + 5000;
    while (!c.expectations.satisfied('default/web') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    await c.sync('default/web');
    assert.equal(pods(), 5);

    // Without expectations the same lag would double the pods: the guard is what holds the line.
    api.holdWatches = true;
    api.put(
      RS_PATH,
      { ...(api.objects.get(`${RS_PATH}/web`) as ReplicaSet), spec: { ...rs(8).spec } },
      'MODIFIED',
    );
    api.releaseWatches();
    while ((c as any).rsInformer.get('default/web')?.spec.replicas !== 8)
      await new Promise((r) => setTimeout(r, 10));
    api.holdWatches = true;
    await c.sync('default/web');
    c.expectations.delete('default/web');
    await c.sync('default/web');
    assert.equal(pods(), 11, 'with expectations forgotten, the stale cache over-creates');
    api.releaseWatches();
  } finally {
    await stop();
  }
});

test('slow start: batches double and stop at the first failing batch', async () => {
  const sizes: number[] = [];
  let calls = 0;
  const r = await slowStartBatch(20, 1, async (i) => {
    calls++;
    if (i === 5) throw new Error('quota');
  });
  sizes.push(calls);
  // Batches 1, 2, 4 (indices 0..6) run; index 5 fails in the third batch, so 7 calls and 6 successes.
  assert.equal(calls, 7);
  assert.equal(r.done, 6);
  assert.ok(r.error);
});
