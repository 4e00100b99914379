// The other controllers on a real control plane: endpoints for a Service, a namespace emptied and removed,
// foreground deletion, the Recreate strategy, FailedScheduling then scheduling once room appears, and the
// node-agent's failure annotations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, waitFor } from '../support/index.js';
import { startControlPlane, logsOf, type ControlPlane } from '../../controllers/testing/cluster.js';
import { Resources } from '../../apimachinery/client.js';
import type { Endpoints, Event, Pod, ReplicaSet } from '../../apimachinery/index.js';

const skip = (!hasCommand('kubectl') || !hasCommand('etcd')) && 'kubectl or etcd is not installed';
let cp: ControlPlane;

before(async () => {
  if (skip) return;
  cp = await startControlPlane({ nodes: 2, agentArgs: ['--cpu', '2', '--crashloop-interval', '300ms'] });
});
after(async () => {
  if (cp) await cp.stop();
});

const deploy = (
  name: string,
  ns: string,
  replicas: number,
  extra = '',
  podExtra = '',
  ann = '',
) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
${extra}  template:
    metadata:
      labels: {app: ${name}}
${ann}    spec:
      containers:
      - name: app
        image: nginx
        ports: [{name: http, containerPort: 8080}]
${podExtra}`;

async function check(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logsOf(cp)}`, { cause: err });
  }
}

