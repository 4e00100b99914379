// Real kubectl 1.32, unchanged, against bin/apiserver on a real store: the commands users type.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, waitFor, startProcess } from '../support/index.js';
import { startCluster, type Cluster } from '../../apiserver/testing.js';

const skip = (!hasCommand('kubectl') || !hasCommand('etcd')) && 'kubectl or etcd is not installed';
let c: Cluster;

const DEPLOY = (image: string, replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports:
        - containerPort: 80
`;

before(async () => {
  if (skip) return;
  c = await startCluster();
});
after(async () => {
  if (c) await c.stop();
});

async function ok(args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await c.kubectl(args, { input, env });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

test('discovery: api-resources, explain, get --raw, version', { skip }, async () => {
  const res = await ok(['api-resources']);
  for (const line of [
    /^pods\s+po\s+v1\s+true\s+Pod$/m,
    /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m,
    /^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease$/m,
    /^nodes\s+no\s+v1\s+false\s+Node$/m,
  ]) {
    assert.match(res, line);
  }
  const ex = await ok(['explain', 'deployment.spec.replicas']);
  assert.match(ex, /FIELD: replicas <integer>/);
  const raw = JSON.parse(await ok(['get', '--raw', '/api/v1/namespaces/kube-system']));
  assert.equal(raw.metadata.name, 'kube-system');
  assert.match(await ok(['version']), /Server Version: v1\.32/);
  // Aggregated discovery (what kubectl asks for first): one document per root.
  const agg = await fetch(`${c.url}/apis`, {
    headers: {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    },
  });
  assert.match(agg.headers.get('content-type') ?? '', /as=APIGroupDiscoveryList/);
  const groups = ((await agg.json()) as { items: { metadata: { name: string } }[] }).items.map(
    (g) => g.metadata.name,
  );
  assert.deepEqual(groups.sort(), ['apps', 'coordination.k8s.io']);
  const plain = (await (await fetch(`${c.url}/apis`)).json()) as { kind: string };
  assert.equal(plain.kind, 'APIGroupList');
});

test('apply -f creates, then configures after an edit, and reports unchanged', { skip }, async () => {
  assert.match(await ok(['apply', '-f', '-'], DEPLOY('nginx:1.25', 2)), /deployment.apps\/web created/);
  assert.match(await ok(['apply', '-f', '-'], DEPLOY('nginx:1.26', 3)), /deployment.apps\/web configured/);
  assert.match(await ok(['apply', '-f', '-'], DEPLOY('nginx:1.26', 3)), /deployment.apps\/web unchanged/);
  const d = JSON.parse(await ok(['get', 'deployment', 'web', '-o', 'json']));
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.spec.template.spec.containers[0].image, 'nginx:1.26');
  assert.equal(d.metadata.generation, 2);
  // Defaults kubectl and controllers rely on.
  assert.deepEqual(d.spec.strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
  });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  assert.equal(d.spec.template.spec.restartPolicy, 'Always');
  assert.equal(d.spec.template.spec.containers[0].ports[0].protocol, 'TCP');
  assert.equal(d.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal(d.spec.template.spec.schedulerName, 'default-scheduler');
  assert.ok(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
});

test(
  'get: tables with the columns kubectl shows, -o wide/yaml/json/name, -l, -A, get all',
  { skip },
  async () => {
    const table = await ok(['get', 'deployments']);
    assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
    assert.match(table, /^web\s+0\/3\s+0\s+0\s+\d+s$/m);
    const wide = await ok(['get', 'deploy', '-o', 'wide']);
    assert.match(wide, /CONTAINERS\s+IMAGES\s+SELECTOR/);
    assert.match(wide, /nginx\s+nginx:1\.26\s+app=web/);
    assert.match(await ok(['get', 'deploy', 'web', '-o', 'yaml']), /^kind: Deployment$/m);
    assert.equal((await ok(['get', 'deploy', '-o', 'name'])).trim(), 'deployment.apps/web');
    await ok(
      ['create', '-f', '-'],
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p1, labels: {app: a}}\nspec:\n  containers: [{name: c, image: busybox}]\n',
    );
    await ok(
      ['create', '-f', '-'],
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p2, namespace: kube-system, labels: {app: b}}\nspec:\n  containers: [{name: c, image: busybox}]\n',
    );
    const pods = await ok(['get', 'pods']);
    assert.match(pods, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(pods, /^p1\s+0\/1\s+Pending\s+0\s+\d+s$/m);
    assert.match(
      await ok(['get', 'pods', '-o', 'wide']),
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/m,
    );
    const all = await ok(['get', 'pods', '-A', '-l', 'app in (a,b)']);
    assert.match(all, /^default\s+p1\s/m);
    assert.match(all, /^kube-system\s+p2\s/m);
    assert.doesNotMatch(await ok(['get', 'pods', '-A', '-l', 'app!=b']), /p2/);
    const everything = await ok(['get', 'all']);
    assert.match(everything, /pod\/p1/);
    assert.match(everything, /deployment.apps\/web/);
  },
);

test('scale, label, annotate, edit', { skip }, async () => {
  assert.match(await ok(['scale', 'deployment', 'web', '--replicas=5']), /scaled/);
  assert.match(await ok(['label', 'deployment', 'web', 'tier=front']), /labeled/);
  assert.match(await ok(['annotate', 'deployment', 'web', 'note=hello']), /annotated/);
  const d = JSON.parse(await ok(['get', 'deploy', 'web', '-o', 'json']));
  assert.equal(d.spec.replicas, 5);
  assert.equal(d.metadata.labels.tier, 'front');
  assert.equal(d.metadata.annotations.note, 'hello');
  assert.match(await ok(['get', 'deploy', '-l', 'tier=front', '-o', 'name']), /deployment.apps\/web/);
  const editor = join(c.dir, 'editor.sh');
  writeFileSync(editor, '#!/bin/sh\nsed -i "s/image: busybox$/image: busybox:1.36/" "$1"\n');
  chmodSync(editor, 0o755);
  assert.match(
    await ok(['edit', 'pod', 'p1'], undefined, { EDITOR: editor, KUBE_EDITOR: editor }),
    /pod\/p1 edited/,
  );
  assert.equal(await ok(['get', 'pod', 'p1', '-o', 'jsonpath={.spec.containers[0].image}']), 'busybox:1.36');
});

test('apply --server-side: create, update, conflict with another manager, force', { skip }, async () => {
  const cm = (data: string): string =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {${data}}\n`;
  assert.match(
    await ok(['apply', '--server-side', '-f', '-'], cm('a: "1", b: "2"')),
    /configmap\/cfg serverside-applied/,
  );
  await ok(['apply', '--server-side', '-f', '-'], cm('b: "3"'));
  const got = JSON.parse(await ok(['get', 'cm', 'cfg', '-o', 'json', '--show-managed-fields']));
  // A field the manager stopped applying is removed; the applied one changed.
  assert.deepEqual(got.data, { b: '3' });
  assert.ok(
    got.metadata.managedFields.some(
      (m: { manager: string; operation: string }) => m.manager === 'kubectl' && m.operation === 'Apply',
    ),
  );
  // replicas is owned by the scale above: applying a different value conflicts until forced.
  const r = await c.kubectl(['apply', '--server-side', '-f', '-'], { input: DEPLOY('nginx:1.26', 2) });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Apply failed with \d+ conflicts?: conflict with "[^"]+"/);
  assert.match(r.stderr, /\.spec\.replicas/);
  await ok(['apply', '--server-side', '--force-conflicts', '-f', '-'], DEPLOY('nginx:1.26', 2));
  assert.equal(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}']), '2');
});

