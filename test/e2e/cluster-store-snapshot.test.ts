// A follower that is down while many keys are written and the log is compacted past it catches up by a
// snapshot streamed from the leader, and converges. CLUSTER_SNAPSHOT_KEYS sets the key count (default
// 5,000 in CI; the 50,000 with CLUSTER_SNAPSHOT_KEYS=50000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from '../../store/server/cluster-testing.js';

const KEYS = Number(process.env['CLUSTER_SNAPSHOT_KEYS'] ?? 5000);

test(
  `a follower down for ${KEYS} writes catches up by snapshot and converges`,
  { timeout: 300_000 },
  async (t) => {
    const c = await StoreCluster.start(3, {
      extraArgs: ['--snapshot-count', '1000', '--snapshot-catchup-entries', '100'],
    });
    t.after(() => c.destroy());
    try {
      const leader = await c.waitLeader();
      const follower = c.members.find((m) => m !== leader)!;
      await c.kill9(follower);

      // Writes through the leader, many in flight at once (each waits for commit on the two live members).
      const value = Buffer.alloc(100, 'x');
      let next = 0;
      const workers = Array.from({ length: 64 }, async () => {
        while (next < KEYS) {
          const i = next++;
          await leader.client.kv.Put({ key: Buffer.from(`snap/${String(i).padStart(6, '0')}`), value });
        }
      });
      await Promise.all(workers);

      await c.restart(follower);
      const rev = await c.waitConverged(c.members, 120_000);
      assert.ok(rev > KEYS, `revision ${rev}`);
      const out = leader.proc!.output();
      assert.match(out, /sent snapshot/, 'the leader streamed a snapshot to the follower');
      assert.match(follower.proc!.output(), /received snapshot/);
      const r = await follower.client.kv.Range({
        key: Buffer.from('snap/'),
        rangeEnd: Buffer.from('snap0'),
        countOnly: true,
        serializable: true,
      });
      assert.equal(Number(r.count), KEYS);
      t.diagnostic(`${KEYS} keys; converged at revision ${rev}`);
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);