test('a Service gets Endpoints of its ready pods, and they follow scaling', { skip }, () =>
  check(async () => {
    await cp.kubectl(['apply', '-f', '-'], deploy('svc-app', 'default', 2));
    await cp.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Service
metadata: {name: svc-app}
spec:
  selector: {app: svc-app}
  ports: [{name: web, port: 80, targetPort: http}]
`,
    );
    const ep = await waitFor(
      'endpoints with 2 addresses',
      async () => {
        const e = await cp.client.get<Endpoints>(Resources.endpoints, 'svc-app', 'default');
        return e.ok && e.value.subsets?.[0]?.addresses?.length === 2 ? e.value : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.deepEqual(ep.subsets![0]!.ports, [{ name: 'web', port: 8080, protocol: 'TCP' }]);
    const pods = await cp.client.list<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=svc-app',
    });
    assert.ok(pods.ok);
    assert.deepEqual(
      ep.subsets![0]!.addresses!.map((a) => a.ip).sort(),
      pods.value.items.map((p) => p.status!.podIP!).sort(),
    );
    await cp.kubectl(['scale', 'deployment/svc-app', '--replicas=1']);
    await waitFor(
      'endpoints to shrink to 1',
      async () => {
        const e = await cp.client.get<Endpoints>(Resources.endpoints, 'svc-app', 'default');
        return e.ok && e.value.subsets?.[0]?.addresses?.length === 1;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    await cp.kubectl(['delete', 'service', 'svc-app']);
    await waitFor(
      'endpoints to go with the service',
      async () => !(await cp.client.get(Resources.endpoints, 'svc-app', 'default')).ok,
      { timeoutMs: 20_000 },
    );
  }),
);

test('deleting a namespace empties it and then removes it', { skip }, () =>
  check(async () => {
    await cp.kubectl(['create', 'namespace', 'doomed']);
    await cp.kubectl(['apply', '-f', '-'], deploy('inner', 'doomed', 2));
    await cp.kubectl(['create', 'configmap', 'cfg', '-n', 'doomed', '--from-literal=a=b']);
    await cp.kubectl(['rollout', 'status', 'deployment/inner', '-n', 'doomed', '--timeout=30s']);
    await cp.kubectl(['delete', 'namespace', 'doomed', '--wait=false']);
    await waitFor(
      'the namespace to be gone',
      async () => !(await cp.client.get(Resources.namespaces, 'doomed')).ok,
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    const pods = await cp.client.list(Resources.pods, { namespace: 'doomed' });
    assert.ok(!pods.ok || pods.value.items.length === 0);
  }),
);

test('foreground deletion removes dependents before the owner', { skip }, () =>
  check(async () => {
    await cp.kubectl(['apply', '-f', '-'], deploy('fg', 'default', 2));
    await cp.kubectl(['rollout', 'status', 'deployment/fg', '--timeout=30s']);
    await cp.kubectl(['delete', 'deployment', 'fg', '--cascade=foreground', '--wait=false']);
    const d = await cp.client.get(Resources.deployments, 'fg', 'default');
    if (d.ok) assert.ok(d.value.metadata.finalizers?.includes('foregroundDeletion'));
    await waitFor(
      'deployment, replicasets and pods to be gone',
      async () => {
        const dd = await cp.client.get(Resources.deployments, 'fg', 'default');
        const rs = await cp.client.list(Resources.replicasets, {
          namespace: 'default',
          labelSelector: 'app=fg',
        });
        const ps = await cp.client.list(Resources.pods, { namespace: 'default', labelSelector: 'app=fg' });
        return !dd.ok && rs.ok && rs.value.items.length === 0 && ps.ok && ps.value.items.length === 0;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }),
);

test('Recreate stops every old pod before starting new ones', { skip }, () =>
  check(async () => {
    const extra = '  strategy: {type: Recreate}\n';
    await cp.kubectl(['apply', '-f', '-'], deploy('rec', 'default', 2, extra));
    await cp.kubectl(['rollout', 'status', 'deployment/rec', '--timeout=30s']);
    const list = await cp.client.list<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=rec',
    });
    assert.ok(list.ok);
    const state = new Map(list.value.items.map((p) => [p.metadata.name!, p]));
    const w = await cp.client.watch<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=rec',
      resourceVersion: list.value.metadata.resourceVersion,
    });
    assert.ok(w.ok);
    let mixed = false;
    const watching = (async () => {
      for await (const ev of w.value) {
        const p = ev.object as Pod;
        if (ev.type === 'DELETED') state.delete(p.metadata.name!);
        else state.set(p.metadata.name!, p);
        const images = new Set([...state.values()].map((x) => x.spec.containers[0]!.image));
        if (images.size > 1) mixed = true;
      }
    })();
    await cp.kubectl(['set', 'image', 'deployment/rec', 'app=nginx:2']);
    await cp.kubectl(['rollout', 'status', 'deployment/rec', '--timeout=40s']);
    w.value.close();
    await watching;
    assert.ok(!mixed, 'old and new pods never coexisted');
    await cp.kubectl(['delete', 'deployment', 'rec']);
  }),
);

test('a pod that fits nowhere gets FailedScheduling, then runs once room appears', { skip }, () =>
  check(async () => {
    const big = (name: string, cpu: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers: [{name: c, image: nginx, resources: {requests: {cpu: "${cpu}"}}}]
`;
    await cp.kubectl(['apply', '-f', '-'], big('hog', '1500m'));
    await cp.kubectl(['apply', '-f', '-'], big('hog2', '1500m'));
    await waitFor(
      'both hogs to run',
      async () => {
        const ps = await cp.client.list<Pod>(Resources.pods, {
          namespace: 'default',
          fieldSelector: 'status.phase=Running',
        });
        return ps.ok && ps.value.items.filter((p) => p.metadata.name!.startsWith('hog')).length === 2;
      },
      { timeoutMs: 20_000 },
    );
    await cp.kubectl(['apply', '-f', '-'], big('late', '1'));
    const ev = await waitFor(
      'a FailedScheduling event',
      async () => {
        const es = await cp.client.list<Event>(Resources.events, {
          namespace: 'default',
          fieldSelector: 'involvedObject.name=late',
        });
        return es.ok ? es.value.items.find((e) => e.reason === 'FailedScheduling') : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.match(ev.message!, /^0\/2 nodes are available: 2 Insufficient cpu\.$/);
    const pod = await cp.client.get<Pod>(Resources.pods, 'late', 'default');
    assert.ok(pod.ok && !pod.value.spec.nodeName);
    await cp.kubectl(['delete', 'pod', 'hog']);
    await waitFor(
      'the late pod to run',
      async () => {
        const p = await cp.client.get<Pod>(Resources.pods, 'late', 'default');
        return p.ok && p.value.status?.phase === 'Running';
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await cp.kubectl(['delete', 'pod', 'hog2', 'late']);
  }),
);

test('node-agent behaviours: fail and crashloop annotations', { skip }, () =>
  check(async () => {
    const pod = (name: string, behavior: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, annotations: {node-agent.ekl.dev/behavior: ${behavior}}}
spec:
  containers: [{name: c, image: nginx}]
`;
    await cp.kubectl(['apply', '-f', '-'], pod('failer', 'fail'));
    await cp.kubectl(['apply', '-f', '-'], pod('crasher', 'crashloop'));
    await waitFor(
      'failer to fail',
      async () => {
        const p = await cp.client.get<Pod>(Resources.pods, 'failer', 'default');
        return (
          p.ok &&
          p.value.status?.phase === 'Failed' &&
          p.value.status.containerStatuses?.[0]?.state?.terminated?.exitCode === 1
        );
      },
      { timeoutMs: 20_000 },
    );
    await waitFor(
      'crasher to restart a few times',
      async () => {
        const p = await cp.client.get<Pod>(Resources.pods, 'crasher', 'default');
        const cs = p.ok ? p.value.status?.containerStatuses?.[0] : undefined;
        return cs && cs.restartCount >= 2 && cs.state?.waiting?.reason === 'CrashLoopBackOff' && !cs.ready;
      },
      { timeoutMs: 20_000 },
    );
    assert.match(await cp.kubectl(['get', 'pod', 'crasher']), /CrashLoopBackOff/);
    await cp.kubectl(['delete', 'pod', 'failer', 'crasher']);
  }),
);

test('a ReplicaSet adopts a matching orphan pod and releases one whose labels stop matching', { skip }, () =>
  check(async () => {
    await cp.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: stray, labels: {app: adopt}}
spec:
  containers: [{name: c, image: nginx}]
`,
    );
    await cp.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: adopt}
spec:
  replicas: 2
  selector: {matchLabels: {app: adopt}}
  template:
    metadata: {labels: {app: adopt}}
    spec:
      containers: [{name: c, image: nginx}]
`,
    );
    const rs = await waitFor(
      'the RS to own 2 pods including the stray',
      async () => {
        const r = await cp.client.get<ReplicaSet>(Resources.replicasets, 'adopt', 'default');
        const p = await cp.client.get<Pod>(Resources.pods, 'stray', 'default');
        return r.ok &&
          r.value.status?.replicas === 2 &&
          p.ok &&
          p.value.metadata.ownerReferences?.[0]?.uid === r.value.metadata.uid
          ? r.value
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const all = await cp.client.list<Pod>(Resources.pods, {
      namespace: 'default',
      labelSelector: 'app=adopt',
    });
    assert.ok(all.ok && all.value.items.length === 2, 'adopted instead of creating a second new pod');
    await cp.kubectl(['label', 'pod', 'stray', 'app=gone', '--overwrite']);
    await waitFor(
      'the stray to be released and replaced',
      async () => {
        const p = await cp.client.get<Pod>(Resources.pods, 'stray', 'default');
        const owned = await cp.client.list<Pod>(Resources.pods, {
          namespace: 'default',
          labelSelector: 'app=adopt',
        });
        return (
          p.ok &&
          !p.value.metadata.ownerReferences?.length &&
          owned.ok &&
          owned.value.items.filter((x) => !x.metadata.deletionTimestamp).length === 2
        );
      },
      { timeoutMs: 20_000 },
    );
    assert.ok(rs);
    await cp.kubectl(['delete', 'rs', 'adopt']);
    await cp.kubectl(['delete', 'pod', 'stray']);
  }),
);

test('paused Deployments do not roll out until resumed', { skip }, () =>
  check(async () => {
    await cp.kubectl(['apply', '-f', '-'], deploy('pz', 'default', 2));
    await cp.kubectl(['rollout', 'status', 'deployment/pz', '--timeout=30s']);
    await cp.kubectl(['rollout', 'pause', 'deployment/pz']);
    await cp.kubectl(['set', 'image', 'deployment/pz', 'app=nginx:2']);
    await waitFor(
      'Progressing=Unknown/DeploymentPaused',
      async () => {
        const c = await cp.kubectl([
          'get',
          'deployment',
          'pz',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}',
        ]);
        return c === 'DeploymentPaused';
      },
      { timeoutMs: 20_000 },
    );
    const rs = await cp.client.list<ReplicaSet>(Resources.replicasets, {
      namespace: 'default',
      labelSelector: 'app=pz',
    });
    assert.ok(rs.ok && rs.value.items.length === 1, 'no new ReplicaSet while paused');
    await cp.kubectl(['rollout', 'resume', 'deployment/pz']);
    await cp.kubectl(['rollout', 'status', 'deployment/pz', '--timeout=30s']);
    const pods = await cp.client.list<Pod>(Resources.pods, { namespace: 'default', labelSelector: 'app=pz' });
    assert.ok(pods.ok);
    assert.ok(
      pods.value.items
        .filter((p) => !p.metadata.deletionTimestamp)
        .every((p) => p.spec.containers[0]!.image === 'nginx:2'),
    );
    await cp.kubectl(['delete', 'deployment', 'pz']);
  }),
);

test('a rollout that cannot progress hits its deadline and kubectl rollout status says so', { skip }, () =>
  check(async () => {
    const extra = '  progressDeadlineSeconds: 2\n';
    const ann = '      annotations: {node-agent.ekl.dev/behavior: never-ready}\n';
    await cp.kubectl(['apply', '-f', '-'], deploy('stuck', 'default', 1, extra, '', ann));
    await waitFor(
      'Progressing=False/ProgressDeadlineExceeded',
      async () => {
        const c = await cp.kubectl([
          'get',
          'deployment',
          'stuck',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}',
        ]);
        return c === 'False/ProgressDeadlineExceeded';
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const r = await cp.cluster.kubectl(['rollout', 'status', 'deployment/stuck', '--timeout=20s']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exceeded its progress deadline/);
    await cp.kubectl(['delete', 'deployment', 'stuck']);
  }),
);