test('describe deployment, pod and node list their events', { skip }, async () => {
  const d = JSON.parse(await ok(['get', 'deploy', 'web', '-o', 'json']));
  const event = (
    name: string,
    kind: string,
    apiVersion: string,
    obj: { metadata: { name: string; namespace?: string; uid: string } },
    reason: string,
    ns = 'default',
  ): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        kind,
        apiVersion,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
      },
      reason,
      message: `${reason} happened`,
      type: 'Normal',
      source: { component: 'test' },
      firstTimestamp: new Date().toISOString().replace(/\.\d+Z/, 'Z'),
      lastTimestamp: new Date().toISOString().replace(/\.\d+Z/, 'Z'),
      count: 1,
    });
  await ok(['create', '-f', '-'], event('web.1', 'Deployment', 'apps/v1', d, 'ScalingReplicaSet'));
  const dd = await ok(['describe', 'deployment', 'web']);
  assert.match(dd, /Replicas:\s+2 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable/);
  assert.match(dd, /RollingUpdateStrategy:\s+25% max unavailable, 25% max surge/);
  assert.match(dd, /Normal\s+ScalingReplicaSet\s+.*ScalingReplicaSet happened/);
  const p = JSON.parse(await ok(['get', 'pod', 'p1', '-o', 'json']));
  await ok(['create', '-f', '-'], event('p1.1', 'Pod', 'v1', p, 'Scheduled'));
  assert.match(await ok(['describe', 'pod', 'p1']), /Normal\s+Scheduled\s+.*Scheduled happened/);
  await ok(
    ['create', '-f', '-'],
    'apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {kubernetes.io/hostname: n1}}\nstatus:\n  conditions: [{type: Ready, status: "True"}]\n  capacity: {cpu: "4", memory: 8Gi, pods: "110"}\n  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}\n',
  );
  const n = JSON.parse(await ok(['get', 'node', 'n1', '-o', 'json']));
  await ok(['create', '-f', '-'], event('n1.1', 'Node', 'v1', n, 'NodeReady'));
  const dn = await ok(['describe', 'node', 'n1']);
  assert.match(dn, /Name:\s+n1/);
  assert.match(dn, /NodeReady/);
  assert.match(await ok(['get', 'nodes']), /^n1\s+Ready\s+<none>\s+\d+s\s*/m);
});

