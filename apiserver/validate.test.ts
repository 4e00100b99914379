// Unit tests for schema checks (types, required, enums, unknown fields), defaults and semantic rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchema, validateSemantics, validateObjectMeta, pruneFields, fieldPath } from './validate.js';
import { applyDefaults, defaultPullPolicy } from './defaults.js';
import type { FieldError } from '../apimachinery/index.js';

const DEPLOY = 'io.k8s.api.apps.v1.Deployment';

test('field paths read like Kubernetes', () => {
  assert.equal(fieldPath('/spec/template/spec/containers/0/image'), 'spec.template.spec.containers[0].image');
  assert.equal(fieldPath('/metadata/labels', 'a~1b'), 'metadata.labels.a~1b');
});

test('types, required, enums and unknown fields are told apart', () => {
  const r = checkSchema(DEPLOY, {
    metadata: { name: 'd', bogus: 1 },
    spec: {
      replicas: 'x',
      strategy: { type: 'Sideways' },
      template: { spec: { containers: [{ name: 'c', imagePullPolicy: 'Sometimes', extra: true }] } },
    },
  });
  assert.deepEqual(
    r.typeErrors.map((e) => e.field),
    ['spec.replicas'],
  );
  assert.deepEqual(r.unknownFields.sort(), ['metadata.bogus', 'spec.template.spec.containers[0].extra']);
  const byField = Object.fromEntries(r.fieldErrors.map((e) => [e.field, e.type]));
  assert.equal(byField['spec.selector'], 'FieldValueRequired');
  assert.equal(byField['spec.strategy.type'], 'FieldValueNotSupported');
  assert.equal(byField['spec.template.spec.containers[0].imagePullPolicy'], 'FieldValueNotSupported');
  const o = { metadata: { name: 'd', bogus: 1 } };
  pruneFields(o, ['metadata.bogus']);
  assert.deepEqual(o, { metadata: { name: 'd' } });
});

test('int-or-string and quantities accept both forms', () => {
  const d = {
    metadata: { name: 'd' },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { a: 'b' } },
        spec: {
          containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: '500m', memory: 1024 } } }],
        },
      },
    },
  };
  const r = checkSchema(DEPLOY, d);
  assert.deepEqual(r, { typeErrors: [], fieldErrors: [], unknownFields: [] });
  assert.equal(
    checkSchema(DEPLOY, { ...d, spec: { ...d.spec, strategy: { rollingUpdate: { maxSurge: true } } } })
      .typeErrors[0].field,
    'spec.strategy.rollingUpdate.maxSurge',
  );
});

test('defaults: deployment strategy, pod spec, pull policy by tag', () => {
  const d: Record<string, unknown> = {
    metadata: { name: 'd' },
    spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  };
  applyDefaults('Deployment', d);
  const spec = d.spec as Record<string, any>;
  assert.equal(spec.replicas, 1);
  assert.deepEqual(spec.strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
  });
  assert.equal(spec.template.spec.terminationGracePeriodSeconds, 30);
  assert.equal(spec.template.spec.containers[0].imagePullPolicy, 'Always');
  assert.equal(defaultPullPolicy('nginx:1.27'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('registry:5000/nginx'), 'Always');
  assert.equal(defaultPullPolicy('nginx:latest'), 'Always');
  assert.equal(defaultPullPolicy('nginx@sha256:abc'), 'IfNotPresent');
});

test('semantic rules: names, labels, selector vs template, duplicate containers', () => {
  const errs: FieldError[] = [];
  validateObjectMeta('Namespace', { name: 'a.b' }, false, errs);
  assert.equal(errs[0].field, 'metadata.name');
  const e2: FieldError[] = [];
  validateObjectMeta(
    'ConfigMap',
    { name: 'ok.name', labels: { 'bad key': 'v', good: 'bad value!' } },
    true,
    e2,
  );
  assert.deepEqual(
    e2.map((e) => e.field),
    ['metadata.namespace', 'metadata.labels', 'metadata.labels'],
  );
  const e3: FieldError[] = [];
  validateSemantics(
    'Deployment',
    {
      spec: {
        replicas: -1,
        selector: { matchLabels: { a: 'b' } },
        template: {
          metadata: { labels: { a: 'c' } },
          spec: {
            containers: [
              { name: 'x', image: 'i' },
              { name: 'x', image: 'i' },
            ],
          },
        },
      },
    },
    e3,
  );
  assert.deepEqual(
    e3.map((e) => `${e.field}:${e.type}`),
    [
      'spec.replicas:FieldValueInvalid',
      'spec.template.metadata.labels:FieldValueInvalid',
      'spec.template.spec.containers[1].name:FieldValueDuplicate',
    ],
  );
});
