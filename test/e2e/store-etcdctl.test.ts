// Real etcdctl 3.4 against bin/store: every command a user types, with the output etcd gives.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, tempDir, waitFor } from '../support/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';

const skip = !hasCommand('etcdctl') && 'etcdctl is not installed';

describe('etcdctl against bin/store', { skip }, () => {
  let s: StoreProcess;
  const ctl = async (args: string[], input?: string) => {
    const r = await s.etcdctl(args, { input });
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const ctlFail = async (args: string[]) => {
    const r = await s.etcdctl(args);
    assert.notEqual(r.code, 0, `etcdctl ${args.join(' ')} should fail`);
    return r.stderr;
  };
  const json = async (args: string[]) => JSON.parse(await ctl([...args, '-w', 'json']));
  const b64 = (x: string) => Buffer.from(x).toString('base64');

  before(async () => {
    s = await startStore();
  });
  after(async () => {
    await s?.destroy();
  });

  test('put and get, with revisions as etcd counts them', async () => {
    assert.equal((await ctl(['put', 'foo', 'bar'])).trim(), 'OK');
    assert.equal((await ctl(['put', 'foo2', 'baz'])).trim(), 'OK');
    assert.equal(await ctl(['get', 'foo']), 'foo\nbar\n');
    const r = await json(['get', 'foo', '--prefix']);
    assert.equal(r.header.revision, 3);
    assert.equal(r.count, 2);
    assert.deepEqual(
      r.kvs.map((kv: any) => [kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value]),
      [
        [b64('foo'), 2, 2, 1, b64('bar')],
        [b64('foo2'), 3, 3, 1, b64('baz')],
      ],
    );
    assert.equal(typeof r.header.cluster_id, 'number');
    assert.equal(typeof r.header.member_id, 'number');
    assert.ok(r.header.raft_term >= 1);
  });

  test('put --prev-kv, get --rev/--limit/--from-key/--keys-only/--sort-by/--order/--consistency', async () => {
    assert.equal(await ctl(['put', 'foo', 'qux', '--prev-kv']), 'OK\nfoo\nbar\n');
    assert.equal(await ctl(['get', 'foo', '--rev=2']), 'foo\nbar\n');
    assert.equal(await ctl(['get', 'foo', '--print-value-only']), 'qux\n');
    const lim = await json(['get', 'foo', '--prefix', '--limit', '1']);
    assert.equal(lim.more, true);
    assert.equal(lim.count, 2);
    assert.equal(lim.kvs.length, 1);
    assert.equal(await ctl(['get', 'foo', '--from-key', '--keys-only']), 'foo\n\nfoo2\n\n');
    assert.equal(
      await ctl(['get', 'foo', '--prefix', '--sort-by=MODIFY', '--order=DESCEND', '--keys-only']),
      'foo\n\nfoo2\n\n',
    );
    assert.equal(
      await ctl(['get', 'foo', '--prefix', '--sort-by=MODIFY', '--order=ASCEND', '--keys-only']),
      'foo2\n\nfoo\n\n',
    );
    assert.equal(await ctl(['get', 'foo', '--consistency=s', '--print-value-only']), 'qux\n');
    assert.match(
      await ctlFail(['get', 'foo', '--rev=1000']),
      /etcdserver: mvcc: required revision is a future revision/,
    );
  });

  test('del --prefix --prev-kv', async () => {
    await ctl(['put', 'd/1', 'one']);
    await ctl(['put', 'd/2', 'two']);
    assert.equal(await ctl(['del', 'd/', '--prefix', '--prev-kv']), '2\nd/1\none\nd/2\ntwo\n');
    assert.equal(await ctl(['del', 'd/', '--prefix']), '0\n');
  });

  test('txn -i reads compares and both branches from stdin', async () => {
    const out = await ctl(['txn', '-i'], 'value("foo") = "qux"\n\nput t yes\nget foo\n\nput t no\n\n');
    assert.ok(out.endsWith('SUCCESS\n\nOK\n\nfoo\nqux\n'), out);
    const out2 = await ctl(['txn', '-i'], 'mod("foo") < "2"\n\nput t yes\n\nput t no\n\n');
    assert.ok(out2.endsWith('FAILURE\n\nOK\n'), out2);
    assert.equal(await ctl(['get', 't', '--print-value-only']), 'no\n');
  });

  test('put --lease, --ignore-value, --ignore-lease; lease grant/timetolive/list/keep-alive/revoke', async () => {
    const grant = await ctl(['lease', 'grant', '60']);
    const m = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(grant);
    assert.ok(m, grant);
    const id = m[1]!;
    assert.equal(await ctl(['put', 'l1', 'v', `--lease=${id}`]), 'OK\n');
    assert.match(
      await ctl(['lease', 'timetolive', id, '--keys']),
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[l1\\]\\)\\n$`,
      ),
    );
    assert.match(await ctl(['lease', 'list']), new RegExp(`found 1 leases\\n${id}\\n`));
    assert.equal(await ctl(['lease', 'keep-alive', '--once', id]), `lease ${id} keepalived with TTL(60)\n`);
    assert.equal(await ctl(['put', 'l1', 'v2', '--ignore-lease']), 'OK\n');
    assert.equal(await ctl(['get', 'l1', '--print-value-only']), 'v2\n');
    assert.match(await ctl(['lease', 'timetolive', id, '--keys']), /attached keys\(\[l1\]\)/);
    assert.match(await ctlFail(['put', 'nokey', '--ignore-value']), /etcdserver: key not found/);
    assert.equal(await ctl(['lease', 'revoke', id]), `lease ${id} revoked\n`);
    assert.equal(await ctl(['get', 'l1']), '');
    assert.equal(await ctl(['lease', 'timetolive', id]), `lease ${id} already expired\n`);
    assert.match(await ctlFail(['put', 'l3', 'v', '--lease=1234']), /etcdserver: requested lease not found/);
  });

  test('a lease expires by itself and takes its keys', async () => {
    const id = /lease ([0-9a-f]+) granted/.exec(await ctl(['lease', 'grant', '2']))![1]!;
    await ctl(['put', 'short', 'lived', `--lease=${id}`]);
    await waitFor('the lease to expire', async () => (await ctl(['get', 'short'])) === '', {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
  });

  test('watch --rev --prefix --prev-kv streams the history and then live events', async () => {
    const rev = (await json(['get', 'foo'])).header.revision;
    await ctl(['put', 'w/a', '1']);
    await ctl(['put', 'w/a', '2']);
    const child = spawn('etcdctl', [
      '--endpoints',
      s.endpoint,
      'watch',
      'w/',
      '--prefix',
      '--prev-kv',
      `--rev=${rev + 1}`,
    ]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await waitFor('history events', () => out.includes('PUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\n'), {
        timeoutMs: 15_000,
      });
      await ctl(['del', 'w/a']);
      await waitFor('live delete event with prev kv', () => out.endsWith('DELETE\nw/a\n2\nw/a\n\n'), {
        timeoutMs: 15_000,
      });
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('compaction; reading or watching a compacted revision gives etcd errors', async () => {
    const rev = (await json(['get', 'foo'])).header.revision;
    assert.equal(await ctl(['compaction', String(rev - 2)]), `compacted revision ${rev - 2}\n`);
    assert.match(
      await ctlFail(['get', 'foo', '--rev=2']),
      /etcdserver: mvcc: required revision has been compacted/,
    );
    assert.match(
      await ctlFail(['compaction', String(rev - 3)]),
      /etcdserver: mvcc: required revision has been compacted/,
    );
    assert.match(
      await ctlFail(['compaction', String(rev + 100)]),
      /etcdserver: mvcc: required revision is a future revision/,
    );
  });

  test('endpoint status/health/hashkv, alarm list/disarm, member list', async () => {
    // s.endpoint is an http:// URL: etcdctl sends it whole as the HTTP/2 :authority for the per-endpoint
    // commands (endpoint status/hashkv, defrag, move-leader, and the --cluster forms), which Node's HTTP/2
    // alone would refuse (see store/api/authority.ts). Both URL and host:port endpoints must work.
    assert.match(s.endpoint, /^http:\/\//);
    const hostPort = `--endpoints=${s.endpoint.replace('http://', '')}`;
    for (const ep of [[], [hostPort]]) {
      const st = await json([...ep, 'endpoint', 'status']);
      assert.equal(st.length, 1);
      assert.equal(st[0].Endpoint, ep.length ? s.endpoint.replace('http://', '') : s.endpoint);
      assert.equal(st[0].Status.leader, st[0].Status.header.member_id);
      assert.ok(st[0].Status.raftIndex >= st[0].Status.raftAppliedIndex);
      assert.ok(st[0].Status.dbSize > 0);
      const h = await json([...ep, 'endpoint', 'hashkv']);
      assert.equal(typeof h[0].HashKV.hash, 'number');
    }
    // --cluster takes the members' advertised client URLs from MemberList.
    const table = await ctl(['endpoint', 'status', '--cluster', '-w', 'table']);
    assert.match(
      table,
      new RegExp(`\\| ${s.endpoint.replace(/[.]/g, '\\.')} \\| [0-9a-f]+ \\|\\s+3\\.4\\.0 \\|`),
    );
    const health = await s.etcdctl(['endpoint', 'health', '--cluster']);
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout + health.stderr, /is healthy: successfully committed proposal/);
    assert.equal(await ctl(['alarm', 'list']), '');
    assert.equal(await ctl(['alarm', 'disarm']), '');
    const ml = await json(['member', 'list']);
    assert.equal(ml.members.length, 1);
    assert.equal(ml.members[0].name, 's1');
    assert.deepEqual(ml.members[0].clientURLs, [s.endpoint]);
    assert.equal(ml.members[0].ID, ml.header.member_id);
    assert.match(await ctlFail(['member', 'remove', 'abcd']), /etcdserver: member not found/);
    assert.match(await ctl(['defrag']), /Finished defragmenting etcd member\[http:\/\//);
    assert.match(await ctl(['defrag', '--cluster']), /Finished defragmenting etcd member/);
    // JSON numbers lose the low bits of a 64-bit id: take the id as etcdctl prints it instead.
    const id = (await ctl(['member', 'list'])).split(',')[0]!;
    assert.match(id, /^[0-9a-f]{1,16}$/); // etcdctl prints ids with %x: no leading zeros
    assert.equal(await ctl(['move-leader', id]), `Leadership transferred from ${id} to ${id}\n`);
    assert.match(await ctlFail(['move-leader', '1234']), /etcdserver: bad leader transferee/);
  });

  test('snapshot save writes a backup file', async () => {
    const dir = tempDir('snap-');
    try {
      const file = join(dir.path, 'backup.db');
      const out = await ctl(['snapshot', 'save', file]);
      assert.match(out, /Snapshot saved at/);
      assert.ok(statSync(file).size > 32);
      assert.ok(readFileSync(file).includes(Buffer.from('foo2')));
      // The backup seeds a new member: same keys, same revision, and it takes new writes.
      const before = await json(['get', '', '--from-key']);
      const restored = await startStore({ name: 'r1', extraArgs: ['--restore-from', file] });
      try {
        const r = await restored.etcdctl(['get', '', '--from-key', '-w', 'json']);
        const after = JSON.parse(r.stdout);
        assert.equal(after.header.revision, before.header.revision);
        assert.deepEqual(after.kvs, before.kvs);
        assert.equal((await restored.etcdctl(['put', 'new', 'write'])).code, 0);
        assert.equal(
          (await restored.restart(), (await restored.etcdctl(['get', 'new', '--print-value-only'])).stdout),
          'write\n',
        );
      } finally {
        await restored.destroy();
      }
      const bad = await startStore({
        name: 'r2',
        extraArgs: ['--restore-from', join(dir.path, 'missing.db')],
        noWait: true,
      });
      assert.notEqual(await bad.proc.exited, 0);
      await bad.destroy();
    } finally {
      dir.remove();
    }
  });

  test('lock and elect (the concurrency recipes over KV, Lease and Watch)', async () => {
    const holder = spawn('etcdctl', ['--endpoints', s.endpoint, 'lock', 'mylock']);
    let hout = '';
    holder.stdout.on('data', (d) => (hout += d));
    try {
      await waitFor('the first lock holder', () => /^mylock\/[0-9a-f]+\n/.test(hout), { timeoutMs: 15_000 });
      const second = spawn('etcdctl', ['--endpoints', s.endpoint, 'lock', 'mylock']);
      let sout = '';
      second.stdout.on('data', (d) => (sout += d));
      try {
        // The second waiter must not get the lock while the first holds it.
        const keys = await ctl(['get', 'mylock/', '--prefix', '--keys-only']);
        await waitFor(
          'the second waiter to queue',
          async () => (await ctl(['get', 'mylock/', '--prefix', '--keys-only'])).split('\n\n').length >= 3,
          { timeoutMs: 15_000 },
        );
        assert.equal(sout, '', `second locker got the lock early (keys ${keys})`);
        holder.kill('SIGINT');
        await waitFor('the second locker to acquire', () => /^mylock\/[0-9a-f]+\n/.test(sout), {
          timeoutMs: 15_000,
        });
      } finally {
        second.kill('SIGKILL');
      }
    } finally {
      holder.kill('SIGKILL');
    }
    const cand = spawn('etcdctl', ['--endpoints', s.endpoint, 'elect', 'myelection', 'alice']);
    let cout = '';
    cand.stdout.on('data', (d) => (cout += d));
    try {
      await waitFor('the candidate to win', () => /^myelection\/[0-9a-f]+\nalice\n/.test(cout), {
        timeoutMs: 15_000,
      });
      const obs = spawn('etcdctl', ['--endpoints', s.endpoint, 'elect', '-l', 'myelection']);
      let oout = '';
      obs.stdout.on('data', (d) => (oout += d));
      try {
        await waitFor('the observer to see alice', () => oout.includes('alice'), { timeoutMs: 15_000 });
      } finally {
        obs.kill('SIGKILL');
      }
    } finally {
      cand.kill('SIGKILL');
    }
  });
});
