// A Deployment's life on a real control plane (store, bin/apiserver, controller-manager, scheduler,
// node-agent) driven by real kubectl: create, scale, rolling update (its surge/availability bounds
// checked through a watch), rollback, deletion with background and orphan propagation, and kubectl drain.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, waitFor } from '../support/index.js';
import { startControlPlane, logsOf, type ControlPlane } from '../../controllers/testing/cluster.js';
import { Resources } from '../../apimachinery/client.js';
import type { Deployment, Event, Node, Pod, ReplicaSet } from '../../apimachinery/index.js';

const skip = (!hasCommand('kubectl') || !hasCommand('etcd')) && 'kubectl or etcd is not installed';
let cp: ControlPlane;

const manifest = (name: string, replicas: number, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 2, maxUnavailable: 1}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: app, image: "${image}"}]
`;

before(async () => {
  if (skip) return;
  cp = await startControlPlane({ nodes: 3 });
});
after(async () => {
  if (cp) await cp.stop();
});

async function pods(selector: string): Promise<Pod[]> {
  const r = await cp.client.list<Pod>(Resources.pods, { namespace: 'default', labelSelector: selector });
  assert.ok(r.ok);
  return r.value.items;
}
const running = (ps: Pod[]) =>
  ps.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');
const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

async function rolledOut(name: string): Promise<void> {
  const out = await cp.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=40s']);
  assert.match(out, new RegExp(`deployment "${name}" successfully rolled out`));
}

async function settled(name: string, replicas: number): Promise<Pod[]> {
  return waitFor(
    `${replicas} running pods of ${name} and no others`,
    async () => {
      const ps = await pods(`app=${name}`);
      const live = ps.filter((p) => !p.metadata.deletionTimestamp);
      return live.length === replicas && running(live).length === replicas ? live : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

test('a Deployment of 3 runs 3 pods spread over the nodes, with status and events', { skip }, async () => {
  try {
    await cp.kubectl(['apply', '-f', '-'], manifest('web', 3, 'nginx:1.27'));
    await rolledOut('web');
    const ps = await settled('web', 3);
    assert.equal(new Set(ps.map((p) => p.spec.nodeName)).size, 3, 'one replica per node');
    for (const p of ps) {
      assert.ok(ready(p) && p.status?.podIP && p.status.hostIP && p.status.startTime);
      assert.equal(p.metadata.ownerReferences?.[0]?.kind, 'ReplicaSet');
      assert.equal(p.status?.containerStatuses?.[0]?.state?.running !== undefined, true);
    }
    const d = await cp.client.get<Deployment>(Resources.deployments, 'web', 'default');
    assert.ok(d.ok);
    const st = d.value.status!;
    assert.deepEqual([st.replicas, st.updatedReplicas, st.readyReplicas, st.availableReplicas], [3, 3, 3, 3]);
    assert.equal(st.observedGeneration, d.value.metadata.generation);
    assert.equal(d.value.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    const conds = Object.fromEntries((st.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
    assert.deepEqual(conds, {
      Available: 'True/MinimumReplicasAvailable',
      Progressing: 'True/NewReplicaSetAvailable',
    });
    // Events: the deployment scaled its RS; the RS created pods; the scheduler placed them.
    const events = await cp.client.list<Event>(Resources.events, { namespace: 'default' });
    assert.ok(events.ok);
    const reasons = new Set(events.value.items.map((e) => `${e.involvedObject.kind}/${e.reason}`));
    for (const r of ['Deployment/ScalingReplicaSet', 'ReplicaSet/SuccessfulCreate', 'Pod/Scheduled'])
      assert.ok(reasons.has(r), `event ${r}`);
    const describe = await cp.kubectl(['describe', 'deployment', 'web']);
    assert.match(
      describe,
      /ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set web-\w+ from 0 to 3/,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logsOf(cp)}`, { cause: err });
  }
});

test('scale to 10 then 2', { skip }, async () => {
  await cp.kubectl(['scale', 'deployment/web', '--replicas=10']);
  await rolledOut('web');
  const ten = await settled('web', 10);
  const perNode = new Map<string, number>();
  for (const p of ten) perNode.set(p.spec.nodeName!, (perNode.get(p.spec.nodeName!) ?? 0) + 1);
  assert.ok(
    Math.max(...perNode.values()) - Math.min(...perNode.values()) <= 1,
    `spread: ${JSON.stringify([...perNode])}`,
  );
  await cp.kubectl(['scale', 'deployment/web', '--replicas=2']);
  await rolledOut('web');
  await settled('web', 2);
  const rs = await cp.client.list<ReplicaSet>(Resources.replicasets, {
    namespace: 'default',
    labelSelector: 'app=web',
  });
  assert.ok(rs.ok && rs.value.items.length === 1 && rs.value.items[0]!.spec.replicas === 2);
});

