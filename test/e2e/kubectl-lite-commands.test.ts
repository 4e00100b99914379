// kubectl-lite against a cluster from bin/cluster, side by side with real kubectl on the same objects:
// the same write messages, table headers, -o name lines and error texts; plus the verbs' behaviour
// (apply three-way merge, server-side apply, delete cascades, scale, rollout, edit, get -w, logs) and
// the store teaching commands.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, ROOT, startProcess, BIN, tempDir, waitFor } from '../support/index.js';
import { startTestCluster, type TestCluster } from '../../cluster/testing.js';

const skip = !hasCommand('kubectl') && 'kubectl is not installed';
let c: TestCluster;

before(async () => {
  if (skip) return;
  c = await startTestCluster();
});
after(async () => {
  await c?.remove();
});

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const header = (s: string) => s.split('\n')[0]!.split(/\s{2,}/);
const firstCol = (s: string) =>
  s
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/)[0])
    .sort();

test('apply, get, describe, scale and rollout match kubectl', { skip, timeout: 120_000 }, async () => {
  const applied = await ok(c.kubectlLite(['apply', '-f', 'manifests/']));
  assert.equal(
    applied,
    'namespace/demo created\nconfigmap/web-config created\ndeployment.apps/web created\nservice/web created\n',
  );
  // Real kubectl reads our last-applied annotation: nothing to change.
  assert.match(await ok(c.kubectl(['apply', '-f', 'manifests/'])), /deployment.apps\/web unchanged/);
  assert.equal(
    await ok(c.kubectlLite(['apply', '-f', 'manifests/'])),
    applied.replaceAll('created', 'unchanged'),
  );
  await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s']));

  for (const args of [
    ['get', 'deploy', '-n', 'demo'],
    ['get', 'rs', '-n', 'demo'],
    ['get', 'po', '-n', 'demo', '-o', 'wide'],
    ['get', 'svc', '-n', 'demo'],
    ['get', 'cm', '-A'],
    ['get', 'no'],
    ['get', 'ns'],
  ]) {
    const mine = await ok(c.kubectlLite(args));
    const theirs = await ok(c.kubectl(args));
    assert.deepEqual(header(mine), header(theirs), `header of ${args.join(' ')}`);
    assert.deepEqual(firstCol(mine), firstCol(theirs), `rows of ${args.join(' ')}`);
  }
  for (const args of [
    ['get', 'pods', '-n', 'demo', '-o', 'name'],
    ['get', 'deployments.apps', 'web', '-n', 'demo', '-o', 'name'],
  ]) {
    assert.equal(
      (await ok(c.kubectlLite(args))).split('\n').sort().join('\n'),
      (await ok(c.kubectl(args))).split('\n').sort().join('\n'),
    );
  }
  const asJson = JSON.parse(await ok(c.kubectlLite(['get', 'deploy', 'web', '-n', 'demo', '-o', 'json'])));
  assert.equal(asJson.kind, 'Deployment');
  assert.equal(asJson.spec.replicas, 3);
  const list = await ok(c.kubectlLite(['get', 'pods', '-n', 'demo', '-l', 'app=web', '-o', 'yaml']));
  assert.match(list, /^apiVersion: v1\nitems:/);
  assert.match(list, /kind: List/);

  const described = await ok(c.kubectlLite(['describe', 'deployment', 'web', '-n', 'demo']));
  assert.match(described, /^Name:\s+web$/m);
  assert.match(described, /^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable$/m);
  assert.match(
    described,
    /Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set web-/,
  );

  assert.equal(
    await ok(c.kubectlLite(['scale', 'deploy', 'web', '-n', 'demo', '--replicas=4'])),
    await ok(c.kubectl(['scale', 'deploy', 'web', '-n', 'demo', '--replicas=4'])),
  );
  assert.match(
    await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'status', 'deploy/web', '--timeout=60s'])),
    /deployment "web" successfully rolled out\n$/,
  );
  await ok(c.kubectlLite(['apply', '-f', 'manifests/v2/deployment.yaml']));
  await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'status', 'deploy/web', '--timeout=60s']));
  const history = await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'history', 'deploy/web']));
  assert.match(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
  assert.equal(
    await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'undo', 'deploy/web'])),
    'deployment.apps/web rolled back\n',
  );
  await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'status', 'deploy/web', '--timeout=60s']));
  const image = JSON.parse(await ok(c.kubectl(['get', 'deploy', 'web', '-n', 'demo', '-o', 'json']))).spec
    .template.spec.containers[0].image;
  assert.equal(image, 'nginx:1.25');
});

