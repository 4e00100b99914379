// Unit tests for field selector parsing, escaping and the per-kind field sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFieldSelector,
  fieldSelectorMatches,
  unsupportedField,
  FieldSelectorParseError,
  objectFields,
} from './fields.js';
import type { KubeObject } from './types.js';

const pod = {
  metadata: { name: 'p1', namespace: 'ns' },
  spec: { nodeName: 'n1' },
  status: { phase: 'Running' },
} as KubeObject;

test('= == != on pod fields', () => {
  assert.equal(fieldSelectorMatches('Pod', parseFieldSelector('spec.nodeName=n1'), pod), true);
  assert.equal(fieldSelectorMatches('Pod', parseFieldSelector('spec.nodeName==n2'), pod), false);
  assert.equal(fieldSelectorMatches('Pod', parseFieldSelector('status.phase!=Running'), pod), false);
  assert.equal(
    fieldSelectorMatches('Pod', parseFieldSelector('status.phase!=Pending,metadata.name=p1'), pod),
    true,
  );
  // Unscheduled pods have spec.nodeName "" (what the scheduler watches for).
  assert.equal(
    fieldSelectorMatches('Pod', parseFieldSelector('spec.nodeName='), { ...pod, spec: {} } as KubeObject),
    true,
  );
});

test('escaped values and round trip', () => {
  const s = parseFieldSelector('metadata.name=a\\,b\\=c');
  assert.equal(s.requirements[0].value, 'a,b=c');
  assert.equal(parseFieldSelector(s.toString()).requirements[0].value, 'a,b=c');
  assert.throws(() => parseFieldSelector('metadata.name=a\\x'), FieldSelectorParseError);
  assert.throws(() => parseFieldSelector('justakey'), FieldSelectorParseError);
});

test('event involvedObject fields and unsupported labels', () => {
  const ev = {
    metadata: { name: 'e', namespace: 'ns' },
    involvedObject: { kind: 'Pod', name: 'p1', uid: 'u' },
  } as unknown as KubeObject;
  assert.equal(objectFields('Event', ev)['involvedObject.name'], 'p1');
  const sel = parseFieldSelector('involvedObject.name=p1,involvedObject.kind=Pod,involvedObject.uid=u');
  assert.equal(fieldSelectorMatches('Event', sel, ev), true);
  assert.equal(unsupportedField('Pod', parseFieldSelector('spec.bogus=1')), 'spec.bogus');
  assert.equal(unsupportedField('Event', sel), undefined);
});
