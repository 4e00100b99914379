// Failures on a real control plane: a node stops heartbeating (NotReady, tainted, its pods replaced on
// other nodes), and the active controller-manager is killed mid-rollout (the standby takes the Lease
// and finishes the rollout). Two controller-managers run; exactly one acts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, waitFor } from '../support/index.js';
import { startControlPlane, logsOf, FAILOVER_MANAGER_ARGS } from '../../controllers/testing/cluster.js';
import { Resources } from '../../apimachinery/client.js';
import type { Lease, Node, Pod } from '../../apimachinery/index.js';

const skip = (!hasCommand('kubectl') || !hasCommand('etcd')) && 'kubectl or etcd is not installed';

const manifest = (replicas: number, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: app}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: "${image}"}]
`;

test(
  'a node that stops heartbeating goes NotReady and its pods are replaced elsewhere',
  { skip },
  async () => {
    const cp = await startControlPlane({ nodes: 3, managerArgs: FAILOVER_MANAGER_ARGS });
    try {
      await cp.kubectl(['apply', '-f', '-'], manifest(6, 'busybox:1'));
      await cp.kubectl(['rollout', 'status', 'deployment/app', '--timeout=40s']);
      const before = await cp.client.list<Pod>(Resources.pods, {
        namespace: 'default',
        labelSelector: 'app=app',
      });
      assert.ok(before.ok);
      const victims = before.value.items
        .filter((p) => p.spec.nodeName === 'node-1')
        .map((p) => p.metadata.name);
      assert.ok(victims.length > 0, 'node-1 runs some replicas');

      const res = await fetch(`${cp.agentUrl}/nodes/node-1/stop-heartbeat`, { method: 'POST' });
      assert.equal(res.status, 200);
      const node = await waitFor(
        'node-1 to be Ready=Unknown and tainted unreachable',
        async () => {
          const n = await cp.client.get<Node>(Resources.nodes, 'node-1');
          if (!n.ok) return undefined;
          const readyUnknown =
            n.value.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown';
          const taints = (n.value.spec?.taints ?? [])
            .filter((t) => t.key === 'node.kubernetes.io/unreachable')
            .map((t) => t.effect)
            .sort();
          return readyUnknown && taints.join() === 'NoExecute,NoSchedule' ? n.value : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      assert.match(await cp.kubectl(['get', 'node', 'node-1']), /NotReady/);
      assert.ok(node);
      await waitFor(
        '6 running replicas, none on node-1',
        async () => {
          const l = await cp.client.list<Pod>(Resources.pods, {
            namespace: 'default',
            labelSelector: 'app=app',
          });
          if (!l.ok) return false;
          const live = l.value.items.filter((p) => !p.metadata.deletionTimestamp);
          return (
            live.length === 6 &&
            live.every((p) => p.spec.nodeName !== 'node-1' && p.status?.phase === 'Running')
          );
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const d = await cp.kubectl(['get', 'deployment', 'app', '-o', 'jsonpath={.status.availableReplicas}']);
      assert.equal(d, '6');

      // Heartbeats resume: the node is Ready again and the taints go away.
      await fetch(`${cp.agentUrl}/nodes/node-1/start-heartbeat`, { method: 'POST' });
      await waitFor(
        'node-1 Ready and untainted',
        async () => {
          const n = await cp.client.get<Node>(Resources.nodes, 'node-1');
          return (
            n.ok &&
            n.value.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
            !(n.value.spec?.taints ?? []).length
          );
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logsOf(cp)}`, { cause: err });
    } finally {
      await cp.stop();
    }
  },
);

test(
  'killing the active controller-manager mid-rollout: the standby takes the Lease and finishes it',
  { skip },
  async () => {
    // Pods take a while to start, so the rollout is still running when the leader dies.
    const cp = await startControlPlane({
      nodes: 3,
      managers: 2,
      managerArgs: FAILOVER_MANAGER_ARGS,
      agentArgs: ['--pod-start-delay', '700ms'],
    });
    try {
      const lease = async () => {
        const l = await cp.client.get<Lease>(Resources.leases, 'kube-controller-manager', 'kube-system');
        return l.ok ? l.value.spec?.holderIdentity : undefined;
      };
      const holder = await waitFor('a controller-manager to take the lease', lease, { timeoutMs: 20_000 });
      const leaderIdx = holder === 'cm-0' ? 0 : 1;
      const leader = cp.managers[leaderIdx]!;
      const standby = cp.managers[1 - leaderIdx]!;
      await cp.kubectl(['apply', '-f', '-'], manifest(4, 'busybox:1'));
      await cp.kubectl(['rollout', 'status', 'deployment/app', '--timeout=40s']);
      assert.doesNotMatch(standby.output(), /starting controllers/, 'only the leader runs controllers');

      await cp.kubectl(['set', 'image', 'deployment/app', 'app=busybox:2']);
      await waitFor(
        'the rollout to be under way',
        async () => {
          const l = await cp.client.list<Pod>(Resources.pods, {
            namespace: 'default',
            labelSelector: 'app=app',
          });
          return l.ok && l.value.items.some((p) => p.spec.containers[0]!.image === 'busybox:2');
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      await leader.kill('SIGKILL'); // no chance to release the lease: the standby must wait it out
      const killedAt = Date.now();
      const out = await cp.kubectl(['rollout', 'status', 'deployment/app', '--timeout=50s']);
      assert.match(out, /successfully rolled out/);
      assert.equal(await lease(), holder === 'cm-0' ? 'cm-1' : 'cm-0');
      assert.match(standby.output(), /became leader/);
      assert.ok(Date.now() - killedAt >= 1000, 'the standby waited for the lease to expire');
      const l = await cp.client.list<Pod>(Resources.pods, { namespace: 'default', labelSelector: 'app=app' });
      assert.ok(l.ok);
      const live = l.value.items.filter((p) => !p.metadata.deletionTimestamp);
      assert.equal(live.length, 4);
      assert.ok(live.every((p) => p.spec.containers[0]!.image === 'busybox:2'));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logsOf(cp)}`, { cause: err });
    } finally {
      await cp.stop();
    }
  },
);
