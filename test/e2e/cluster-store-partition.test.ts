// Partitions and lost members: a SIGSTOPped minority serves no linearizable read or write while the
// majority goes on, and once it is back its first linearizable read already sees the majority's writes;
// a 5-member cluster goes on with two members down, and everyone converges afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from '../../store/server/cluster-testing.js';

test(
  '3 members: a paused minority serves nothing; the majority goes on; after healing it reads the latest',
  { timeout: 120_000 },
  async (t) => {
    const c = await StoreCluster.start(3, { extraArgs: ['--request-timeout', '3000'] });
    t.after(() => c.destroy());
    try {
      const leader = await c.waitLeader();
      const minority = c.members.find((m) => m !== leader)!;
      await leader.client.kv.Put({ key: Buffer.from('p/k'), value: Buffer.from('before') });
      c.pause(minority);

      // The majority goes on.
      for (let i = 0; i < 50; i++) {
        await leader.client.kv.Put({ key: Buffer.from('p/k'), value: Buffer.from(`during-${i}`) });
      }
      // The paused member answers neither a linearizable read nor a write.
      await assert.rejects(minority.client.kv.Range({ key: Buffer.from('p/k') }));
      await assert.rejects(minority.client.kv.Put({ key: Buffer.from('p/x'), value: Buffer.from('no') }));

      c.resume(minority);
      // Its first linearizable read goes through ReadIndex: never the stale 'before'.
      const r = await minority.client.kv.Range({ key: Buffer.from('p/k') });
      assert.equal(r.kvs[0].value.toString(), 'during-49');
      await c.waitConverged(c.members);
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);

test(
  '3 members: the isolated side without a quorum answers etcd errors within the request timeout',
  { timeout: 120_000 },
  async (t) => {
    const c = await StoreCluster.start(3, { extraArgs: ['--request-timeout', '3000'] });
    t.after(() => c.destroy());
    try {
      const leader = await c.waitLeader();
      const [a, b] = c.members.filter((m) => m !== leader);
      // Pausing two members leaves the leader alone: it is the minority now.
      c.pause(a!);
      c.pause(b!);
      const t0 = Date.now();
      const err = (await leader.client.kv.Put({ key: Buffer.from('q/k'), value: Buffer.from('v') }).then(
        () => undefined,
        (e: Error) => e,
      )) as Error | undefined;
      assert.ok(err, 'a write without a quorum must fail');
      assert.match(err.message, /etcdserver: (request timed out|no leader)/);
      assert.ok(Date.now() - t0 < 10_000, `failed after ${Date.now() - t0} ms`);
      const rerr = await leader.client.kv.Range({ key: Buffer.from('q/k') }).then(
        () => undefined,
        (e: Error) => e,
      );
      assert.ok(rerr, 'a linearizable read without a quorum must fail');
      assert.match(rerr.message, /etcdserver: (request timed out|no leader)/);
      // A serializable read still answers locally, as etcd.
      await leader.client.kv.Range({ key: Buffer.from('q/k'), serializable: true });
      c.resume(a!);
      c.resume(b!);
      await c.waitLeader();
      await c.waitConverged(c.members);
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);

test('5 members survive two members down', { timeout: 150_000 }, async (t) => {
  const c = await StoreCluster.start(5);
  t.after(() => c.destroy());
  try {
    const leader = await c.waitLeader();
    const down = [leader, c.members.find((m) => m !== leader)!];
    for (const m of down) await c.kill9(m);
    const live = c.running();
    assert.equal(live.length, 3);
    await c.waitLeader(live, 30_000);
    for (let i = 0; i < 100; i++) {
      const m = live[i % live.length]!;
      await m.client.kv.Put({ key: Buffer.from(`five/${i}`), value: Buffer.from(String(i)) });
    }
    const r = await live[0]!.client.kv.Range({
      key: Buffer.from('five/'),
      rangeEnd: Buffer.from('five0'),
      countOnly: true,
    });
    assert.equal(Number(r.count), 100);
    for (const m of down) await c.restart(m);
    await c.waitConverged(c.members);
  } catch (err) {
    t.diagnostic(c.logs());
    throw err;
  }
});
