// Unit tests for label selector parsing and matching (string syntax and LabelSelector objects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSelector,
  selectorFromLabelSelector,
  SelectorParseError,
  formatLabelSelector,
  Selector,
} from './labels.js';

test('equality, inequality, sets, exists and !key', () => {
  const s = parseSelector(
    'app=web, tier==front,env in (prod, qa),track notin (canary),release,!legacy,zone!=b',
  );
  const base = { app: 'web', tier: 'front', env: 'prod', release: '1' };
  assert.equal(s.matches(base), true);
  assert.equal(s.matches({ ...base, app: 'db' }), false);
  assert.equal(s.matches({ ...base, env: 'dev' }), false);
  assert.equal(s.matches({ ...base, track: 'canary' }), false);
  assert.equal(s.matches({ ...base, track: 'stable' }), true);
  assert.equal(s.matches({ ...base, legacy: '' }), false);
  assert.equal(s.matches({ ...base, zone: 'b' }), false);
  assert.equal(s.matches({ ...base, zone: 'a' }), true);
  const { release: _r, ...noRelease } = base;
  assert.equal(s.matches(noRelease), false);
});

test('!= and notin match objects without the key', () => {
  assert.equal(parseSelector('a!=x').matches({}), true);
  assert.equal(parseSelector('a notin (x)').matches(undefined), true);
  assert.equal(parseSelector('a in (x)').matches({}), false);
});

test('empty selector selects everything; toString round-trips', () => {
  assert.equal(parseSelector('').empty(), true);
  assert.equal(parseSelector('  ').matches({ a: 'b' }), true);
  const s = parseSelector('b in (y,x),a=1,!c,d');
  assert.equal(s.toString(), 'a=1,b in (x,y),!c,d');
  assert.deepEqual(parseSelector(s.toString()).requirements, s.requirements);
});

test('gt and lt compare integers', () => {
  assert.equal(parseSelector('n>3').matches({ n: '4' }), true);
  assert.equal(parseSelector('n>3').matches({ n: '3' }), false);
  assert.equal(parseSelector('n<3').matches({ n: 'x' }), false);
});

test('malformed selectors are rejected with a parse error', () => {
  for (const bad of [
    'a in x',
    'a in (b',
    '=b',
    'a=b,',
    'a b',
    'a=b c',
    'in (',
    '-bad-=x',
    'a=b!',
    'a>x',
    'a in ()',
  ]) {
    assert.throws(() => parseSelector(bad), SelectorParseError, bad);
  }
  assert.throws(() => parseSelector('a=' + 'x'.repeat(64)), SelectorParseError);
});

test('LabelSelector objects: matchLabels and matchExpressions; nil matches nothing, {} everything', () => {
  const s = selectorFromLabelSelector({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'env', operator: 'In', values: ['prod'] },
      { key: 'debug', operator: 'DoesNotExist' },
    ],
  });
  assert.equal(s.matches({ app: 'web', env: 'prod' }), true);
  assert.equal(s.matches({ app: 'web', env: 'prod', debug: '1' }), false);
  assert.equal(selectorFromLabelSelector(undefined).matches({}), false);
  assert.equal(selectorFromLabelSelector({}).matches({ a: 'b' }), true);
  assert.equal(formatLabelSelector({ matchLabels: { app: 'web' } }), 'app=web');
  assert.ok(Selector.nothing().empty() === false);
  assert.throws(() =>
    selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bogus' as 'In' }] }),
  );
});
