// Unit tests for merge patch, JSON patch and strategic merge patch (the forms kubectl sends).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch, jsonPatch, strategicMergePatch } from './patch.js';
import { StatusError } from '../apimachinery/index.js';

const POD = 'io.k8s.api.core.v1.Pod';
const DEPLOY = 'io.k8s.api.apps.v1.Deployment';

test('merge patch: null deletes, objects merge, arrays replace', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 9 }, l: [3] }), {
    b: { c: 9, d: 3 },
    l: [3],
  });
});

test('JSON patch: add/remove/replace/move/copy/test and errors', () => {
  const doc = { a: { b: [1, 2] } };
  assert.deepEqual(
    jsonPatch(doc, [
      { op: 'add', path: '/a/b/-', value: 3 },
      { op: 'add', path: '/a/b/0', value: 0 },
    ]),
    { a: { b: [0, 1, 2, 3] } },
  );
  assert.deepEqual(jsonPatch(doc, [{ op: 'move', from: '/a/b', path: '/c' }]), { a: {}, c: [1, 2] });
  assert.deepEqual(
    jsonPatch(doc, [
      { op: 'copy', from: '/a/b/1', path: '/x' },
      { op: 'remove', path: '/a' },
    ]),
    { x: 2 },
  );
  assert.deepEqual(doc, { a: { b: [1, 2] } }, 'the input is not modified');
  assert.throws(
    () => jsonPatch(doc, [{ op: 'test', path: '/a/b/0', value: 5 }]),
    (e: unknown) => e instanceof StatusError && e.code === 422,
  );
  assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope', value: 1 }]), StatusError);
  assert.throws(
    () => jsonPatch(doc, [{ op: 'frobnicate', path: '/a' }]),
    (e: unknown) => e instanceof StatusError && e.code === 400,
  );
  assert.throws(() => jsonPatch(doc, { op: 'add' }), StatusError);
});

test('strategic merge: containers merge by name, env by name, ports by containerPort', () => {
  const pod = {
    spec: {
      containers: [
        { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }], ports: [{ containerPort: 80 }] },
        { name: 'b', image: 'b:1' },
      ],
    },
  };
  const out = strategicMergePatch(
    pod,
    { spec: { containers: [{ name: 'a', image: 'a:2', env: [{ name: 'Y', value: '2' }] }] } },
    POD,
  ) as typeof pod;
  assert.deepEqual(out.spec.containers[0], {
    name: 'a',
    image: 'a:2',
    env: [
      { name: 'X', value: '1' },
      { name: 'Y', value: '2' },
    ],
    ports: [{ containerPort: 80 }],
  });
  assert.equal(out.spec.containers[1].image, 'b:1');
});

test('strategic merge directives: $patch delete/replace, $setElementOrder, $retainKeys, $deleteFromPrimitiveList', () => {
  const pod = {
    metadata: { finalizers: ['x', 'y'] },
    spec: { containers: [{ name: 'a' }, { name: 'b' }], nodeSelector: { k: 'v', z: 'w' } },
  };
  assert.deepEqual(
    (strategicMergePatch(pod, { spec: { containers: [{ name: 'a', $patch: 'delete' }] } }, POD) as typeof pod)
      .spec.containers,
    [{ name: 'b' }],
  );
  assert.deepEqual(
    (
      strategicMergePatch(
        pod,
        { spec: { containers: [{ name: 'c' }, { $patch: 'replace' }] } },
        POD,
      ) as typeof pod
    ).spec.containers,
    [{ name: 'c' }],
  );
  assert.deepEqual(
    (
      strategicMergePatch(
        pod,
        { spec: { nodeSelector: { only: '1', $patch: 'replace' } } },
        POD,
      ) as typeof pod
    ).spec.nodeSelector,
    { only: '1' },
  );
  assert.deepEqual(
    (
      strategicMergePatch(
        pod,
        { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } },
        POD,
      ) as typeof pod
    ).spec.containers.map((c) => c.name),
    ['b', 'a'],
  );
  assert.deepEqual(
    (
      strategicMergePatch(
        pod,
        { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } },
        POD,
      ) as typeof pod
    ).metadata.finalizers,
    ['y'],
  );
  // finalizers merge as a set.
  assert.deepEqual(
    (strategicMergePatch(pod, { metadata: { finalizers: ['y', 'z'] } }, POD) as typeof pod).metadata
      .finalizers,
    ['x', 'y', 'z'],
  );
  const d = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
  assert.deepEqual(
    (
      strategicMergePatch(
        d,
        { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
        DEPLOY,
      ) as typeof d
    ).spec.strategy,
    { type: 'Recreate' },
  );
});

test('strategic merge: lists without a merge strategy are replaced; null deletes', () => {
  const pod = { spec: { containers: [{ name: 'a', args: ['1', '2'] }], tolerations: [{ key: 'a' }] } };
  const out = strategicMergePatch(
    pod,
    { spec: { containers: [{ name: 'a', args: ['3'] }], tolerations: null } },
    POD,
  ) as { spec: Record<string, unknown> };
  assert.deepEqual(out.spec.containers, [{ name: 'a', args: ['3'] }]);
  assert.equal(out.spec.tolerations, undefined);
});
