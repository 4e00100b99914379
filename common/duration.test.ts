// Go durations as flags spell them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGoDuration } from './duration.js';

test('Go durations: units, sums, fractions and 0; anything else is undefined', () => {
  assert.equal(parseGoDuration('500ms'), 500);
  assert.equal(parseGoDuration('10s'), 10_000);
  assert.equal(parseGoDuration('1h30m'), 5_400_000);
  assert.equal(parseGoDuration('2.5s'), 2500);
  assert.equal(parseGoDuration('0'), 0);
  for (const bad of ['', '10', 'often', '5m x', '1d', 'm5', '10s ms']) {
    assert.equal(parseGoDuration(bad), undefined, bad);
  }
});
