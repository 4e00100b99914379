// Tests for leader election: the pure acquire rules, and two electors racing for one Lease on a fake
// API server (exactly one leads; when it stops, the other takes over).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient } from '../apimachinery/client.js';
import { Logger } from '../common/index.js';
import { LeaderElector, mayAcquire, microTime, nextRecord } from './leaderelection.js';
import { FakeApi } from './testing/fakeapi.js';

test('mayAcquire: free, own, and expired-by-our-clock leases can be taken', () => {
  assert.ok(mayAcquire(undefined, 'a', 0, 0, 15_000));
  assert.ok(mayAcquire({ holderIdentity: '' }, 'a', 0, 0, 15_000));
  assert.ok(mayAcquire({ holderIdentity: 'a', leaseDurationSeconds: 15 }, 'a', 0, 1, 15_000));
  assert.ok(!mayAcquire({ holderIdentity: 'b', leaseDurationSeconds: 15 }, 'a', 1000, 15_999, 15_000));
  assert.ok(mayAcquire({ holderIdentity: 'b', leaseDurationSeconds: 15 }, 'a', 1000, 16_000, 15_000));
});

test('nextRecord keeps acquireTime while renewing and counts transitions', () => {
  const first = nextRecord(undefined, 'a', 1000, 15_000);
  assert.equal(first.leaseTransitions, 0);
  const renewed = nextRecord(first, 'a', 5000, 15_000);
  assert.equal(renewed.acquireTime, first.acquireTime);
  assert.equal(renewed.renewTime, microTime(5000));
  const taken = nextRecord(renewed, 'b', 30_000, 15_000);
  assert.equal(taken.leaseTransitions, 1);
  assert.equal(taken.acquireTime, microTime(30_000));
  assert.match(microTime(0), /^1970-01-01T00:00:00\.000000Z$/);
});

test('two candidates: exactly one leads; after it releases, the other takes over', async () => {
  const api = new FakeApi();
  await api.start();
  const quiet = new Logger('test', 'error');
  const mk = (id: string) => {
    const client = new KubeClient({ server: api.url });
    const state = { leading: false, started: 0 };
    const el = new LeaderElector(
      client,
      {
        namespace: 'kube-system',
        name: 'test',
        identity: id,
        leaseDurationMs: 1500,
        renewDeadlineMs: 1000,
        retryPeriodMs: 200,
      },
      {
        onStartedLeading: () => ((state.leading = true), state.started++),
        onStoppedLeading: () => (state.leading = false),
      },
      quiet,
    );
    return { client, el, state, run: el.run() };
  };
  const a = mk('a');
  const b = mk('b');
  try {
    const deadline = Date.now() + 5000;
    while (!a.state.leading && !b.state.leading && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // Let several renew/retry rounds pass: never both.
    for (let i = 0; i < 20; i++) {
      assert.ok(!(a.state.leading && b.state.leading), 'two leaders at once');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [leader, standby] = a.state.leading ? [a, b] : [b, a];
    assert.ok(leader.state.leading && !standby.state.leading);
    await leader.el.stop();
    await leader.run;
    const t0 = Date.now();
    while (!standby.state.leading && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(standby.state.leading, 'standby took over after the release');
    assert.ok(Date.now() - t0 < 1500, 'a released lease is taken without waiting for expiry');
  } finally {
    await a.el.stop();
    await b.el.stop();
    a.client.close();
    b.client.close();
    await api.stop();
  }
});
