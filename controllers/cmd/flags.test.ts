// Tests for Kubernetes-style flag parsing: forms, types, durations, lists and errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseFlags, FlagError, type FlagSpec } from './flags.js';

const specs: Record<string, FlagSpec> = {
  server: { type: 'string', help: '' },
  nodes: { type: 'int', default: 3, help: '' },
  'leader-elect': { type: 'bool', default: true, help: '' },
  period: { type: 'duration', default: '10s', help: '' },
  stop: { type: 'list', default: [], help: '' },
};

test('flags: both forms, defaults, booleans, durations, lists', () => {
  const v = parseFlags(
    [
      '--server=http://x',
      '--nodes',
      '5',
      '--leader-elect=false',
      '--period',
      '1m30s',
      '--stop',
      'a',
      '--stop=b,c',
    ],
    specs,
  );
  assert.deepEqual(v, {
    server: 'http://x',
    nodes: 5,
    'leader-elect': false,
    period: 90_000,
    stop: ['a', 'b', 'c'],
  });
  assert.deepEqual(parseFlags([], specs), { nodes: 3, 'leader-elect': true, period: 10_000, stop: [] });
  assert.equal(parseFlags(['--help'], specs), 'help');
});

test('flags: bad input is a clear error', () => {
  assert.throws(
    () => parseFlags(['--bogus'], specs),
    (e: Error) => e instanceof FlagError && /unknown flag: --bogus/.test(e.message),
  );
  assert.throws(() => parseFlags(['--nodes', 'x'], specs), /want an integer/);
  assert.throws(() => parseFlags(['--nodes'], specs), /needs an argument/);
  assert.throws(() => parseFlags(['--period', '10'], specs), /invalid duration/);
  assert.throws(() => parseFlags(['--leader-elect=maybe'], specs), /true or false/);
  assert.equal(parseDuration('250ms'), 250);
});
