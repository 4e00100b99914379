// Unit tests for field ownership and server-side apply merges and conflicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyConfiguration,
  trackUpdate,
  fieldPaths,
  toFieldsV1,
  fromFieldsV1,
  fieldsV1Of,
} from './managedfields.js';
import { DEFINITIONS } from './schemas.js';
import { StatusError, type KubeObject } from '../apimachinery/index.js';

const schema = DEFINITIONS['io.k8s.api.apps.v1.Deployment'];
const gr = { group: 'apps', resource: 'deployments' };
const dep = (replicas: number, image: string, extraLabels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', labels: { app: 'd', ...extraLabels } },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'd' } },
    template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image }] } },
  },
});

test('fieldsV1 round trip with keyed list items', () => {
  const paths = fieldPaths(dep(1, 'i'), schema);
  assert.ok(paths.has('f:spec\nf:template\nf:spec\nf:containers\nk:{"name":"c"}\nf:image'));
  assert.ok(paths.has('f:spec\nf:template\nf:spec\nf:containers\nk:{"name":"c"}\n.'));
  assert.deepEqual(fromFieldsV1(toFieldsV1(paths)), paths);
  assert.deepEqual(fromFieldsV1(fieldsV1Of(dep(1, 'i'), schema)), paths, 'the direct builder agrees');
});

test('apply creates, re-applies, removes fields it no longer applies, and conflicts with other managers', () => {
  const live = applyConfiguration(null, dep(1, 'a', { tier: 'x' }), 'alice', false, 'apps/v1', schema, gr);
  assert.equal(live.metadata.managedFields!.length, 1);
  // Alice drops the tier label: it goes away since nobody else owns it.
  const next = applyConfiguration(live, dep(1, 'a'), 'alice', false, 'apps/v1', schema, gr);
  assert.deepEqual(next.metadata.labels, { app: 'd' });
  // Bob updates replicas with a normal update: he now owns spec.replicas.
  const bobs = structuredClone(next);
  (bobs.spec as { replicas: number }).replicas = 5;
  trackUpdate(bobs, next, 'bob', 'apps/v1', schema);
  assert.ok(bobs.metadata.managedFields!.some((m) => m.manager === 'bob'));
  // Alice re-applying replicas: 1 now conflicts with bob's value...
  assert.throws(
    () => applyConfiguration(bobs, dep(1, 'a'), 'alice', false, 'apps/v1', schema, gr),
    (e: unknown) =>
      e instanceof StatusError &&
      e.code === 409 &&
      /conflict with "bob" using apps\/v1: \.spec\.replicas/.test(e.message),
  );
  // ...applying the same value co-owns without conflict, and force takes it over.
  assert.doesNotThrow(() => applyConfiguration(bobs, dep(5, 'a'), 'alice', false, 'apps/v1', schema, gr));
  const forced = applyConfiguration(bobs, dep(2, 'b'), 'alice', true, 'apps/v1', schema, gr);
  assert.equal((forced.spec as { replicas: number }).replicas, 2);
  assert.ok(!forced.metadata.managedFields!.some((m) => m.manager === 'bob'), 'bob lost his only field');
});
