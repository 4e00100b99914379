// A 3-member bin/store cluster under a leader crash: kill -9 the leader while clients write through every
// member; a new leader comes within a few election timeouts, no acknowledged write is lost, and the killed
// member rejoins and converges (same HashKV at the same revision everywhere).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster, type ClusterMember } from '../../store/server/cluster-testing.js';
import { waitFor } from '../support/index.js';

/** Writes keys through the members round-robin; a failed write is retried on the next member. */
function writer(c: StoreCluster, prefix: string) {
  const acked = new Map<string, string>();
  let stop = false;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      const key = `${prefix}${String(n).padStart(6, '0')}`;
      const value = `v${n}`;
      for (let attempt = 0; !stop; attempt++) {
        const ms = c.running();
        const m: ClusterMember = ms[(n + attempt) % ms.length]!;
        try {
          await m.client.kv.Put({ key: Buffer.from(key), value: Buffer.from(value) });
          acked.set(key, value);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      n++;
    }
  })();
  return {
    acked,
    async stop() {
      stop = true;
      await done;
    },
  };
}

test(
  '3 members: kill -9 the leader during writes; new leader, no acknowledged write lost, rejoin converges',
  { timeout: 120_000 },
  async (t) => {
    const c = await StoreCluster.start(3);
    t.after(() => c.destroy());
    try {
      const leader = await c.waitLeader();
      const w = writer(c, 'fo/');
      const before = Date.now();
      while (w.acked.size < 200 && Date.now() - before < 30_000) await new Promise((r) => setTimeout(r, 20));
      assert.ok(w.acked.size >= 200, `writes before the crash: ${w.acked.size}`);

      const t0 = Date.now();
      await c.kill9(leader);
      const survivors = c.running();
      const next = await c.waitLeader(survivors, 20_000);
      const electionMs = Date.now() - t0;
      assert.notEqual(next.name, leader.name);
      // Election timeout 1 s: a new leader within a few of them, on a loaded machine.
      assert.ok(electionMs < 10_000, `new leader after ${electionMs} ms`);
      const countAtElection = w.acked.size;
      const deadline = Date.now() + 30_000;
      while (w.acked.size < countAtElection + 200 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(w.acked.size >= countAtElection + 200, 'writes go on after the failover');

      // Clients given every endpoint, the dead one included, carry on: etcdctl and the etcd3 client.
      const ctl = await c.etcdctl(['put', 'fo-ctl', 'x'], c.members);
      assert.equal(ctl.code, 0, ctl.stderr);
      const { Etcd3 } = await import('etcd3');
      const e3 = new Etcd3({ hosts: c.members.map((m) => m.endpoint) });
      try {
        for (let i = 0; i < 10; i++) await e3.put(`fo-e3/${i}`).value('y');
        assert.equal(await e3.get('fo-e3/9').string(), 'y');
      } finally {
        e3.close();
      }

      await c.restart(leader);
      await w.stop();
      const rev = await c.waitConverged(c.members);
      assert.ok(rev > w.acked.size + 10);

      // Every acknowledged write is on every member, the restarted one included.
      for (const m of c.members) {
        const r = await m.client.kv.Range({
          key: Buffer.from('fo/'),
          rangeEnd: Buffer.from('fo0'),
          serializable: true,
        });
        const got = new Map<string, string>(r.kvs.map((kv: any) => [kv.key.toString(), kv.value.toString()]));
        for (const [k, v] of w.acked) assert.equal(got.get(k), v, `${m.name} lost acknowledged ${k}`);
      }
      t.diagnostic(
        `acked ${w.acked.size} writes; new leader after ${electionMs} ms; converged at revision ${rev}`,
      );
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    }
  },
);

test(
  '3 members: a watch and a lease kept alive on a follower survive the leader being killed',
  { timeout: 120_000 },
  async (t) => {
    const { Etcd3 } = await import('etcd3');
    const c = await StoreCluster.start(3);
    t.after(() => c.destroy());
    let client: InstanceType<typeof Etcd3> | undefined;
    let release = () => undefined as unknown;
    try {
      const leader = await c.waitLeader();
      const follower = c.members.find((m) => m !== leader)!;
      client = new Etcd3({ hosts: follower.endpoint });
      const lease = client.lease(3, { autoKeepAlive: true });
      // A failed run must not leave the keep-alive loop holding the test process open.
      release = () => lease.release();
      await lease.put('wl/leased').value('x');
      const leaseId = BigInt(await lease.grant());

      const events: { key: string; rev: number }[] = [];
      const start = Number(
        (await follower.client.kv.Range({ key: Buffer.from('wl/leased') })).header.revision,
      );
      const watcher = await client
        .watch()
        .prefix('wr/')
        .startRevision(String(start + 1))
        .create();
      watcher.on('put', (kv) => events.push({ key: kv.key.toString(), rev: Number(kv.mod_revision) }));

      const w = writer(c, 'wr/');
      while (w.acked.size < 100) await new Promise((r) => setTimeout(r, 20));
      await c.kill9(leader);
      await c.waitLeader(c.running(), 20_000);
      const n = w.acked.size;
      while (w.acked.size < n + 100) await new Promise((r) => setTimeout(r, 20));
      // Longer than the lease TTL after the election: only kept-alive leases survive this.
      await new Promise((r) => setTimeout(r, 4000));
      await w.stop();

      const last = Number((await follower.client.kv.Range({ key: Buffer.from('wr/') })).header.revision);
      await waitFor('watch to deliver every revision', () => events.at(-1)?.rev === last, {
        timeoutMs: 20_000,
      });
      // In order, without gaps or duplicates: every revision after the start is one of these puts.
      events.forEach((e, i) => assert.equal(e.rev, start + 1 + i, `event ${i} at revision ${e.rev}`));
      for (const k of w.acked.keys())
        assert.ok(
          events.some((e) => e.key === k),
          `watch missed ${k}`,
        );

      const ttl = await follower.client.lease.LeaseTimeToLive({ ID: String(leaseId) });
      assert.ok(Number(ttl.TTL) > 0, `lease TTL ${ttl.TTL} after the failover`);
      const kept = await follower.client.kv.Range({ key: Buffer.from('wl/leased') });
      assert.equal(kept.kvs.length, 1, 'the leased key is still there');
      await watcher.cancel();
      await lease.revoke();
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    } finally {
      release();
      client?.close();
    }
  },
);
