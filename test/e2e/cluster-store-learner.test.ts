// A learner answers as an etcd 3.4 learner does, checked with real etcdctl: serializable Range and Status
// only; writes, linearizable reads, leases and member calls are refused with "etcdserver: rpc not supported
// for learner" (gRPC UNAVAILABLE), and the same member serves them all once promoted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.js';
import { StoreCluster } from '../../store/server/cluster-testing.js';

const REFUSED = /etcdserver: rpc not supported for learner/;

test(
  'a learner refuses all but serializable reads and Status, until promoted',
  { timeout: 120_000 },
  async () => {
    const c = await StoreCluster.start(1);
    try {
      const [voter] = c.members as [(typeof c.members)[0]];
      assert.equal((await c.etcdctl(['put', 'k', 'v1'], [voter])).code, 0);
      const learner = await c.add({ learner: true });
      // /health (a leader and a read barrier) works on a learner, as the supervisor relies on.
      await c.waitServing(learner);
      const on = (args: string[]) => c.etcdctl(args, [learner]);

      // Serializable reads answer once the learner has caught up.
      await waitFor(
        'the learner to serve k serializably',
        async () => {
          const r = await on(['get', 'k', '--consistency=s', '--print-value-only']);
          return r.code === 0 && r.stdout.trim() === 'v1';
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const status = await c.etcdctl(['endpoint', 'status', '-w', 'json'], [learner]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout)[0].Status.isLearner, true, status.stdout);

      for (const args of [
        ['put', 'k', 'v2'],
        ['get', 'k'],
        ['del', 'k'],
        ['lease', 'grant', '10'],
        ['member', 'list'],
        ['endpoint', 'hashkv'],
        ['compaction', '1'],
      ]) {
        const r = await on(args);
        assert.notEqual(r.code, 0, `etcdctl ${args.join(' ')} on a learner succeeded: ${r.stdout}`);
        assert.match(r.stderr, REFUSED, `etcdctl ${args.join(' ')}`);
      }
      // Nothing refused was done.
      const k = await c.etcdctl(['get', 'k', '--print-value-only'], [voter]);
      assert.equal(k.stdout.trim(), 'v1');

      // Promoted, the same member serves everything.
      const list = await c.etcdctl(['member', 'list'], [voter]);
      // The simple format: id (hex), status, name, peer URLs, client URLs, is learner.
      const id = list.stdout
        .split('\n')
        .find((l) => l.includes(learner.peerURL))
        ?.split(',')[0]
        ?.trim();
      assert.ok(id, list.stdout);
      await waitFor(
        'the learner to be promoted',
        async () => (await c.etcdctl(['member', 'promote', id], [voter])).code === 0,
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      await waitFor('the promoted member to know it', async () => !(await c.status(learner)).isLearner, {
        timeoutMs: 30_000,
      });
      const put = await on(['put', 'k', 'v2']);
      assert.equal(put.code, 0, put.stderr);
      const get = await on(['get', 'k', '--print-value-only']);
      assert.equal(get.stdout.trim(), 'v2', get.stderr);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${c.logs()}`, { cause: err });
    } finally {
      await c.destroy();
    }
  },
);
