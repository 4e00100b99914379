// Tests of the simulator's invariant checks: each must fire on a violation and stay quiet on legal histories.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../types.js';
import { EntryType } from '../types.js';
import { Checker, InvariantViolation } from './checker.js';

const e = (term: number, index: number, data: string): Entry => ({
  term,
  index,
  type: EntryType.Normal,
  data: new TextEncoder().encode(data),
});

test('two leaders in one term are caught', () => {
  const c = new Checker();
  c.leader(3, 'a');
  c.leader(3, 'a');
  assert.throws(() => c.leader(3, 'b'), InvariantViolation);
});

test('log matching: same index and term with different data, or a different predecessor, is caught', () => {
  const c = new Checker();
  c.persisted('a', [e(2, 5, 'x')], () => 1);
  c.persisted('b', [e(2, 5, 'x')], () => 1);
  assert.throws(() => c.persisted('c', [e(2, 5, 'y')], () => 1), /log matching/);
  assert.throws(() => c.persisted('c', [e(2, 5, 'x')], () => 2), /log matching/);
});

test('state machine safety: a different committed term or applied entry at an index is caught', () => {
  const c = new Checker();
  c.committed('a', 2, 0, 1, () => 2);
  assert.throws(() => c.committed('b', 3, 0, 1, () => 3), /state machine safety/);
  c.appliedEntry('a', e(2, 1, 'x'));
  assert.throws(() => c.appliedEntry('b', e(2, 1, 'z')), /applied sequences diverge/);
});

test('leader completeness binds leaders of later terms only (regression: seed 538 of the 3-node run)', () => {
  const c = new Checker();
  // Index 67 (term 33) is known committed in term 33.
  c.committed('n3', 33, 66, 67, (i) => (i === 67 ? 33 : 28));
  // A stale candidate of term 32 may still win a (legal) election without it.
  c.leaderCompleteness('n2', 32, 1, (i) => (i === 67 ? 28 : 28));
  // A leader of term 34 must hold it.
  assert.throws(() => c.leaderCompleteness('n2', 34, 1, () => 28), /leader completeness/);
  c.leaderCompleteness('n1', 34, 1, (i) => (i === 67 ? 33 : 28));
});