test(
  'kubectl create generators (protobuf bodies): configmap, secret, namespace, deployment, service',
  { skip },
  async () => {
    assert.match(
      await ok(['create', 'configmap', 'gen-cm', '--from-literal=a=1', '--from-literal=b=2']),
      /configmap\/gen-cm created/,
    );
    assert.deepEqual(JSON.parse(await ok(['get', 'cm', 'gen-cm', '-o', 'json'])).data, { a: '1', b: '2' });
    assert.match(
      await ok(['create', 'secret', 'generic', 'gen-s', '--from-literal=pw=hunter2']),
      /secret\/gen-s created/,
    );
    assert.equal(
      JSON.parse(await ok(['get', 'secret', 'gen-s', '-o', 'json'])).data.pw,
      Buffer.from('hunter2').toString('base64'),
    );
    assert.match(await ok(['create', 'namespace', 'gen-ns']), /namespace\/gen-ns created/);
    assert.match(
      await ok(['create', 'deployment', 'gen-d', '--image=nginx:1.27', '--port=80', '--replicas=2']),
      /deployment.apps\/gen-d created/,
    );
    const d = JSON.parse(await ok(['get', 'deploy', 'gen-d', '-o', 'json']));
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector, { matchLabels: { app: 'gen-d' } });
    assert.equal(d.spec.template.spec.containers[0].ports[0].containerPort, 80);
    assert.match(
      await ok(['create', 'service', 'clusterip', 'gen-svc', '--tcp=80:8080']),
      /service\/gen-svc created/,
    );
    const svc = JSON.parse(await ok(['get', 'svc', 'gen-svc', '-o', 'json']));
    assert.deepEqual(svc.spec.ports, [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }]);
    assert.match(
      await ok(['get', 'svc', 'gen-svc']),
      /^gen-svc\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m,
    );
    assert.match(await ok(['run', 'gen-pod', '--image=busybox', '--labels=a=b']), /pod\/gen-pod created/);
    await ok(['delete', 'deploy', 'gen-d']);
    await ok(['delete', 'pod', 'gen-pod']);
  },
);