test('errors are kubectl’s, with its exit codes', { skip, timeout: 60_000 }, async () => {
  await ok(c.kubectlLite(['apply', '-f', 'manifests/00-namespace.yaml']));
  const dir = join(ROOT, 'manifests/invalid');
  for (const f of readdirSync(dir)) {
    const path = `manifests/invalid/${f}`;
    const mine = await c.kubectlLite(['apply', '-f', path]);
    const theirs = await c.kubectl(['apply', '-f', path]);
    assert.equal(mine.code, 1, path);
    assert.equal(mine.stderr, theirs.stderr, path);
  }
  for (const args of [
    ['get', 'deploy', 'nope', '-n', 'demo'],
    ['delete', 'cm', 'nope', '-n', 'demo'],
    ['get', 'frobs'],
  ]) {
    const mine = await c.kubectlLite(args);
    const theirs = await c.kubectl(args);
    assert.equal(mine.code, 1);
    assert.equal(mine.stderr, theirs.stderr, args.join(' '));
  }
  const logs = await c.kubectlLite(['logs', 'web-1', '-n', 'demo']);
  assert.equal(logs.code, 1);
  assert.match(logs.stderr, /no containers by design/);
  const down = await c.kubectlLite(['get', 'pods', '--server', 'http://127.0.0.1:1']);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port\?/,
  );
});

