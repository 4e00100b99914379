// The membership walk with etcdctl against a 3-member bin/store cluster holding 100,000 keys: add a learner
// (promotion refused with etcd's error while it holds nothing), start it, check it holds the voters' exact
// key space at one revision, pause it until it is behind (promotion refused again), promote it once in
// sync, remove an original member while it is down (it is refused and stops when it returns), then remove
// the leader. A writer and a linearizable reader run through every step: no request fails except in a
// bounded window around the leader's removal, and no read is stale.
// CLUSTER_WALK_KEYS changes the key count (default 100,000, the issue's number).
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { StoreCluster, bulkLoad, type ClusterMember } from '../../store/server/cluster-testing.js';
import { rawClient, type RawEtcdClient } from '../../store/api/index.js';
import { waitFor } from '../support/index.js';

const KEYS = Number(process.env['CLUSTER_WALK_KEYS'] ?? 100_000);
/** Longest time without a successful write or read allowed around the leader's removal (election 1 s). */
const LEADER_REMOVAL_MAX_GAP_MS = 6_000;
/** Longest time without a success at any other step: only request latency on a loaded machine. */
const OTHER_MAX_GAP_MS = 5_000;
/** The live traffic's per-request deadline (the server's own --request-timeout is 7 s). */
const REQUEST_DEADLINE_MS = 3_000;

interface PhaseStats {
  writeFailures: string[];
  readFailures: string[];
  /** Longest time from a success of the writer / the reader in this phase to its next success. */
  writeGapMs: number;
  readGapMs: number;
}

/**
 * A closed-loop writer and a linearizable reader over the members in `serving`, round-robin, each request
 * with a deadline of REQUEST_DEADLINE_MS (so a request lost in a leader change shows as a failure and a
 * gap, not as one long wait); a failed request counts against the step it was sent in and is retried on the
 * next member. The writer puts `live/<n>`; the reader reads back the last key acknowledged before its
 * read was sent, which a linearizable read must find.
 */
function traffic(serving: ClusterMember[]) {
  const clients = new Map<ClusterMember, RawEtcdClient>();
  const client = (m: ClusterMember) => {
    if (!clients.has(m)) clients.set(m, rawClient(m.endpoint, REQUEST_DEADLINE_MS));
    return clients.get(m)!;
  };
  const phases = new Map<string, PhaseStats>();
  let phase = '';
  const setPhase = (p: string) => {
    phase = p;
    phases.set(p, { writeFailures: [], readFailures: [], writeGapMs: 0, readGapMs: 0 });
  };
  setPhase('start');
  let stop = false;
  let acked = -1;
  let reads = 0;
  const stale: string[] = [];
  /** Per loop: iterations started and finished (a request picks its member when it starts). */
  const started = { write: 0, read: 0 };
  const finished = { write: 0, read: 0 };
  const key = (n: number) => Buffer.from(`live/${String(n).padStart(6, '0')}`);

  /** Runs `op` on the members round-robin until stopped, recording failures and gaps between successes. */
  const loop = async (kind: 'write' | 'read', op: (c: RawEtcdClient, m: ClusterMember) => Promise<void>) => {
    let last = Date.now();
    let lastPhase = phase;
    for (let i = 0; !stop; i++) {
      const m = serving[i % serving.length]!;
      started[kind]++;
      const t = Date.now();
      const startPhase = phase;
      try {
        await op(client(m), m);
        const now = Date.now();
        const s = phases.get(lastPhase)!;
        if (kind === 'write') s.writeGapMs = Math.max(s.writeGapMs, now - last);
        else s.readGapMs = Math.max(s.readGapMs, now - last);
        last = now;
        lastPhase = phase;
      } catch (err) {
        // A failure counts against the step during which the request was sent.
        const s = phases.get(startPhase)!;
        const what = `${m.name} after ${Date.now() - t} ms: ${(err as Error).message}`;
        (kind === 'write' ? s.writeFailures : s.readFailures).push(what);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        finished[kind]++;
      }
    }
  };
  const writer = loop('write', async (c) => {
    const n = acked + 1;
    await c.kv.Put({ key: key(n), value: Buffer.from(String(n)) });
    acked = n;
  });
  const reader = loop('read', async (c, m) => {
    const floor = acked;
    if (floor < 0) {
      // Nothing to read back yet; a timer, not a resolved promise, so the writer gets its turn.
      await new Promise((r) => setTimeout(r, 10));
      return;
    }
    const r = await c.kv.Range({ key: key(floor) });
    if (r.kvs.length !== 1) stale.push(`${m.name} did not see live/${floor}, acknowledged before the read`);
    reads++;
  });

  return {
    phases,
    stale,
    setPhase,
    get acked() {
      return acked;
    },
    /** Resolves once the requests in flight now are done: later ones see the current `serving`. */
    settle() {
      const w = started.write;
      const r = started.read;
      return waitFor('in-flight live requests', () => finished.write >= w && finished.read >= r, {
        timeoutMs: 30_000,
        intervalMs: 10,
      });
    },
    get reads() {
      return reads;
    },
    async stop() {
      stop = true;
      await Promise.all([writer, reader]);
      for (const c of clients.values()) c.close();
    },
  };
}

