// Reproduction of torture seed 42 (docs/torture.md, "Violations found"): a member that has no leader for
// longer than --request-timeout while a linearizable read waits never issues a ReadIndex again: the waiting
// batch stays queued (store/server/node.ts issueReadIndex drops the waitLeader rejection), so every later
// read through that member times out while writes through it still work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.js';
import { TortureCluster } from '../torture/cluster.js';

const SKIP =
  process.env.TORTURE_READINDEX === '1'
    ? false
    : 'known store bug, fix belongs to store/server (reads queued behind a failed waitLeader are never issued); TORTURE_READINDEX=1 runs it';

test(
  'linearizable reads through a member work again after it was without a leader',
  { skip: SKIP, timeout: 120_000 },
  async () => {
    const c = await TortureCluster.start({ members: 3, extraArgs: ['--request-timeout', '2000'] });
    try {
      const leader = await waitFor('a leader', () => c.leader(), { timeoutMs: 20_000 });
      const f = c.members.find((m) => m !== leader)!;
      for (const o of c.members)
        if (o !== f) {
          c.link(f.index, o.index, { kind: 'drop' });
          c.link(o.index, f.index, { kind: 'drop' });
        }
      // Cut off long enough to lose its leader (election timeout) and for the read to outlive --request-timeout.
      await waitFor(
        'the cut-off member to know it has no leader',
        async () => {
          const s = await f.client.call('maintenance', 'Status', {}, 2000);
          return s.leader === '0';
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await assert.rejects(f.client.call('kv', 'Range', { key: Buffer.from('/x') }, 5000));
      c.healNetwork();
      await leader.client.call('kv', 'Put', { key: Buffer.from('/x'), value: Buffer.from('1') }, 5000);
      await waitFor(
        `a linearizable read through ${f.name} after healing`,
        async () => {
          const r = await f.client.call('kv', 'Range', { key: Buffer.from('/x') }, 2500);
          return r.kvs.length === 1;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
    } finally {
      await c.destroy();
    }
  },
);
