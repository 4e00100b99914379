// Regression test for torture seed 42 (docs/torture.md): a member that had no leader for longer than
// --request-timeout while a linearizable read waited never issued a ReadIndex again (the read stayed queued
// behind a failed leader wait), so every later read through it timed out while writes still worked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.js';
import { TortureCluster } from '../torture/cluster.js';

test(
  'linearizable reads through a member work again after it was without a leader',
  { timeout: 120_000 },
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
