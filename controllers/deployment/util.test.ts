// Tests for Deployment arithmetic: template hashing, int-or-percent fenceposts and rolling-update steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from '../../apimachinery/index.js';
import {
  computeHash,
  equalIgnoreHash,
  fnv1a32,
  newRSReplicasForRollingUpdate,
  oldRSScaleDowns,
  resolveFenceposts,
  safeEncode,
  stableStringify,
} from './util.js';

const template = (image: string) => ({
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image }] },
});

function deploy(replicas: number, surge?: number | string, unavailable?: number | string): Deployment {
  return {
    metadata: { name: 'd', namespace: 'default', uid: 'u' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: template('v2'),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } },
    },
  };
}

function rs(
  name: string,
  spec: number,
  status: number,
  available: number,
  created = '2026-01-01T00:00:00Z',
): ReplicaSet {
  return {
    metadata: { name, namespace: 'default', uid: name, creationTimestamp: created },
    spec: { replicas: spec, selector: {} },
    status: { replicas: status, availableReplicas: available },
  };
}

test('FNV-1a 32 matches known vectors', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
});

test('hash is stable across key order, ignores pod-template-hash, and changes with the template', () => {
  const a = template('v1');
  const b = {
    spec: { containers: [{ image: 'v1', name: 'c' }] },
    metadata: { labels: { app: 'web', 'pod-template-hash': 'zzz' } },
  };
  assert.equal(stableStringify({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
  assert.equal(computeHash(a), computeHash(b));
  assert.ok(equalIgnoreHash(a, b));
  assert.notEqual(computeHash(a), computeHash(template('v2')));
  assert.notEqual(computeHash(a), computeHash(a, 1), 'collisionCount changes the hash');
  assert.match(computeHash(a), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  assert.equal(safeEncode('0123'), '4567');
});

test('fenceposts: surge rounds up, unavailable rounds down, both zero becomes 1 unavailable', () => {
  assert.deepEqual(resolveFenceposts(deploy(10)), { maxSurge: 3, maxUnavailable: 2 });
  assert.deepEqual(resolveFenceposts(deploy(3)), { maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(resolveFenceposts(deploy(4, 0, 0)), { maxSurge: 0, maxUnavailable: 1 });
  assert.deepEqual(resolveFenceposts(deploy(4, '50%', 2)), { maxSurge: 2, maxUnavailable: 2 });
});

test('new RS scale-up never takes total pods past replicas + maxSurge', () => {
  const d = deploy(10, 3, 2);
  const old = rs('old', 10, 10, 10);
  const nw = rs('new', 0, 0, 0);
  assert.equal(newRSReplicasForRollingUpdate(d, [old, nw], nw), 3);
  // The old RS was scaled down to 7 but still runs 10 pods: no room yet.
  const lagging = rs('old', 7, 10, 10);
  const nw3 = rs('new', 3, 3, 3);
  assert.equal(newRSReplicasForRollingUpdate(d, [lagging, nw3], nw3), 3);
  // Once the old pods are gone, three more fit.
  const caughtUp = rs('old', 7, 7, 7);
  assert.equal(newRSReplicasForRollingUpdate(d, [caughtUp, nw3], nw3), 6);
});

test('old RS scale-down keeps replicas - maxUnavailable available', () => {
  const d = deploy(10, 3, 2);
  const old = rs('old', 10, 10, 10);
  const nw = rs('new', 3, 3, 0); // new pods not available yet
  const downs = oldRSScaleDowns(d, [old], nw);
  // 13 pods, minAvailable 8, new unavailable 3 -> may remove 2.
  assert.deepEqual(
    downs.map(([r, n]) => [r.metadata.name, n]),
    [['old', 8]],
  );
  const nwReady = rs('new', 3, 3, 3);
  assert.deepEqual(
    oldRSScaleDowns(d, [old], nwReady).map(([, n]) => n),
    [5],
  );
});

test('old RS scale-down removes unavailable old pods first without touching availability', () => {
  const d = deploy(4, 1, 0);
  const old = rs('old', 4, 4, 2); // two old pods are not available
  const nw = rs('new', 1, 1, 1);
  const downs = oldRSScaleDowns(d, [old], nw);
  // Removing the 2 unavailable pods is free; available stays 2 + 1 = 3 < 4 so no more.
  assert.deepEqual(
    downs.map(([, n]) => n),
    [3],
  );
});

test('a random sequence of rolling steps never breaks the surge and availability bounds', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let trial = 0; trial < 200; trial++) {
    const replicas = 1 + Math.floor(rand() * 12);
    const d = deploy(replicas, Math.floor(rand() * 4), Math.floor(rand() * 4));
    const { maxSurge, maxUnavailable } = resolveFenceposts(d);
    const old = rs('old', replicas, replicas, replicas, '2026-01-01T00:00:00Z');
    const nw = rs('new', 0, 0, 0, '2026-01-02T00:00:00Z');
    for (let step = 0; step < 100; step++) {
      const target = newRSReplicasForRollingUpdate(d, [old, nw], nw);
      nw.spec.replicas = target;
      for (const [r, n] of oldRSScaleDowns(d, [old], nw)) r.spec.replicas = n;
      // The ReplicaSet controllers catch up; new pods become available at random.
      old.status!.replicas = old.spec.replicas!;
      old.status!.availableReplicas = Math.min(old.status!.availableReplicas!, old.spec.replicas!);
      nw.status!.replicas = nw.spec.replicas!;
      nw.status!.availableReplicas = Math.min(
        nw.spec.replicas!,
        nw.status!.availableReplicas! + (rand() < 0.5 ? 1 : 0),
      );
      const total = old.status!.replicas + nw.status!.replicas;
      const avail = old.status!.availableReplicas! + nw.status!.availableReplicas!;
      assert.ok(total <= replicas + maxSurge, `seed=${seed}: ${total} pods > ${replicas}+${maxSurge}`);
      assert.ok(
        avail >= Math.min(replicas - maxUnavailable, replicas),
        `seed=${seed}: ${avail} available < ${replicas}-${maxUnavailable}`,
      );
      if (old.spec.replicas === 0 && nw.status!.availableReplicas === replicas) break;
    }
    assert.equal(old.spec.replicas, 0, `seed=${seed}: rollout finished`);
  }
});