test('delete cascades, server-side apply, edit and get -w', { skip, timeout: 90_000 }, async () => {
  await ok(c.kubectlLite(['apply', '-f', 'manifests/00-namespace.yaml']));
  const dep = (name: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n    spec: {containers: [{name: c, image: "busybox:1"}]}\n`;
  assert.equal(
    await ok(c.kubectlLite(['apply', '--server-side', '-f', '-'], { input: dep('orph') })),
    'deployment.apps/orph serverside-applied\n',
  );
  await ok(c.kubectlLite(['-n', 'demo', 'rollout', 'status', 'deploy/orph', '--timeout=60s']));
  assert.equal(
    await ok(c.kubectlLite(['delete', 'deploy', 'orph', '-n', 'demo', '--cascade=orphan'])),
    'deployment.apps "orph" deleted\n',
  );
  const rs = await ok(c.kubectlLite(['get', 'rs', '-n', 'demo', '-l', 'app=orph', '-o', 'name']));
  assert.match(rs, /^replicaset.apps\/orph-/, 'the orphaned ReplicaSet stays');
  await ok(c.kubectlLite(['delete', 'rs', '-n', 'demo', '-l', 'app=orph', '--cascade=foreground']));
  assert.equal(
    (await ok(c.kubectlLite(['get', 'pods', '-n', 'demo', '-l', 'app=orph', '-o', 'name']))).trim(),
    '',
  );

  await ok(c.kubectlLite(['apply', '-f', 'manifests/10-configmap.yaml']));
  const edited = await c.kubectlLite(['edit', 'cm', 'web-config', '-n', 'demo'], {
    env: { EDITOR: "sed -i 's/greeting: hello from etcd-k8s-lite/greeting: edited/'" },
  });
  assert.equal(edited.stdout, 'configmap/web-config edited\n', edited.stderr);
  const cm = JSON.parse(await ok(c.kubectl(['get', 'cm', 'web-config', '-n', 'demo', '-o', 'json'])));
  assert.equal(cm.data.greeting, 'edited');

  const w = startProcess(
    join(BIN, 'kubectl-lite'),
    ['get', 'cm', '-n', 'demo', '-w', '--request-timeout=30s'],
    {
      env: { KUBECONFIG: c.kubeconfig },
    },
  );
  await waitFor('get -w to list', () => /web-config/.test(w.output()), { timeoutMs: 20_000 });
  await ok(
    c.kubectlLite(['create', '-f', '-'], {
      input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: demo}\n',
    }),
  );
  await waitFor('get -w to print the new row', () => /^late\s+0\s+\S+$/m.test(w.output()), {
    timeoutMs: 20_000,
  });
  assert.match(w.output(), /^NAME\s+DATA\s+AGE$/m);
  await w.kill('SIGINT');
});

test(
  'store commands show the keys, values, events and members beneath',
  { skip, timeout: 60_000 },
  async () => {
    await ok(c.kubectlLite(['apply', '-f', 'manifests/00-namespace.yaml']));
    await ok(c.kubectlLite(['apply', '-f', 'manifests/10-configmap.yaml']));
    const keys = await ok(c.kubectlLite(['store', 'keys', '/registry/configmaps/demo']));
    assert.match(keys, /^KEY\s+CREATE_REVISION\s+MOD_REVISION\s+VERSION$/m);
    const row = /^\/registry\/configmaps\/demo\/web-config\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(keys);
    assert.ok(row, keys);
    const cm = JSON.parse(await ok(c.kubectlLite(['get', 'cm', 'web-config', '-n', 'demo', '-o', 'json'])));
    assert.equal(cm.metadata.resourceVersion, row[2], 'resourceVersion is the mod revision');

    const value = await ok(c.kubectlLite(['store', 'get', '/registry/configmaps/demo/web-config']));
    assert.match(value, /^kind: ConfigMap$/m);
    const old = await ok(
      c.kubectlLite(['store', 'get', '/registry/configmaps/demo/web-config', '--rev', row[1]!, '-o', 'json']),
    );
    assert.equal(JSON.parse(old).kind, 'ConfigMap');

    const rev = (await ok(c.kubectlLite(['store', 'revision']))).trim();
    await ok(
      c.kubectlLite(['create', '-f', '-'], {
        input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ev, namespace: demo}\n',
      }),
    );
    await ok(c.kubectlLite(['delete', 'cm', 'ev', '-n', 'demo']));
    const events = await ok(
      c.kubectlLite(['store', 'watch', '/registry/configmaps/demo/', '--rev', rev, '--request-timeout=2s']),
    );
    assert.match(events, /^\d+\s+PUT\s+\/registry\/configmaps\/demo\/ev$/m);
    assert.match(events, /^\d+\s+DELETE\s+\/registry\/configmaps\/demo\/ev$/m);

    const status = await ok(c.kubectlLite(['store', 'status']));
    assert.match(
      status,
      /^ENDPOINT\s+NAME\s+ID\s+VERSION\s+DB SIZE\s+IS LEADER\s+RAFT TERM\s+RAFT INDEX\s+REVISION$/m,
    );
    assert.match(status, /\ss1\s.*\strue\s/);
    assert.equal((await ok(c.kubectlLite(['store', 'leader']))).trim(), 's1');

    const dir = tempDir('ekl-snap-');
    try {
      const file = join(dir.path, 'snap.db');
      assert.match(await ok(c.kubectlLite(['store', 'snapshot', 'save', file])), /^Snapshot saved at /);
      assert.ok(statSync(file).size > 1000);
    } finally {
      dir.remove();
    }
  },
);

test(
  'cordon, drain (which refuses pods without a controller unless --force) and uncordon; delete --force',
  { skip, timeout: 120_000 },
  async () => {
    await ok(c.kubectl(['create', 'deployment', 'dr', '--image=nginx', '--replicas=2']));
    await ok(c.kubectlLite(['rollout', 'status', 'deployment/dr', '--timeout=60s']));
    const node = (
      await ok(c.kubectl(['get', 'pods', '-l', 'app=dr', '-o', 'jsonpath={.items[0].spec.nodeName}']))
    ).trim();
    assert.match(node, /^node-\d$/);
    await ok(c.kubectl(['run', 'lone', '--image=busybox', `--overrides={"spec":{"nodeName":"${node}"}}`]));

    const refused = await c.kubectlLite(['drain', node, '--timeout=60s']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, `node/${node} cordoned\n`);
    assert.match(
      refused.stderr,
      /cannot delete Pods that declare no controller \(use --force to override\): default\/lone/,
    );
    const drained = await c.kubectlLite(['drain', node, '--force', '--timeout=60s']);
    assert.equal(drained.code, 0, drained.stderr);
    for (const line of [
      `node/${node} already cordoned`,
      'evicting pod default/lone',
      'pod/lone evicted',
      `node/${node} drained`,
    ])
      assert.ok(drained.stdout.split('\n').includes(line), `"${line}" in:\n${drained.stdout}`);
    assert.match(drained.stderr, /^Warning: deleting Pods that declare no controller: default\/lone$/m);
    const left = await ok(
      c.kubectl(['get', 'pods', '-A', `--field-selector=spec.nodeName=${node}`, '-o', 'name']),
    );
    assert.equal(left, '', 'the drained node runs no pods');
    assert.equal(await ok(c.kubectl(['get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}'])), 'true');
    assert.equal(await ok(c.kubectlLite(['uncordon', node])), `node/${node} uncordoned\n`);
    assert.equal(await ok(c.kubectlLite(['uncordon', node])), `node/${node} already uncordoned\n`);
    await ok(c.kubectlLite(['rollout', 'status', 'deployment/dr', '--timeout=60s']));

    // --force deletes at once (grace period 0), with kubectl's warning.
    const pod = (
      await ok(c.kubectl(['get', 'pods', '-l', 'app=dr', '-o', 'jsonpath={.items[0].metadata.name}']))
    ).trim();
    const forced = await c.kubectlLite(['delete', 'pod', pod, '--force', '--wait=false']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, `pod "${pod}" deleted\n`);
    assert.match(forced.stderr, /^Warning: Immediate deletion does not wait for confirmation/);
    const gone = await c.kubectl(['get', 'pod', pod]);
    assert.match(gone.stderr, /not found/);
    await ok(c.kubectlLite(['delete', 'deployment', 'dr']));
  },
);