/** A member's current revision, read locally. */
async function currentRevision(m: ClusterMember): Promise<number> {
  const r = await m.client.kv.Range({ key: Buffer.from('\0'), serializable: true, limit: 1 });
  return Number(r.header.revision);
}

/** sha256 over every key-value (key, value, create/mod revision, version, lease) at `rev`, read locally. */
async function contentDigest(m: ClusterMember, rev: number): Promise<string> {
  const h = createHash('sha256');
  let from = Buffer.from('\0');
  for (;;) {
    const r = await m.client.kv.Range({
      key: from,
      rangeEnd: Buffer.from('\0'),
      revision: rev,
      serializable: true,
      limit: 20_000,
    });
    for (const kv of r.kvs as any[]) {
      h.update(kv.key).update('\0').update(kv.value).update('\0');
      h.update(`${kv.createRevision},${kv.modRevision},${kv.version},${kv.lease}\n`);
    }
    if (!r.more) return h.digest('hex');
    from = Buffer.concat([r.kvs.at(-1).key, Buffer.from('\0')]);
  }
}

/** Member ids from `etcdctl member list -w json`, in hex (read from the text: JSON numbers lose uint64 bits). */
function jsonMemberIds(stdout: string): string[] {
  return [...stdout.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
}

test(
  `membership walk on ${KEYS} keys: learner add, promote, remove a member, remove the leader`,
  { timeout: 300_000 },
  async (t) => {
    const t0 = Date.now();
    const c = await StoreCluster.start(3);
    t.after(() => c.destroy());
    const serving = [...c.members];
    const live = traffic(serving);
    let liveStopped = false;
    const times: string[] = [];
    const mark = (what: string, since: number) => times.push(`${what} ${Date.now() - since} ms`);
    let step = 0;
    /** A write with etcdctl through every voter (a learner refuses writes, as etcd 3.4's). */
    const write = async (what: string) => {
      const r = await c.etcdctl(['put', `walk/${++step}`, what], serving);
      assert.equal(r.code, 0, `put during "${what}": ${r.stderr}`);
    };
    /**
     * Every member (all voters by then) has the same HashKV at revision `rev`, once each has reached it.
     * One call per member, one after the other: HashKV reads the whole key space and holds that member's
     * event loop meanwhile (store/server calls the synchronous hashKV), which the live traffic would feel.
     */
    const hashKVAgree = async (rev: number) => {
      await waitFor(
        `every member to reach revision ${rev}`,
        async () => (await Promise.all(c.members.map(currentRevision))).every((r) => r >= rev),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const hs: number[] = [];
      for (const m of c.members) hs.push(Number((await m.client.maintenance.HashKV({ revision: rev })).hash));
      assert.ok(
        hs.every((h) => h === hs[0]),
        `HashKV at ${rev}: ${c.members.map((m, i) => `${m.name}=${hs[i]}`).join(' ')}`,
      );
    };
    /** `etcdctl member list -w json` asked of every running member, until each one's answer passes `ok`. */
    const memberListEverywhere = (what: string, ok: (stdout: string, members: any[]) => boolean) =>
      waitFor(
        `every member to list ${what}`,
        async () => {
          let out = '';
          for (const m of c.running()) {
            const r = await c.etcdctl(['member', 'list', '-w', 'json'], [m]);
            if (r.code !== 0 || !ok(r.stdout, JSON.parse(r.stdout).members ?? [])) return undefined;
            out = r.stdout;
          }
          return out;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    try {
      const leader0 = await c.waitLeader();
      let ts = Date.now();
      live.setPhase('bulk load');
      await bulkLoad([leader0.client], 'bulk/', KEYS, 200);
      const bulkRev = Number((await leader0.client.kv.Range({ key: Buffer.from('bulk/') })).header.revision);
      mark('bulk load', ts);
      await write('before');

      // A learner, added and not started: it holds nothing, so promotion is refused with etcd's error.
      live.setPhase('learner add');
      const learner = await c.add({ learner: true, start: false });
      // Asked of the member that added it (the others list it once they apply the change).
      const list = await c.etcdctl(['member', 'list'], [c.members[0]!]);
      // The simple format prints ids in hex.
      const line = list.stdout.split('\n').find((l) => l.includes(learner.peerURL)) ?? '';
      const id = line.split(',')[0]!.trim();
      assert.match(line, /, true$/, `learner listed: ${list.stdout}`);
      const early = await c.etcdctl(['member', 'promote', id], serving);
      assert.notEqual(early.code, 0);
      assert.match(early.stderr, /can only promote a learner member which is in sync with leader/);

      // Started, it catches up on the whole store: before it is promoted, it holds exactly the voters'
      // key space at a revision that includes the bulk load.
      ts = Date.now();
      live.setPhase('learner catch-up');
      await c.restart(learner, false);
      const voters = c.members.filter((m) => m !== learner);
      let learnerHashKV = '';
      // etcd 3.4 serves a learner only serializable Range and Status, so the learner's side of the
      // comparison is a digest of a serializable read of the whole key space at one revision, compared
      // with the same read on a voter; the voters' HashKV at that revision must agree too.
      const hashRev = await waitFor(
        'the learner to hold the same keys as the voters at a revision that includes the bulk load',
        async () => {
          const rev = await currentRevision(learner);
          if (rev < bulkRev) return undefined;
          // One voter's digest suffices: the voters' HashKV below says they agree with each other.
          const [mine, theirs] = await Promise.all([learner, voters[0]!].map((m) => contentDigest(m, rev)));
          if (mine !== theirs) return undefined;
          const hs: any[] = [];
          for (const m of voters) hs.push(await m.client.maintenance.HashKV({ revision: rev }));
          assert.ok(
            hs.every((h: any) => h.hash === hs[0].hash),
            `voters' HashKV at ${rev}: ${hs.map((h: any) => h.hash)}`,
          );
          // HashKV on the learner itself: refused with etcd's error, or the same hash.
          const lh = await learner.client.maintenance.HashKV({ revision: rev }).then(
            (h: any) => h,
            (e: Error) => e,
          );
          if (lh instanceof Error) {
            assert.match(lh.message, /rpc not supported for learner/);
            learnerHashKV = 'refused';
          } else {
            assert.equal(lh.hash, hs[0].hash, `learner's HashKV at ${rev}`);
            learnerHashKV = 'equal';
          }
          return rev;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      mark('learner catch-up', ts);
      const lc = await learner.client.kv.Range({
        key: Buffer.from('bulk/'),
        rangeEnd: Buffer.from('bulk0'),
        countOnly: true,
        serializable: true,
      });
      assert.equal(Number(lc.count), KEYS);
      await write('learner running');

      // A learner that falls behind is refused again: paused, it acknowledges nothing while the leader's
      // log grows past the 90 % etcd requires; resumed, it catches up and is promoted.
      live.setPhase('learner behind');
      c.pause(learner);
      const pausedAt = (await c.status(leader0)).raftIndex;
      let lagged = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while ((await c.status(leader0)).raftIndex < (pausedAt + 50) / 0.85) {
            await leader0.client.kv.Put({ key: Buffer.from(`lag/${lagged++}`), value: Buffer.from('x') });
          }
        }),
      );
      const behind = await c.etcdctl(['member', 'promote', id], voters);
      c.resume(learner);
      assert.notEqual(behind.code, 0, 'a learner that is behind is not promoted');
      assert.match(behind.stderr, /can only promote a learner member which is in sync with leader/);
      const lagRev = Number((await leader0.client.kv.Range({ key: Buffer.from('lag/') })).header.revision);

      // Promotion: any refusal on the way must be etcd's error.
      live.setPhase('promote');
      let refusals = 0;
      await waitFor(
        'learner promotion',
        async () => {
          const r = await c.etcdctl(['member', 'promote', id], voters);
          if (r.code === 0) return true;
          assert.match(r.stderr, /can only promote a learner member which is in sync with leader/);
          refusals++;
          return false;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      // The reply comes once the leader (and the member asked) applied the change; the learner itself
      // knows when it applies the entry too.
      await waitFor(
        'the promoted member to see itself a voter',
        async () => !(await c.status(learner)).isLearner,
        { timeoutMs: 30_000 },
      );
      await memberListEverywhere(
        'four voters',
        (out, ms) => ms.length === 4 && ms.every((m) => !m.isLearner) && jsonMemberIds(out).length === 4,
      );
      serving.push(learner);
      await write('promoted');
      // A voter now: every member's HashKV agrees at a revision past the writes it missed while paused.
      await hashKVAgree(lagRev);

      // Remove an original follower while it is down: when it comes back it is refused, and stops.
      live.setPhase('remove a follower');
      const leader = await c.waitLeader();
      const follower = c.members.find((m) => m !== leader && m !== learner)!;
      const fid = (await c.status(follower)).memberId;
      serving.splice(serving.indexOf(follower), 1);
      await live.settle();
      await c.stop(follower);
      let r = await c.etcdctl(['member', 'remove', fid], [leader]);
      assert.equal(r.code, 0, r.stderr);
      await write('follower removed');
      await c.restart(follower, false);
      const fproc = follower.proc!;
      await waitFor('the removed member to stop', () => fproc.child.exitCode !== null, { timeoutMs: 30_000 });
      assert.match(follower.proc!.output(), /permanently removed from the cluster/);
      await c.forget(follower);

      // Remove the leader itself, with traffic still going to it: the others elect a new one and go on.
      live.setPhase('remove the leader');
      ts = Date.now();
      const lid = (await c.status(leader)).memberId;
      r = await c.etcdctl(['member', 'remove', lid], [leader]);
      assert.equal(r.code, 0, r.stderr);
      serving.splice(serving.indexOf(leader), 1);
      const rest = c.members.filter((m) => m !== leader);
      assert.equal(rest.length, 2);
      const newLeader = await c.waitLeader(rest, 30_000);
      assert.notEqual(newLeader, leader);
      // The removed leader stops by itself, as etcd's does.
      const lproc = leader.proc!;
      await waitFor('the removed leader to stop', () => lproc.child.exitCode !== null, { timeoutMs: 30_000 });
      assert.match(lproc.output(), /permanently removed from the cluster/);
      await c.forget(leader);
      await write('leader removed');
      mark('leader removal to a new leader', ts);

      live.setPhase('after');
      const acked = live.acked;
      await waitFor('traffic after the leader removal', () => live.acked >= acked + 20, {
        timeoutMs: 30_000,
      });
      await live.stop();
      liveStopped = true;

      const out = await memberListEverywhere(
        'the two remaining voters with their client URLs',
        (_, ms) => ms.length === 2 && ms.every((m) => !m.isLearner && m.clientURLs?.length === 1),
      );
      const ids = jsonMemberIds(out).sort();
      assert.deepEqual(ids, (await Promise.all(rest.map(async (m) => (await c.status(m)).memberId))).sort());
      assert.ok(!ids.includes(lid) && !ids.includes(fid));
      const rev = await c.waitConverged(rest);
      const got = await c.etcdctl(['get', 'walk/', '--prefix', '--keys-only']);
      assert.equal(got.stdout.split('\n').filter(Boolean).length, step);
      // Every acknowledged write of the live writer is on both remaining members.
      for (const m of rest) {
        const lr = await m.client.kv.Range({
          key: Buffer.from('live/'),
          rangeEnd: Buffer.from('live0'),
          keysOnly: true,
          serializable: true,
        });
        const have = new Set(lr.kvs.map((kv: any) => kv.key.toString()));
        for (let n = 0; n <= live.acked; n++)
          assert.ok(have.has(`live/${String(n).padStart(6, '0')}`), `${m.name} lost acknowledged live/${n}`);
      }

      // The cluster kept serving: no stale read, no failure outside the leader's removal, bounded gaps.
      const report = [...live.phases].map(
        ([p, s]) =>
          `${p}: write gap ${s.writeGapMs} ms, ${s.writeFailures.length} failed; ` +
          `read gap ${s.readGapMs} ms, ${s.readFailures.length} failed`,
      );
      t.diagnostic(
        `${KEYS} keys; the learner's key space matched the voters' at revision ${hashRev} (bulk at ` +
          `${bulkRev}; HashKV on the learner ${learnerHashKV}); promotion refused while ` +
          `${lagged} entries behind; after promotion HashKV matched at ${lagRev}; ${refusals} refusals before the ` +
          `promotion; converged at revision ${rev}; ${live.acked + 1} live writes, ${live.reads} live reads`,
      );
      t.diagnostic(times.join('; ') + `; whole test ${Date.now() - t0} ms`);
      for (const l of report) t.diagnostic(l);
      for (const [p, s] of live.phases)
        for (const f of [...s.writeFailures, ...s.readFailures].slice(0, 5)) t.diagnostic(`${p}: ${f}`);
      assert.deepEqual(live.stale, []);
      for (const [p, s] of live.phases) {
        const removal = p === 'remove the leader';
        const bound = removal ? LEADER_REMOVAL_MAX_GAP_MS : OTHER_MAX_GAP_MS;
        if (!removal) {
          assert.deepEqual(s.writeFailures, [], `writes failed during ${p}`);
          assert.deepEqual(s.readFailures, [], `reads failed during ${p}`);
        }
        assert.ok(s.writeGapMs <= bound, `${p}: no write for ${s.writeGapMs} ms`);
        assert.ok(s.readGapMs <= bound, `${p}: no read for ${s.readGapMs} ms`);
      }
    } catch (err) {
      t.diagnostic(c.logs());
      throw err;
    } finally {
      if (!liveStopped) await live.stop();
    }
  },
);
