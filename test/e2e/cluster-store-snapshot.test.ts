// A follower that is down while 50,000 keys are written and the log is compacted past it catches up by a
// snapshot streamed from the leader (shown by both logs and by the snap file it keeps), and converges.
// CLUSTER_SNAPSHOT_KEYS changes the key count (default 50,000, the number).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BULK_TXN_OPS, StoreCluster, bulkLoad } from '../../store/server/cluster-testing.js';

const KEYS = Number(process.env['CLUSTER_SNAPSHOT_KEYS'] ?? 50_000);
const SNAPSHOT_COUNT = 100;
const CATCHUP_ENTRIES = 10;

/** The `index=` of every log line with this message (our logger writes `msg key=json ...`). */
function loggedIndexes(output: string, msg: string): number[] {
  const out: number[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes(`] ${msg} `)) continue;
    const m = / index=(\d+)/.exec(line);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

test(
  `a follower down for ${KEYS} writes catches up by snapshot and converges`,
  { timeout: 300_000 },
  async (t) => {
    const t0 = Date.now();
    const c = await StoreCluster.start(3, {
      extraArgs: [
        '--snapshot-count',
        String(SNAPSHOT_COUNT),
        '--snapshot-catchup-entries',
        String(CATCHUP_ENTRIES),
      ],
    });
    t.after(() => c.destroy());
    try {
      const leader = await c.waitLeader();
      const follower = c.members.find((m) => m !== leader)!;
      const followerIndex = (await c.status(follower)).raftAppliedIndex;
      await c.kill9(follower);

      const tLoad = Date.now();
      await bulkLoad([leader.client], 'snap/', KEYS, 100);
      const loadMs = Date.now() - tLoad;
      const leaderSt = await c.status(leader);
      // The leader's log no longer holds what the follower needs: its last snapshot compacted past it.
      const saved = loggedIndexes(leader.proc!.output(), 'saved snapshot');
      assert.ok(
        saved.some((i) => i - CATCHUP_ENTRIES > followerIndex),
        `leader compacted past the follower's index ${followerIndex} (snapshots at ${saved.join(',')})`,
      );

      const tCatch = Date.now();
      await c.restart(follower);
      const rev = await c.waitConverged(c.members, 120_000);
      const catchMs = Date.now() - tCatch;
      assert.ok(rev > KEYS / BULK_TXN_OPS, `revision ${rev}`);

      // Caught up by a snapshot, not by entries: the leader sent one past the follower's old index, the
      // follower received it and keeps it as its own snap file.
      const sent = loggedIndexes(leader.proc!.output(), 'sent snapshot');
      const received = loggedIndexes(follower.proc!.output(), 'received snapshot');
      assert.ok(
        sent.some((i) => i > followerIndex + CATCHUP_ENTRIES),
        `leader sent a snapshot: ${sent.join(',')}`,
      );
      assert.ok(
        sent.every((i) => received.includes(i)),
        `the follower received what the leader sent: ${received.join(',')}`,
      );
      const snapFiles = readdirSync(join(follower.dataDir, 'member', 'snap')).filter((f) =>
        f.endsWith('.snap'),
      );
      const snapIndexes = snapFiles.map((f) => parseInt(f.slice(17, 33), 16));
      assert.ok(
        snapIndexes.includes(sent[0]!),
        `follower's snap files ${snapFiles.join(',')} include index ${sent[0]}`,
      );

      const r = await follower.client.kv.Range({
        key: Buffer.from('snap/'),
        rangeEnd: Buffer.from('snap0'),
        countOnly: true,
        serializable: true,
      });
      assert.equal(Number(r.count), KEYS);
      const last = await follower.client.kv.Range({
        key: Buffer.from(`snap/${String(KEYS - 1).padStart(6, '0')}`),
        serializable: true,
      });
      assert.equal(last.kvs[0]?.value.length, 100);
      t.diagnostic(
        `${KEYS} keys loaded in ${loadMs} ms (leader at index ${leaderSt.raftIndex}); follower was at index ` +
          `${followerIndex}, snapshot at ${sent.join(',')}; caught up and converged at revision ${rev} in ` +
          `${catchMs} ms; whole test ${Date.now() - t0} ms`,
      );
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);
