// Disaster recovery with etcd's --force-new-cluster: two of three members are lost for good; the survivor,
// restarted with the flag, becomes a one-member cluster holding every committed write, serves reads and
// writes, and stays one after a restart without the flag. A lost member that comes back is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from '../../store/server/cluster-testing.js';
import { waitFor } from '../support/index.js';

test(
  '--force-new-cluster: the last member of a cluster that lost its quorum serves again alone',
  { timeout: 120_000 },
  async () => {
    const c = await StoreCluster.start(3);
    try {
      const [s1, s2, s3] = c.members as [(typeof c.members)[0], (typeof c.members)[0], (typeof c.members)[0]];
      for (let i = 0; i < 50; i++)
        await s1.client.kv.Put({ key: Buffer.from(`k/${i}`), value: Buffer.from(`v${i}`) });
      const before = await s1.client.maintenance.HashKV({ revision: 0 });
      const rev = Number(before.header.revision);

      await c.kill9(s2);
      await c.kill9(s3);
      // Without a quorum the survivor serves no linearizable read.
      await assert.rejects(s1.client.kv.Range({ key: Buffer.from('k/0') }));

      await c.stop(s1);
      s1.args.push('--force-new-cluster');
      await c.restart(s1);
      const r = await s1.client.kv.Range({
        key: Buffer.from('k/'),
        rangeEnd: Buffer.from('k0'),
        countOnly: true,
      });
      assert.equal(Number(r.count), 50);
      const after = await s1.client.maintenance.HashKV({ revision: rev });
      assert.equal(after.hash, before.hash, 'the key space at the last revision is unchanged');
      const members = (await s1.client.cluster.MemberList({})).members;
      assert.equal(members.length, 1);
      assert.equal(members[0].name, s1.name);
      await s1.client.kv.Put({ key: Buffer.from('after'), value: Buffer.from('yes') });

      // As etcd advises: restart without the flag; it stays a one-member cluster with its data.
      s1.args.splice(s1.args.indexOf('--force-new-cluster'), 1);
      await c.restart(s1);
      assert.equal((await s1.client.cluster.MemberList({})).members.length, 1);
      assert.equal((await s1.client.kv.Range({ key: Buffer.from('after') })).kvs[0].value.toString(), 'yes');

      // A removed member that comes back with its old data is refused and stops.
      await c.restart(s2, false);
      await waitFor('the removed member to stop', () => s2.proc!.child.exitCode !== null, {
        timeoutMs: 30_000,
      });
      assert.equal((await s1.client.cluster.MemberList({})).members.length, 1);
    } finally {
      await c.destroy();
    }
  },
);
