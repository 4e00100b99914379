// Tests for the scheduler's filters and scores: readiness, taints and tolerations, nodeSelector,
// resource fit, least-allocated and replica spreading, and the FailedScheduling message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from '../../apimachinery/index.js';
import { failureMessage, filterNode, NodeInfo, schedule, tolerates } from './framework.js';
import { milliCPU, intValue, parseQuantity } from '../quantity.js';

function node(
  name: string,
  opts: {
    cpu?: string;
    memory?: string;
    ready?: boolean;
    taints?: Node['spec'] extends infer S ? (S extends { taints?: infer T } ? T : never) : never;
    labels?: Record<string, string>;
    unschedulable?: boolean;
  } = {},
): NodeInfo {
  return new NodeInfo({
    metadata: { name, labels: opts.labels ?? {} },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: {
      allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'Unknown' : 'True' }],
    },
  });
}

function pod(name: string, cpu?: string, owner?: string, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      ...(owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: owner, controller: true },
            ],
          }
        : {}),
    },
    spec: { containers: [{ name: 'c', ...(cpu ? { resources: { requests: { cpu } } } : {}) }], ...extra },
  };
}

test('quantities parse as Kubernetes writes them', () => {
  assert.equal(milliCPU('100m'), 100);
  assert.equal(milliCPU('1.5'), 1500);
  assert.equal(milliCPU(2), 2000);
  assert.equal(intValue('128Mi'), 128 * 2 ** 20);
  assert.equal(intValue('1G'), 1e9);
  assert.equal(parseQuantity('1e3'), 1000);
  assert.throws(() => parseQuantity('12x'));
});

test('filters: not ready, unschedulable, taints, nodeSelector, resources', () => {
  assert.match(filterNode(pod('p'), node('n', { ready: false }))!, /not-ready/);
  assert.equal(filterNode(pod('p'), node('n', { unschedulable: true })), 'node(s) were unschedulable');
  const tainted = node('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] });
  assert.match(filterNode(pod('p'), tainted)!, /untolerated taint \{node.kubernetes.io\/unreachable: \}/);
  assert.equal(
    filterNode(pod('p', undefined, undefined, { tolerations: [{ operator: 'Exists' }] }), tainted),
    undefined,
  );
  assert.ok(
    tolerates([{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }], {
      key: 'k',
      value: 'v',
      effect: 'NoSchedule',
    }),
  );
  assert.ok(
    !tolerates([{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }], {
      key: 'k',
      value: 'w',
      effect: 'NoSchedule',
    }),
  );
  assert.match(
    filterNode(pod('p', undefined, undefined, { nodeSelector: { disk: 'ssd' } }), node('n'))!,
    /node affinity\/selector/,
  );
  assert.equal(
    filterNode(
      pod('p', undefined, undefined, { nodeSelector: { disk: 'ssd' } }),
      node('n', { labels: { disk: 'ssd' } }),
    ),
    undefined,
  );
  const small = node('n', { cpu: '1' });
  small.addPod('default/a', pod('a', '800m'));
  assert.equal(filterNode(pod('p', '300m'), small), 'Insufficient cpu');
  assert.equal(filterNode(pod('p', '200m'), small), undefined);
  small.removePod('default/a', pod('a', '800m'));
  assert.equal(small.requested.milliCPU, 0);
});

test("scoring prefers the emptier node and spreads one owner's replicas", () => {
  const a = node('a');
  const b = node('b');
  a.addPod('default/x', pod('x', '2'));
  assert.equal(schedule(pod('p', '100m'), [a, b]).node, 'b');
  // Replicas of one ReplicaSet on equal nodes go round, not pile up.
  const nodes = [node('n1'), node('n2'), node('n3')];
  const counts = new Map<string, number>();
  let last = '';
  for (let i = 0; i < 9; i++) {
    const p = pod(`r${i}`, undefined, 'rs-uid');
    const d = schedule(p, nodes, last);
    last = d.node!;
    nodes.find((n) => n.node.metadata.name === d.node)!.addPod(`default/r${i}`, p);
    counts.set(d.node!, (counts.get(d.node!) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], [3, 3, 3]);
});

test('when nothing fits, reasons are counted into the kube-scheduler message', () => {
  const d = schedule(pod('p', '8'), [node('a'), node('b'), node('c', { ready: false })]);
  assert.equal(d.node, undefined);
  assert.equal(
    failureMessage(3, d.reasons),
    '0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.',
  );
});
