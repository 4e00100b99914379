// The @kubernetes/client-node library against bin/apiserver: typed CRUD, patch, an informer, a watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type * as K8s from '@kubernetes/client-node';
import { hasCommand, waitFor, ROOT } from '../support/index.js';
import { startCluster, type Cluster } from '../../apiserver/testing.js';

// The project pins client-node 1.x, which loads on Node 20 (2.x needs undici 8 and Node >= 22.19). Probe the
// import in a child process so a failed load cannot leave stray rejections in this one, and skip with the
// reason when it does not load.
const probe = spawnSync(
  process.execPath,
  ['--input-type=module', '-e', "await import('@kubernetes/client-node')"],
  { cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
);
const loadError =
  probe.status === 0
    ? ''
    : `@kubernetes/client-node does not load on Node ${process.versions.node}: ${probe.stderr.split('\n')[0]}`;
const k8s: typeof K8s = loadError ? (undefined as never) : await import('@kubernetes/client-node');
const skip = (!hasCommand('etcd') && 'etcd is not installed') || loadError || false;
let c: Cluster;
let kc: K8s.KubeConfig;

before(async () => {
  if (skip) return;
  c = await startCluster();
  kc = new k8s.KubeConfig();
  kc.loadFromFile(c.kubeconfig);
  // The API server speaks plain HTTP for now; client-node 1.x refuses http:// unless TLS checks are off.
  kc.loadFromOptions({
    clusters: kc.clusters.map((cl) => ({ ...cl, skipTLSVerify: true })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
});
after(async () => {
  if (c) await c.stop();
});

const deployment = (name: string, replicas: number): K8s.V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] },
    },
  },
});

test('typed create, read, list with selectors, replace, patch, delete', { skip }, async () => {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const made = await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('api', 2) });
  assert.equal(made.metadata?.generation, 1);
  assert.equal(made.spec?.strategy?.type, 'RollingUpdate');
  const got = await apps.readNamespacedDeployment({ name: 'api', namespace: 'default' });
  assert.equal(got.metadata?.uid, made.metadata?.uid);
  got.spec!.replicas = 4;
  const replaced = await apps.replaceNamespacedDeployment({ name: 'api', namespace: 'default', body: got });
  assert.equal(replaced.spec?.replicas, 4);
  assert.equal(replaced.metadata?.generation, 2);
  const patched = await apps.patchNamespacedDeployment(
    {
      name: 'api',
      namespace: 'default',
      body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'nginx:1.28' }] } } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
  assert.equal(patched.spec?.template.spec?.containers.length, 1);
  assert.equal(patched.spec?.template.spec?.containers[0].image, 'nginx:1.28');
  // Status is a subresource: writing it through the main resource changes nothing, through /status it sticks.
  const st = await apps.replaceNamespacedDeploymentStatus({
    name: 'api',
    namespace: 'default',
    body: { ...patched, status: { replicas: 4, readyReplicas: 1, observedGeneration: 3 } },
  });
  assert.equal(st.status?.readyReplicas, 1);
  assert.equal(st.metadata?.generation, patched.metadata?.generation);
  await core.createNamespacedConfigMap({
    namespace: 'default',
    body: { metadata: { name: 'a', labels: { tier: 'x' } }, data: { k: 'v' } },
  });
  await core.createNamespacedConfigMap({
    namespace: 'default',
    body: { metadata: { name: 'b', labels: { tier: 'y' } } },
  });
  const list = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'tier=x' });
  assert.deepEqual(
    list.items.map((i) => i.metadata?.name),
    ['a'],
  );
  const byName = await core.listNamespacedConfigMap({
    namespace: 'default',
    fieldSelector: 'metadata.name=b',
  });
  assert.deepEqual(
    byName.items.map((i) => i.metadata?.name),
    ['b'],
  );
  await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'default' });
  await assert.rejects(
    core.readNamespacedConfigMap({ name: 'a', namespace: 'default' }),
    (e: unknown) => (e as { code?: number }).code === 404,
  );
  const scale = await apps.readNamespacedDeploymentScale({ name: 'api', namespace: 'default' });
  assert.equal(scale.spec?.replicas, 4);
  assert.equal(scale.status?.selector, 'app=api');
});

test('pods: binding, graceful deletion, and the kubelet confirming with grace 0', { skip }, async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedPod({
    namespace: 'default',
    body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
  });
  await core.createNamespacedPodBinding({
    name: 'p',
    namespace: 'default',
    body: { metadata: { name: 'p' }, target: { kind: 'Node', name: 'node-1' } },
  });
  const bound = await core.readNamespacedPod({ name: 'p', namespace: 'default' });
  assert.equal(bound.spec?.nodeName, 'node-1');
  assert.ok(bound.status?.conditions?.some((x) => x.type === 'PodScheduled' && x.status === 'True'));
  const onNode = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-1' });
  assert.equal(onNode.items.length, 1);
  // A scheduled pod is marked, not removed: its node's kubelet confirms.
  await core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
  const marked = await core.readNamespacedPod({ name: 'p', namespace: 'default' });
  assert.ok(marked.metadata?.deletionTimestamp);
  assert.equal(marked.metadata?.deletionGracePeriodSeconds, 30);
  await core.deleteNamespacedPod({ name: 'p', namespace: 'default', gracePeriodSeconds: 0 });
  await assert.rejects(core.readNamespacedPod({ name: 'p', namespace: 'default' }));
});

test(
  'finalizers hold an object until removed; foreground and orphan deletion add theirs',
  { skip },
  async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } },
    });
    await core.deleteNamespacedConfigMap({ name: 'held', namespace: 'default' });
    const marked = await core.readNamespacedConfigMap({ name: 'held', namespace: 'default' });
    assert.ok(marked.metadata?.deletionTimestamp);
    await core.patchNamespacedConfigMap(
      { name: 'held', namespace: 'default', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    await assert.rejects(core.readNamespacedConfigMap({ name: 'held', namespace: 'default' }));
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('fg', 1) });
    await apps.deleteNamespacedDeployment({
      name: 'fg',
      namespace: 'default',
      propagationPolicy: 'Foreground',
    });
    assert.deepEqual(
      (await apps.readNamespacedDeployment({ name: 'fg', namespace: 'default' })).metadata?.finalizers,
      ['foregroundDeletion'],
    );
    await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('or', 1) });
    await apps.deleteNamespacedDeployment({ name: 'or', namespace: 'default', propagationPolicy: 'Orphan' });
    assert.deepEqual(
      (await apps.readNamespacedDeployment({ name: 'or', namespace: 'default' })).metadata?.finalizers,
      ['orphan'],
    );
  },
);

test('an informer lists then watches and sees adds, updates and deletes', { skip }, async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () =>
    core.listNamespacedConfigMap({ namespace: 'default' }),
  );
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  await informer.start();
  try {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'inf' } } });
    await core.patchNamespacedConfigMap(
      { name: 'inf', namespace: 'default', body: { data: { a: '1' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'inf', namespace: 'default' });
    await waitFor('informer events', () => seen.includes('delete inf'), { timeoutMs: 20_000 });
    assert.deepEqual(
      seen.filter((s) => s.endsWith(' inf')),
      ['add inf', 'update inf', 'delete inf'],
    );
    assert.ok(informer.list('default').every((o) => o.metadata?.name !== 'inf'));
  } finally {
    await informer.stop();
  }
});
