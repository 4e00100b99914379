// Tests for pod facts: availability after minReadySeconds, and the order pods are chosen for scale-down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../apimachinery/index.js';
import { compareForDeletion, isPodActive, isPodAvailable, msUntilAvailable } from './podutil.js';

function pod(
  name: string,
  o: {
    node?: string;
    phase?: Pod['status'] extends infer S ? (S extends { phase?: infer P } ? P : never) : never;
    readySince?: string;
    created?: string;
    restarts?: number;
  } = {},
): Pod {
  return {
    metadata: { name, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c' }], ...(o.node ? { nodeName: o.node } : {}) },
    status: {
      phase: o.phase ?? 'Running',
      conditions: o.readySince
        ? [{ type: 'Ready', status: 'True', lastTransitionTime: o.readySince }]
        : [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        { name: 'c', ready: !!o.readySince, restartCount: o.restarts ?? 0, image: '', imageID: '' },
      ],
    },
  };
}

test('available = ready for at least minReadySeconds', () => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  const p = pod('a', { readySince: '2026-01-01T00:00:05Z' });
  assert.ok(isPodAvailable(p, 0, now));
  assert.ok(isPodAvailable(p, 5, now));
  assert.ok(!isPodAvailable(p, 6, now));
  assert.equal(msUntilAvailable(p, 6, now), 1000);
  assert.ok(!isPodAvailable(pod('b'), 0, now));
  assert.ok(!isPodActive({ ...p, metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }));
  assert.ok(!isPodActive(pod('c', { phase: 'Failed' })));
});

test('scale-down order: unscheduled, pending, not ready, more restarts, newer first', () => {
  const pods = [
    pod('ready-old', { node: 'n', readySince: 'x', created: '2026-01-01T00:00:00Z' }),
    pod('ready-new', { node: 'n', readySince: 'x', created: '2026-01-02T00:00:00Z' }),
    pod('notready', { node: 'n' }),
    pod('restarty', { node: 'n', restarts: 3 }),
    pod('pending', { node: 'n', phase: 'Pending' }),
    pod('unscheduled', { phase: 'Pending' }),
  ];
  assert.deepEqual(
    [...pods].sort(compareForDeletion).map((p) => p.metadata.name),
    ['unscheduled', 'pending', 'restarty', 'notready', 'ready-new', 'ready-old'],
  );
});
