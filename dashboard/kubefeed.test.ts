// Unit tests for the views the page draws: owner, node, phase and readiness of a pod; a node's Ready status.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { view, type NodeView, type PodView, type LeaseView } from './kubefeed.js';

describe('workload views', () => {
  it('reduces a pod to owner, node, phase and readiness', () => {
    const v = view('pods', 'default/web-1', {
      metadata: {
        name: 'web-1',
        namespace: 'default',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u', controller: true },
        ],
      },
      spec: { nodeName: 'node-3', containers: [] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    }) as PodView;
    assert.deepEqual(v, {
      id: 'default/web-1',
      ns: 'default',
      name: 'web-1',
      owner: 'default/web-abc',
      node: 'node-3',
      phase: 'Running',
      ready: true,
      deleting: false,
    });
  });

  it('treats a pod without status as Pending and unready', () => {
    const v = view('pods', 'ns/p', {
      metadata: { name: 'p', namespace: 'ns', deletionTimestamp: 'x' },
      spec: {},
    }) as PodView;
    assert.equal(v.phase, 'Pending');
    assert.equal(v.ready, false);
    assert.equal(v.deleting, true);
    assert.equal(v.node, undefined);
  });

  it("takes a node's Ready condition, Unknown when there is none", () => {
    const ready = view('nodes', 'n1', {
      metadata: { name: 'n1' },
      status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] },
    }) as NodeView;
    assert.equal(ready.ready, 'Unknown');
    assert.equal(ready.reason, 'NodeStatusUnknown');
    assert.equal((view('nodes', 'n2', { metadata: { name: 'n2' } }) as NodeView).ready, 'Unknown');
  });

  it('reads a Lease renewTime', () => {
    const l = view('leases', 'kube-node-lease/n1', {
      metadata: { name: 'n1', namespace: 'kube-node-lease' },
      spec: { renewTime: '2026-01-01T00:00:00.000000Z', leaseDurationSeconds: 40 },
    }) as LeaseView;
    assert.equal(l.renew, Date.parse('2026-01-01T00:00:00Z'));
    assert.equal(l.durationSeconds, 40);
  });
});