test('get -w streams changes as table rows', { skip }, async () => {
  const w = startProcess(
    'kubectl',
    ['--kubeconfig', c.kubeconfig, 'get', 'configmaps', '-w', '--output-watch-events'],
    { env: { HOME: c.dir } },
  );
  try {
    await waitFor('the watch to list cfg', () => /ADDED\s+cfg/.test(w.output()), { timeoutMs: 20_000 });
    // create -f (not `create configmap`, whose typed client sends protobuf, which we answer with 415).
    await ok(
      ['create', '-f', '-'],
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {k: v}\n',
    );
    await waitFor('ADDED watched', () => /ADDED\s+watched\s+1/.test(w.output()), { timeoutMs: 20_000 });
    await ok(['delete', 'configmap', 'watched']);
    await waitFor('DELETED watched', () => /DELETED\s+watched/.test(w.output()), { timeoutMs: 20_000 });
  } finally {
    await w.kill();
  }
});

test('delete -f and delete KIND NAME', { skip }, async () => {
  assert.match(await ok(['delete', '-f', '-'], DEPLOY('nginx:1.26', 2)), /deployment.apps "web" deleted/);
  assert.match(await ok(['delete', 'pod', 'p1']), /pod "p1" deleted/);
  const r = await c.kubectl(['get', 'deploy', 'web']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /deployments.apps "web" not found/);
});

test(
  'auth can-i and auth whoami (protobuf reviews) say that every request is allowed',
  { skip },
  async () => {
    assert.equal((await ok(['auth', 'can-i', 'create', 'pods'])).trim(), 'yes');
    assert.equal((await ok(['auth', 'can-i', 'delete', 'nodes', '--all-namespaces'])).trim(), 'yes');
    assert.equal((await ok(['auth', 'can-i', 'get', '/healthz'])).trim(), 'yes');
    assert.match(await ok(['auth', 'can-i', '--list']), /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
    assert.match(await ok(['auth', 'whoami']), /^Username\s+system:anonymous$/m);
    // A review names resource attributes or non-resource attributes, not neither.
    const r = await fetch(`${c.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {},
      }),
    });
    assert.equal(r.status, 422);
    assert.match(
      ((await r.json()) as { message: string }).message,
      /exactly one of nonResourceAttributes or/,
    );
  },
);

test('logs, exec and port-forward say why a simulated container has none', { skip }, async () => {
  await ok(['run', 'sim', '--image=busybox']);
  // port-forward first checks that the pod runs; with no scheduler or node-agent here, say it does.
  await ok([
    'patch',
    'pod',
    'sim',
    '--subresource=status',
    '--type=merge',
    '-p',
    '{"status":{"phase":"Running"}}',
  ]);
  for (const args of [
    ['logs', 'sim'],
    ['exec', 'sim', '--', 'ls'],
    ['port-forward', 'pod/sim', ':80'],
  ]) {
    const r = await c.kubectl(args);
    assert.notEqual(r.code, 0);
    const what = args[0] === 'logs' ? 'logs' : args[0] === 'exec' ? 'exec' : 'portforward';
    assert.match(
      r.stderr,
      new RegExp(`pod "sim": no ${what}: its containers are simulated by the node-agent`),
    );
  }
  const missing = await c.kubectl(['exec', 'nosuch', '--', 'ls']);
  assert.match(missing.stderr, /pods "nosuch" not found/);
});