test(
  'a rolling update stays within maxSurge/maxUnavailable; rollback restores the old template',
  { skip },
  async () => {
    await cp.kubectl(['scale', 'deployment/web', '--replicas=6']);
    await rolledOut('web');
    await settled('web', 6);
    const replicas = 6;
    const maxSurge = 2;
    const maxUnavailable = 1;
    // Watch every pod change while the update runs and check the bounds at each step.
    const list = await cp.client.list<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=web',
    });
    assert.ok(list.ok);
    const state = new Map(list.value.items.map((p) => [p.metadata.name!, p]));
    const w = await cp.client.watch<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=web',
      resourceVersion: list.value.metadata.resourceVersion,
    });
    assert.ok(w.ok);
    const violations: string[] = [];
    let maxSeen = 0;
    let minAvailable = Infinity;
    const watching = (async () => {
      for await (const ev of w.value) {
        if (ev.type === 'ERROR' || ev.type === 'BOOKMARK') continue;
        const p = ev.object as Pod;
        if (ev.type === 'DELETED') state.delete(p.metadata.name!);
        else state.set(p.metadata.name!, p);
        const live = [...state.values()].filter((x) => !x.metadata.deletionTimestamp);
        const available = live.filter(ready).length;
        maxSeen = Math.max(maxSeen, live.length);
        minAvailable = Math.min(minAvailable, available);
        if (live.length > replicas + maxSurge)
          violations.push(`${live.length} pods at rv ${p.metadata.resourceVersion}`);
        if (available < replicas - maxUnavailable)
          violations.push(`${available} available at rv ${p.metadata.resourceVersion}`);
      }
    })();
    await cp.kubectl(['set', 'image', 'deployment/web', 'app=nginx:1.28']);
    await rolledOut('web');
    const after = await settled('web', 6);
    w.value.close();
    await watching;
    assert.deepEqual(violations, [], `bounds broken during the rollout\n${logsOf(cp)}`);
    assert.ok(maxSeen > replicas, `the rollout surged (max ${maxSeen} pods)`);
    assert.ok(after.every((p) => p.spec.containers[0]!.image === 'nginx:1.28'));
    const d = await cp.client.get<Deployment>(Resources.deployments, 'web', 'default');
    assert.ok(d.ok && d.value.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2');

    // kubectl rollout undo copies revision 1's template back; the old ReplicaSet scales up again.
    await cp.kubectl(['rollout', 'undo', 'deployment/web']);
    await rolledOut('web');
    const undone = await settled('web', 6);
    assert.ok(
      undone.every((p) => p.spec.containers[0]!.image === 'nginx:1.27'),
      'rolled back to the first image',
    );
    const rs = await cp.client.list<ReplicaSet>(Resources.replicasets, {
      namespace: 'default',
      labelSelector: 'app=web',
    });
    assert.ok(rs.ok);
    assert.equal(rs.value.items.length, 2, 'rollback reused the old ReplicaSet');
    const active = rs.value.items.find((r) => r.spec.replicas === 6)!;
    assert.equal(active.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    const history = await cp.kubectl(['rollout', 'history', 'deployment/web']);
    assert.match(history, /^2\s/m);
    assert.match(history, /^3\s/m);
  },
);

test(
  'deleting a Deployment garbage-collects its ReplicaSets and pods; orphan keeps them',
  { skip },
  async () => {
    await cp.kubectl(['delete', 'deployment', 'web']);
    await waitFor(
      'ReplicaSets and pods of web to be collected',
      async () => {
        const rs = await cp.client.list(Resources.replicasets, {
          namespace: 'default',
          labelSelector: 'app=web',
        });
        return rs.ok && rs.value.items.length === 0 && (await pods('app=web')).length === 0;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    await cp.kubectl(['apply', '-f', '-'], manifest('keep', 2, 'nginx:1.27'));
    await rolledOut('keep');
    await settled('keep', 2);
    await cp.kubectl(['delete', 'deployment', 'keep', '--cascade=orphan']);
    await waitFor(
      'the deployment to be gone',
      async () => !(await cp.client.get(Resources.deployments, 'keep', 'default')).ok,
      { timeoutMs: 20_000 },
    );
    const rs = await waitFor(
      'the orphaned ReplicaSet to lose its ownerReference',
      async () => {
        const r = await cp.client.list<ReplicaSet>(Resources.replicasets, {
          namespace: 'default',
          labelSelector: 'app=keep',
        });
        return r.ok && r.value.items.length === 1 && !r.value.items[0]!.metadata.ownerReferences?.length
          ? r.value.items
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(rs[0]!.spec.replicas, 2);
    // Give the collector every chance to (wrongly) act, then check nothing was deleted.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(running(await pods('app=keep')).length, 2, 'orphaned pods keep running');
  },
);

test(
  "kubectl drain evicts a node's pods onto the others; with --disable-eviction it deletes them",
  { skip },
  async () => {
    await cp.kubectl(['apply', '-f', '-'], manifest('drain', 3, 'nginx:1.27'));
    await rolledOut('drain');
    const nodes = [...new Set((await settled('drain', 3)).map((p) => p.spec.nodeName!))];
    assert.ok(nodes.length >= 2, 'the pods are spread over at least two nodes');
    for (const [i, flags] of [[], ['--disable-eviction']].entries()) {
      const node = nodes[i]!;
      // kubectl sends the Eviction (or the DeleteOptions) as protobuf.
      const out = await cp.kubectl(['drain', node, '--ignore-daemonsets', '--timeout=60s', ...flags]);
      assert.match(out, new RegExp(`node/${node} drained`));
      assert.match(out, i === 0 ? /evicted/ : /deleted/);
      const after = await settled('drain', 3);
      assert.ok(
        after.every((p) => p.spec.nodeName !== node),
        `no pod of drain left on ${node}`,
      );
      const n = await cp.client.get<Node>(Resources.nodes, node);
      assert.ok(n.ok && n.value.spec?.unschedulable === true, `${node} stays cordoned`);
      await cp.kubectl(['uncordon', node]);
    }
  },
);
