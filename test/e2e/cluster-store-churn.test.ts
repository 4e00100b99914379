// Membership churn back to back (the torture seed 303 finding): two members of three are removed and re-added
// with the same peer URL and a fresh data dir, one right after the other, and the second new member's first
// snapshot comes from a leader that joined after that snapshot was taken. Every member must serve and agree.
// And removals are remembered across restarts: a member removed while down is told so by restarted members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.js';
import { TortureCluster, type Member } from '../torture/cluster.js';
import { StoreCluster, type ClusterMember } from '../../store/server/cluster-testing.js';

const put = (m: Member, k: string, v: string) =>
  m.client.call('kv', 'Put', { key: Buffer.from(k), value: Buffer.from(v) }, 5000);

async function hashKV(m: Member): Promise<{ hash: number; rev: string }> {
  const r = await m.client.call('maintenance', 'HashKV', { revision: 0 }, 5000);
  return { hash: r.hash, rev: String(r.header.revision) };
}

test(
  'two members removed and re-added back to back: the second joins through a snapshot older than the first',
  { timeout: 180_000 },
  async () => {
    const log: string[] = [];
    const c = await TortureCluster.start({
      members: 3,
      log: (l) => log.push(l),
      // A small log in memory: a new member always starts from a snapshot, and the leader's newest snapshot
      // is taken before the membership changes below (fewer than --snapshot-count writes follow them).
      extraArgs: ['--snapshot-count', '200', '--snapshot-catchup-entries', '20'],
    });
    const why = (failed: Member) =>
      [
        log.join('\n'),
        ...[failed, ...c.members.filter((m) => m !== failed)].map(
          (m) => `--- ${m.name} output ---\n${m.proc?.output().slice(-6000) ?? ''}`,
        ),
      ].join('\n');
    try {
      const [s0, s1, s2] = c.members as [Member, Member, Member];
      for (let i = 0; i < 250; i++) await put(s2, `k${i % 40}`, `v${i}`);

      // s0 leaves and comes back as a new member: its first snapshot predates its own addition.
      await c.replace(s0, false);
      await c.waitServing(s0, 30_000).catch((err: Error) => assert.fail(`${err.message}\n${why(s0)}`));
      await put(s0, 'after-s0', 'x');

      // The new s0 leads: its newest snapshot is the one it joined with, whose membership still lists the
      // old s0 (same peer URL, another id) and not the new one.
      const s0id = BigInt('0x' + s0.id).toString();
      await waitFor(
        'the new s0 to lead',
        async () => {
          await s2.client.call('maintenance', 'MoveLeader', { targetID: s0id }, 8000).catch(() => undefined);
          return (await c.leader()) === s0;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );

      // s1 leaves and comes back at once; it must catch up from that snapshot and the entries after it.
      await c.replace(s1, false);
      await c.waitServing(s1, 30_000).catch((err: Error) => assert.fail(`${err.message}\n${why(s1)}`));
      await put(s1, 'after-s1', 'y');

      // Every member serves a linearizable read of the last write and has the same key space.
      for (const m of [s0, s1, s2]) {
        await waitFor(
          `${m.name} to read the last write`,
          async () => {
            const r = await m.client.call('kv', 'Range', { key: Buffer.from('after-s1') }, 3000);
            return r.kvs.length === 1 && r.kvs[0].value.toString() === 'y';
          },
          { timeoutMs: 20_000, intervalMs: 200 },
        );
      }
      const hashes = await waitFor(
        'one HashKV on every member',
        async () => {
          const hs = await Promise.all([s0, s1, s2].map(hashKV));
          return hs.every((h) => h.rev === hs[0]!.rev && h.hash === hs[0]!.hash) ? hs : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 300 },
      );
      assert.equal(hashes.length, 3);
      const list = await s2.client.call('cluster', 'MemberList', {}, 3000);
      assert.deepEqual(
        (list.members as { ID: string }[]).map((x) => BigInt(x.ID).toString(16)).sort(),
        [s0.id, s1.id, s2.id].sort(),
      );
    } finally {
      await c.destroy();
    }
  },
);

test(
  'a member removed while down is told so after every other member restarted (removed ids persist)',
  { timeout: 120_000 },
  async () => {
    // --snapshot-count 50: the removal is in a snapshot by the time the others restart, not only in the WAL.
    const c = await StoreCluster.start(3, { extraArgs: ['--snapshot-count', '50'] });
    try {
      const [a, b, gone] = c.members as [ClusterMember, ClusterMember, ClusterMember];
      const id = (await c.status(gone)).memberId;
      await c.stop(gone);
      // The stopped member may have led: retry until the others have a leader that takes the removal.
      await waitFor(
        'member remove',
        async () => {
          const r = await c.etcdctl(['member', 'remove', id], [a, b]);
          return r.code === 0 || /member not found/.test(r.stderr);
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      for (let i = 0; i < 120; i++)
        await a.client.kv.Put({ key: Buffer.from(`k${i}`), value: Buffer.from('v') });
      // Both others restart: what they know of the removal comes from their data dirs only.
      for (const m of [a, b]) await c.kill9(m);
      await Promise.all([a, b].map((m) => c.restart(m)));
      await c.restart(gone, false);
      const p = gone.proc!;
      await waitFor('the removed member to stop', () => p.child.exitCode !== null, { timeoutMs: 30_000 });
      assert.match(p.output(), /permanently removed from the cluster/);
      assert.match(c.logs(), /was removed from cluster/);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${c.logs()}`, { cause: err });
    } finally {
      await c.destroy();
    }
  },
);
