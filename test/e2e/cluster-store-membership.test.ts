// The membership walk with etcdctl against a 3-member bin/store cluster holding many keys: add a learner
// (promotion refused until it has caught up, with etcd's error), start it, promote it once in sync, remove
// an original member while it is down (it is refused and stops when it returns), then remove the leader;
// writes are served through every step and all converge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from '../../store/server/cluster-testing.js';
import { waitFor } from '../support/index.js';

test(
  'membership walk: learner add, promote, remove a member, remove the leader',
  { timeout: 180_000 },
  async (t) => {
    const c = await StoreCluster.start(3);
    t.after(() => c.destroy());
    let step = 0;
    /** A write through all endpoints: the cluster keeps serving. */
    const write = async (what: string) => {
      const r = await c.etcdctl(['put', `walk/${++step}`, what]);
      assert.equal(r.code, 0, `put during "${what}": ${r.stderr}`);
    };
    try {
      const leader0 = await c.waitLeader();
      const value = Buffer.alloc(200, 'k');
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < 3000) {
            const i = next++;
            await leader0.client.kv.Put({ key: Buffer.from(`bulk/${i}`), value });
          }
        }),
      );
      await write('before');

      // A learner, added and started; promotion is refused (etcd's words) until it has caught up.
      const learner = await c.add({ learner: true, start: false });
      // The simple format prints ids in hex (JSON numbers would lose the low bits of a uint64).
      const list = await c.etcdctl(['member', 'list']);
      const line = list.stdout.split('\n').find((l) => l.includes(learner.peerURL)) ?? '';
      const id = line.split(',')[0]!.trim();
      assert.match(line, /, true$/, `learner listed: ${list.stdout}`);
      const early = await c.etcdctl(['member', 'promote', id]);
      // Not started yet, so it holds nothing: the promotion must be refused.
      assert.notEqual(early.code, 0);
      assert.match(early.stderr, /can only promote a learner member which is in sync with leader/);
      await c.restart(learner);
      await write('learner running');

      // Promote once it is in sync (a refusal before that must be etcd's error).
      await waitFor(
        'learner promotion',
        async () => {
          const r = await c.etcdctl(
            ['member', 'promote', id],
            c.members.filter((m) => m !== learner),
          );
          if (r.code === 0) return true;
          assert.match(r.stderr, /can only promote a learner member which is in sync with leader/);
          return false;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const st = await c.status(learner);
      assert.equal(st.isLearner, false);
      await write('promoted');

      // Remove an original follower while it is down: when it comes back it is refused, and stops.
      const leader = await c.waitLeader();
      const follower = c.members.find((m) => m !== leader && m !== learner)!;
      const fid = (await c.status(follower)).memberId;
      await c.stop(follower);
      let r = await c.etcdctl(['member', 'remove', fid], [leader]);
      assert.equal(r.code, 0, r.stderr);
      await write('follower removed');
      await c.restart(follower, false);
      const code = await Promise.race([
        follower.proc!.exited,
        new Promise((res) => setTimeout(() => res('still running'), 30_000)),
      ]);
      assert.notEqual(code, 'still running', 'a removed member stops');
      assert.match(follower.proc!.output(), /permanently removed from the cluster/);
      await c.forget(follower);

      // Remove the leader itself: the others elect a new one and go on.
      const lid = (await c.status(leader)).memberId;
      r = await c.etcdctl(['member', 'remove', lid], [leader]);
      assert.equal(r.code, 0, r.stderr);
      await c.forget(leader);
      const rest = c.members;
      assert.equal(rest.length, 2);
      const newLeader = await c.waitLeader(rest, 30_000);
      assert.notEqual(newLeader, leader);
      await write('leader removed');

      const ml = JSON.parse((await c.etcdctl(['member', 'list', '-w', 'json'])).stdout).members as any[];
      assert.equal(ml.length, 2);
      assert.ok(ml.every((m) => !m.isLearner && m.clientURLs.length === 1));
      const rev = await c.waitConverged(rest);
      const got = await c.etcdctl(['get', 'walk/', '--prefix', '--keys-only']);
      assert.equal(got.stdout.split('\n').filter(Boolean).length, step);
      t.diagnostic(`converged at revision ${rev}`);
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);
