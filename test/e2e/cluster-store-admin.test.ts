// Cluster administration with etcdctl against 3 bin/store members: endpoint status shows each member's own
// view (one leader, same term, learner flags), move-leader transfers leadership, and a member of another
// cluster is refused at the peer handshake with a clear log line instead of being merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from '../../store/server/cluster-testing.js';
import { join } from 'node:path';
import { BIN, freePorts, startProcess, tempDir, waitFor } from '../support/index.js';

test('endpoint status, move-leader, and a foreign member refused', { timeout: 120_000 }, async (t) => {
  const c = await StoreCluster.start(3);
  t.after(() => c.destroy());
  try {
    const leader = await c.waitLeader();
    const r = await c.etcdctl(['endpoint', 'status', '-w', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const st = JSON.parse(r.stdout) as {
      Status: {
        header: { member_id: number };
        leader: number;
        raftTerm: number;
        isLearner?: boolean;
        raftIndex: number;
        raftAppliedIndex: number;
      };
    }[];
    assert.equal(st.length, 3);
    assert.equal(new Set(st.map((s) => s.Status.leader)).size, 1, 'one leader in every view');
    assert.equal(new Set(st.map((s) => s.Status.raftTerm)).size, 1);
    assert.equal(new Set(st.map((s) => s.Status.header.member_id)).size, 3, 'each member answers for itself');
    assert.ok(st.every((s) => !s.Status.isLearner && s.Status.raftAppliedIndex > 0));

    // --cluster asks one member for the member list and then each member, by its advertised http:// URL,
    // for its own status: the table a user reads.
    const cl = await c.etcdctl(['endpoint', 'status', '--cluster', '-w', 'json'], [c.members[0]!]);
    assert.equal(cl.code, 0, cl.stderr);
    const cst = JSON.parse(cl.stdout) as {
      Endpoint: string;
      Status: { header: { member_id: number }; leader: number };
    }[];
    assert.equal(cst.length, 3);
    assert.ok(
      cst.every((s) => s.Endpoint.startsWith('http://127.0.0.1:')),
      cl.stdout,
    );
    assert.equal(new Set(cst.map((s) => s.Status.header.member_id)).size, 3);
    assert.equal(new Set(cst.map((s) => s.Status.leader)).size, 1);
    const table = await c.etcdctl(['endpoint', 'status', '--cluster', '-w', 'table'], [c.members[1]!]);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.split('\n').filter((l) => l.startsWith('| http://'));
    assert.equal(rows.length, 3, table.stdout);
    assert.equal(
      rows.filter((r) => /\|\s+true\s+\|\s+false\s+\|/.test(r)).length,
      1,
      'one leader, no learner',
    );
    const hk = await c.etcdctl(['endpoint', 'hashkv', '--cluster', '-w', 'json'], [c.members[2]!]);
    assert.equal(hk.code, 0, hk.stderr);
    assert.equal((JSON.parse(hk.stdout) as unknown[]).length, 3);

    // move-leader, sent to the leader, hands leadership to a chosen follower.
    const target = c.members.find((m) => m !== leader)!;
    const tid = (await c.status(target)).memberId;
    const mv = await c.etcdctl(['move-leader', tid], [leader]);
    assert.equal(mv.code, 0, mv.stderr);
    assert.match(mv.stdout, /Leadership transferred/);
    assert.equal((await c.waitLeader()).name, target.name);
    // A bad transferee is refused with etcd's error.
    const bad = await c.etcdctl(['move-leader', 'ffff'], [target]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /bad leader transferee/);

    // A member of another cluster (its --initial-cluster names a member of this one as a peer) dials in:
    // the handshake refuses it with a clear line on both sides, and this cluster is untouched.
    const [cp, pp] = await freePorts(2);
    const tmp = tempDir('foreign-');
    const foreign = startProcess(process.execPath, [
      join(BIN, 'store'),
      '--name',
      'x',
      '--data-dir',
      join(tmp.path, 'x'),
      '--listen-client-urls',
      `http://127.0.0.1:${cp}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${cp}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${pp}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${pp}`,
      '--initial-cluster',
      `x=http://127.0.0.1:${pp},${target.name}=${target.peerURL}`,
      '--initial-cluster-token',
      'another-cluster',
    ]);
    t.after(async () => {
      await foreign.kill('SIGKILL');
      tmp.remove();
    });
    await waitFor(
      'the foreign member to be refused',
      () => /rejected a peer connection.*cluster ID mismatch/.test(target.proc!.output()),
      { timeoutMs: 30_000 },
    );
    await waitFor(
      'the foreign member to log its refusal',
      () => /peer rejected this member/.test(foreign.output()),
      { timeoutMs: 30_000 },
    );
    const ml = await c.etcdctl(['member', 'list']);
    assert.equal(ml.stdout.trim().split('\n').length, 3, 'nobody was merged');
    await c.waitConverged(c.members);
  } catch (err) {
    t.diagnostic(c.logs());
    throw err;
  }
});
