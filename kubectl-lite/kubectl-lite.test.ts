// Unit tests of kubectl-lite's pure parts: flag parsing, the three-way merge behind apply, AGE wording,
// rollout status messages and table layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, humanDuration, parseArgs, rolloutMessage, threeWayMergePatch } from './index.js';
import type { Deployment } from '../apimachinery/index.js';

test('flags go anywhere, in kubectl’s forms', () => {
  const a = parseArgs(['get', '-n', 'demo', 'pods', '-owide', '--selector=app=web', '-A', 'x']);
  assert.deepEqual(a.positional, ['get', 'pods', 'x']);
  assert.deepEqual(a.flags.get('namespace'), ['demo']);
  assert.deepEqual(a.flags.get('output'), ['wide']);
  assert.deepEqual(a.flags.get('selector'), ['app=web']);
  assert.deepEqual(a.flags.get('all-namespaces'), ['true']);
  assert.throws(() => parseArgs(['get', '--bogus']), /unknown flag: --bogus/);
  assert.throws(() => parseArgs(['get', '-n']), /flag needs an argument/);
});

test('three-way merge: sets what changed, deletes what the last apply set and this one drops', () => {
  const original = { metadata: { labels: { a: '1', b: '2' } }, spec: { replicas: 3, paused: false } };
  const modified = { metadata: { labels: { a: '1' } }, spec: { replicas: 5 } };
  const current = {
    metadata: { labels: { a: '1', b: '2', other: 'x' }, uid: 'u' },
    spec: { replicas: 3, paused: false, strategy: { type: 'RollingUpdate' } },
  };
  assert.deepEqual(threeWayMergePatch(original, modified, current), {
    metadata: { labels: { b: null } },
    spec: { replicas: 5, paused: null },
  });
  // Nothing changed in the file: no patch, even though the server added fields.
  assert.deepEqual(threeWayMergePatch(modified, modified, { ...current, spec: { replicas: 5 } }), {});
});

test('lists compare with the last applied copy, not the defaulted live one', () => {
  const ports = [{ port: 80 }];
  const original = { spec: { ports } };
  const current = { spec: { ports: [{ port: 80, protocol: 'TCP' }] } };
  assert.deepEqual(threeWayMergePatch(original, { spec: { ports } }, current), {});
  assert.deepEqual(threeWayMergePatch(original, { spec: { ports: [{ port: 81 }] } }, current), {
    spec: { ports: [{ port: 81 }] },
  });
});

test('AGE as kubectl words it', () => {
  const s = 1000;
  assert.equal(humanDuration(5 * s), '5s');
  assert.equal(humanDuration(119 * s), '119s');
  assert.equal(humanDuration(150 * s), '2m30s');
  assert.equal(humanDuration(600 * s), '10m');
  assert.equal(humanDuration(3 * 3600 * s + 120 * s), '3h2m');
  assert.equal(humanDuration(30 * 3600 * s), '30h');
  assert.equal(humanDuration(3 * 86400 * s + 3600 * s), '3d1h');
  assert.equal(humanDuration(400 * 86400 * s), '400d');
  assert.equal(humanDuration(-5 * s), '<invalid>');
});

test('rollout status messages follow the deployment status', () => {
  const d = (status: Deployment['status'], generation = 2): Deployment => ({
    metadata: { name: 'web', generation },
    spec: { replicas: 3, selector: {}, template: { spec: { containers: [] } } },
    status,
  });
  assert.match(rolloutMessage(d({ observedGeneration: 1 })).msg, /spec update to be observed/);
  assert.equal(
    rolloutMessage(d({ observedGeneration: 2, updatedReplicas: 1, replicas: 4 })).msg,
    'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
  );
  assert.equal(
    rolloutMessage(d({ observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 })).msg,
    'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
  );
  assert.deepEqual(
    rolloutMessage(d({ observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 })),
    {
      done: true,
      msg: 'deployment "web" successfully rolled out',
    },
  );
});

test('tables pad to the widest cell plus three spaces', () => {
  assert.equal(
    formatTable([
      ['NAME', 'AGE'],
      ['web-abc', '5s'],
    ]),
    'NAME      AGE\nweb-abc   5s\n',
  );
});
