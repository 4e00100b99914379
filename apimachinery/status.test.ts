// Unit tests for Status constructors: codes, reasons and the wording clients parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  notFound,
  conflict,
  invalid,
  required,
  invalidValue,
  notSupported,
  StatusError,
  isConflict,
} from './status.js';

test('NotFound and Conflict wording', () => {
  const nf = notFound({ group: 'apps', resource: 'deployments' }, 'web');
  assert.equal(nf.code, 404);
  assert.equal(nf.message, 'deployments.apps "web" not found');
  assert.deepEqual(nf.details, { name: 'web', group: 'apps', kind: 'deployments' });
  const c = conflict({ group: '', resource: 'pods' }, 'p');
  assert.equal(c.code, 409);
  assert.match(c.message!, /^Operation cannot be fulfilled on pods "p": the object has been modified/);
  assert.equal(isConflict(new StatusError(c)), true);
});

test('Invalid has one cause per field and the Kubernetes summary', () => {
  const s = invalid('Pod', '', 'x', [
    required('spec.containers'),
    invalidValue('metadata.name', 'X', 'bad name'),
    notSupported('spec.restartPolicy', 'Sometimes', ['Always', 'Never', 'OnFailure']),
  ]);
  assert.equal(s.code, 422);
  assert.equal(s.reason, 'Invalid');
  assert.equal(s.details!.causes!.length, 3);
  assert.deepEqual(s.details!.causes![0], {
    reason: 'FieldValueRequired',
    message: 'Required value',
    field: 'spec.containers',
  });
  assert.equal(
    s.message,
    'Pod "x" is invalid: [spec.containers: Required value, metadata.name: Invalid value: "X": bad name, ' +
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"]',
  );
});
