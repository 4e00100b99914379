// Backups in etcd's own file format, both ways, with the real tools: a backup of bin/store taken with
// `etcdctl snapshot save` passes `etcdctl snapshot status`, and `etcdctl snapshot restore` turns it into a
// data dir a real etcd 3.4 serves the same keys, revisions and leases from; a backup of a real etcd becomes,
// through `bin/store snapshot restore`, a bin/store that serves what etcd served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawClient } from '../../store/api/index.js';
import { startStore } from '../../store/server/testing.js';
import {
  BIN,
  freePorts,
  hasCommand,
  run,
  startProcess,
  startRealEtcd,
  tempDir,
  waitFor,
  type Proc,
} from '../support/index.js';

const B = (s: string) => Buffer.from(s);
const url = (p: number) => `http://127.0.0.1:${p}`;
const ctl = (endpoint: string, ...args: string[]) => run('etcdctl', ['--endpoints', endpoint, ...args]);
const skip = !(hasCommand('etcd') && hasCommand('etcdctl')) && 'etcd and etcdctl are not installed';

/** The same writes on either server: puts, overwrites, a delete, a leased key, a compaction. */
async function script(endpoint: string): Promise<{ compactedAt: number; lease: string }> {
  const c = rawClient(endpoint.replace(/^http:\/\//, ''));
  try {
    for (let i = 0; i < 30; i++) await c.kv.Put({ key: B(`/b/k${i}`), value: B(`v${i}`) });
    await c.kv.Put({ key: B('/b/k1'), value: B('second') });
    const compactedAt = Number((await c.kv.Put({ key: B('/b/k1'), value: B('third') })).header.revision);
    await c.kv.DeleteRange({ key: B('/b/k2') });
    const lease = String((await c.lease.LeaseGrant({ TTL: 3600 })).ID);
    await c.kv.Put({ key: B('/b/leased'), value: B('l'), lease });
    await c.kv.Compact({ revision: compactedAt, physical: true });
    await c.kv.Put({ key: B('/b/k1'), value: B('fourth') });
    await c.kv.DeleteRange({ key: B('/b/k5') });
    return { compactedAt, lease };
  } finally {
    c.close();
  }
}

/** What a client sees: every key with its revisions and lease, a read in the past, the leases, HashKV. */
async function view(endpoint: string, compactedAt: number) {
  const now = await ctl(endpoint, 'get', '/b/', '--prefix', '-w', 'json');
  assert.equal(now.code, 0, now.stderr);
  const past = await ctl(endpoint, 'get', '/b/k1', `--rev=${compactedAt + 1}`, '-w', 'json');
  assert.equal(past.code, 0, past.stderr);
  const tooOld = await ctl(endpoint, 'get', '/b/k1', `--rev=${compactedAt - 1}`);
  // The simple form prints ids in hex (the JSON form's 64-bit numbers do not survive JSON.parse).
  const leases = await ctl(endpoint, 'lease', 'list');
  // etcd's HashKV over the whole stored history (bin/store computes it as etcd 3.4 does).
  const hashkv = await ctl(endpoint, 'endpoint', 'hashkv', '-w', 'json');
  assert.equal(hashkv.code, 0, hashkv.stderr);
  const n = JSON.parse(now.stdout);
  return {
    revision: n.header.revision as number,
    hash: JSON.parse(hashkv.stdout)[0].HashKV.hash as number,
    kvs: n.kvs,
    past: JSON.parse(past.stdout).kvs,
    tooOld: tooOld.stderr.includes('required revision has been compacted'),
    leases: leases.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((id) => BigInt(`0x${id}`).toString()),
  };
}

test(
  'etcdctl snapshot status and restore read a backup of bin/store; a real etcd serves it the same',
  { skip, timeout: 90_000 },
  async () => {
    const tmp = tempDir('backup-etcd-format-');
    const s = await startStore();
    let stopEtcd: (() => Promise<void>) | undefined;
    try {
      const { compactedAt, lease } = await script(s.endpoint);
      const ours = await view(s.endpoint, compactedAt);
      assert.equal(ours.tooOld, true);
      assert.deepEqual(ours.leases, [BigInt(lease).toString()]);
      const file = join(tmp.path, 'ours.db');
      const saved = await ctl(s.endpoint, 'snapshot', 'save', file);
      assert.equal(saved.code, 0, saved.stderr);

      const st = await run('etcdctl', ['snapshot', 'status', file, '-w', 'json']);
      assert.equal(st.code, 0, st.stderr);
      const status = JSON.parse(st.stdout) as { revision: number; totalKey: number; totalSize: number };
      assert.equal(status.revision, ours.revision);
      assert.ok(status.totalKey > 30, `totalKey ${status.totalKey}`);

      const [peer] = await freePorts(1);
      const dataDir = join(tmp.path, 'etcd');
      const cluster = `r=${url(peer!)}`;
      const restored = await run('etcdctl', [
        'snapshot',
        'restore',
        file,
        ...['--name', 'r', '--data-dir', dataDir, '--initial-cluster', cluster],
        ...['--initial-advertise-peer-urls', url(peer!)],
      ]);
      assert.equal(restored.code, 0, restored.stderr);
      const restoredEtcd = await startRealEtcd([], { dataDir, name: 'r', peerPort: peer! });
      stopEtcd = () => restoredEtcd.stop();
      assert.deepEqual(await view(restoredEtcd.endpoint, compactedAt), ours);
    } finally {
      await stopEtcd?.();
      await s.destroy();
      tmp.remove();
    }
  },
);

test(
  'bin/store snapshot restore reads a backup of a real etcd and serves what etcd served',
  { skip, timeout: 90_000 },
  async () => {
    const tmp = tempDir('backup-etcd-format-');
    const e = await startRealEtcd();
    let store: Proc | undefined;
    try {
      const { compactedAt } = await script(e.endpoint);
      const theirs = await view(e.endpoint, compactedAt);
      const file = join(tmp.path, 'etcd.db');
      const saved = await ctl(e.endpoint, 'snapshot', 'save', file);
      assert.equal(saved.code, 0, saved.stderr);

      const [client, peer] = await freePorts(2);
      const dataDir = join(tmp.path, 'store');
      const args = [
        ...[
          '--name',
          'r',
          '--initial-cluster',
          `r=${url(peer!)}`,
          '--initial-advertise-peer-urls',
          url(peer!),
        ],
      ];
      const restore = (f: string, dir: string, ...more: string[]) =>
        run(process.execPath, [
          join(BIN, 'store'),
          'snapshot',
          'restore',
          f,
          '--data-dir',
          dir,
          ...args,
          ...more,
        ]);
      // A db file without the snapshot's trailing sha256 (as in a member's data dir): only on request.
      const bare = join(tmp.path, 'bare.db');
      const whole = readFileSync(file);
      writeFileSync(bare, whole.subarray(0, whole.length - 32));
      const refused = await restore(bare, join(tmp.path, 'bare1'));
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /snapshot missing hash but --skip-hash-check=false/);
      assert.equal((await restore(bare, join(tmp.path, 'bare2'), '--skip-hash-check')).code, 0);
      // A damaged backup is refused by its sha256.
      const bad = join(tmp.path, 'bad.db');
      writeFileSync(bad, Buffer.concat([whole.subarray(0, 5000), Buffer.from('x'), whole.subarray(5001)]));
      assert.match((await restore(bad, join(tmp.path, 'bad'))).stderr, /expected sha256 [0-9a-f]{64}, got/);

      const r = await restore(file, dataDir);
      assert.equal(r.code, 0, r.stderr);
      store = startProcess(process.execPath, [
        join(BIN, 'store'),
        ...[
          '--data-dir',
          dataDir,
          '--listen-client-urls',
          url(client!),
          '--advertise-client-urls',
          url(client!),
        ],
        ...['--listen-peer-urls', url(peer!), ...args],
      ]);
      await waitFor(
        'the restored bin/store to serve',
        async () => (await ctl(url(client!), 'endpoint', 'health')).code === 0,
        {
          timeoutMs: 20_000,
        },
      );
      assert.deepEqual(await view(url(client!), compactedAt), theirs);
    } finally {
      await store?.kill('SIGTERM');
      await e.stop();
      tmp.remove();
    }
  },
);
