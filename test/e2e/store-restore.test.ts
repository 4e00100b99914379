// `bin/store snapshot restore`: a backup taken with etcdctl from a running member becomes the data dirs of a
// new three-member cluster, which serves every key at its revision and agrees on one HashKV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  BIN,
  freePorts,
  hasCommand,
  run,
  startProcess,
  tempDir,
  waitFor,
  type Proc,
} from '../support/index.js';

const store = join(BIN, 'store');
const url = (p: number) => `http://127.0.0.1:${p}`;

function member(name: string, dir: string, client: number, peer: number, extra: string[] = []): Proc {
  return startProcess(process.execPath, [
    store,
    ...['--name', name, '--data-dir', dir, '--listen-client-urls', url(client)],
    ...['--advertise-client-urls', url(client), '--listen-peer-urls', url(peer)],
    ...['--initial-advertise-peer-urls', url(peer), ...extra],
  ]);
}

const ctl = (endpoints: string, ...args: string[]) => run('etcdctl', ['--endpoints', endpoints, ...args]);

test(
  'a backup restores into a new three-member cluster with every key and one HashKV',
  { skip: !hasCommand('etcdctl') && 'etcdctl is not installed', timeout: 120_000 },
  async () => {
    const tmp = tempDir('store-restore-');
    const procs: Proc[] = [];
    try {
      const [c0, p0, ...ports] = await freePorts(8);
      const src = member('src', join(tmp.path, 'src'), c0!, p0!);
      procs.push(src);
      const ep0 = `127.0.0.1:${c0}`;
      await waitFor('the source member', async () => (await ctl(ep0, 'endpoint', 'health')).code === 0, {
        timeoutMs: 20_000,
      });
      for (let i = 0; i < 20; i++) assert.equal((await ctl(ep0, 'put', `/k/${i}`, `v${i}`)).code, 0);
      await ctl(ep0, 'del', '/k/3');
      const before = await ctl(ep0, 'get', '/k/', '--prefix', '-w', 'json');
      const backup = join(tmp.path, 'backup.db');
      const saved = await ctl(ep0, 'snapshot', 'save', backup);
      assert.equal(saved.code, 0, saved.stderr);
      await src.kill('SIGTERM');

      const names = ['r1', 'r2', 'r3'];
      const clients = [ports[0]!, ports[2]!, ports[4]!];
      const peers = [ports[1]!, ports[3]!, ports[5]!];
      const initialCluster = names.map((n, i) => `${n}=${url(peers[i]!)}`).join(',');
      const common = ['--initial-cluster', initialCluster, '--initial-cluster-token', 'restored'];
      for (const [i, n] of names.entries()) {
        const r = await run(process.execPath, [
          store,
          ...['snapshot', 'restore', backup, '--name', n, '--data-dir', join(tmp.path, n)],
          ...['--initial-advertise-peer-urls', url(peers[i]!), ...common],
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /restored snapshot/);
      }
      const again = await run(process.execPath, [
        store,
        ...['snapshot', 'restore', backup, '--name', 'r1', '--data-dir', join(tmp.path, 'r1')],
        ...['--initial-advertise-peer-urls', url(peers[0]!), ...common],
      ]);
      assert.notEqual(again.code, 0, 'restoring over an existing member must be refused');
      assert.match(again.stderr, /already holds a member/);

      for (const [i, n] of names.entries())
        procs.push(member(n, join(tmp.path, n), clients[i]!, peers[i]!, common));
      const eps = clients.map((c) => `127.0.0.1:${c}`).join(',');
      await waitFor('the restored cluster to elect a leader', async () => {
        const s = await ctl(eps, 'endpoint', 'status', '-w', 'json');
        return (
          s.code === 0 &&
          (JSON.parse(s.stdout) as { Status: { leader: number } }[]).every((x) => x.Status.leader)
        );
      });
      const after = await ctl(`127.0.0.1:${clients[1]}`, 'get', '/k/', '--prefix', '-w', 'json');
      assert.deepEqual(JSON.parse(after.stdout).kvs, JSON.parse(before.stdout).kvs);
      assert.equal(
        JSON.parse(after.stdout).header.revision,
        JSON.parse(before.stdout).header.revision,
        'the restored store resumes at the backup revision',
      );
      assert.equal((await ctl(`127.0.0.1:${clients[2]}`, 'put', '/k/new', 'x')).code, 0);
      await waitFor('one HashKV on all three members', async () => {
        const h = await ctl(eps, 'endpoint', 'hashkv', '-w', 'json');
        if (h.code !== 0) return false;
        const hashes = (JSON.parse(h.stdout) as { HashKV: { hash: number } }[]).map((x) => x.HashKV.hash);
        return hashes.length === 3 && new Set(hashes).size === 1;
      });
      const ids = new Set(
        JSON.parse((await ctl(eps, 'member', 'list', '-w', 'json')).stdout).members.map(
          (m: { name: string }) => m.name,
        ),
      );
      assert.deepEqual([...ids].sort(), names);
    } finally {
      await Promise.all(procs.map((p) => p.kill('SIGKILL')));
      tmp.remove();
    }
  },
);
