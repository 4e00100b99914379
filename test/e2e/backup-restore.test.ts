// Backup and restore of a whole cluster: a snapshot saved from the running store, the cluster destroyed,
// a new one started from the snapshot in new data dirs. Every object comes back with its uid and
// resourceVersion, and the controllers, finding the world as they left it, recreate nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, run, tempDir, waitFor } from '../support/index.js';
import { startTestCluster, type TestCluster } from '../../cluster/testing.js';

const KINDS = ['namespaces', 'configmaps', 'services', 'deployments', 'replicasets', 'pods'];

interface Seen {
  uid: string;
  resourceVersion: string;
}

async function inventory(c: TestCluster): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  for (const kind of KINDS) {
    const r = await c.kubectlLite(['get', kind, '-A', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    for (const o of JSON.parse(r.stdout).items) {
      out.set(`${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, {
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
      });
    }
  }
  return out;
}

test(
  'snapshot save while running, restore into new data dirs: every object back, nothing recreated',
  { timeout: 180_000 },
  async () => {
    const backup = tempDir('ekl-backup-');
    const a = await startTestCluster();
    let b: TestCluster | undefined;
    try {
      const ok = async (c: TestCluster, args: string[]) => {
        const r = await c.kubectlLite(args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      await ok(a, ['apply', '-f', 'manifests/']);
      await ok(a, ['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
      await ok(a, ['apply', '-f', 'manifests/v2/deployment.yaml']);
      await ok(a, ['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
      // Settled: the old ReplicaSet's pods have finished terminating.
      await waitFor(
        'three pods, none terminating',
        async () => {
          const r = await a.kubectlLite(['get', 'pods', '-n', 'demo', '-o', 'json']);
          const items: { metadata: { deletionTimestamp?: string } }[] =
            r.code === 0 ? JSON.parse(r.stdout).items : [];
          return items.length === 3 && items.every((p) => !p.metadata.deletionTimestamp);
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );

      // Quiesce the writers, so the inventory and the snapshot describe the same moment; the store
      // itself keeps serving.
      const control = a.file().control;
      for (const name of ['controller-manager', 'scheduler', 'node-agent'])
        await fetch(`${control}/components/${name}/stop`, { method: 'POST' });
      const before = await inventory(a);
      const file = join(backup.path, 'snap.db');
      assert.match(await ok(a, ['store', 'snapshot', 'save', file]), /Snapshot saved at/);
      const stopped = await run(join(BIN, 'cluster'), ['ctl', '--data-dir', a.dataDir, 'shutdown']);
      assert.equal(stopped.code, 0, stopped.stderr);

      // A new cluster in a new data dir, its store seeded from the snapshot.
      b = await startTestCluster(['--restore-from', file]);
      const after = await inventory(b);
      for (const [key, seen] of before) {
        const now = after.get(key);
        assert.ok(now, `${key} is back`);
        assert.equal(now.uid, seen.uid, `${key} keeps its uid`);
        if (!key.startsWith('pods/') && !key.startsWith('namespaces/'))
          assert.equal(now.resourceVersion, seen.resourceVersion, `${key} keeps its resourceVersion`);
      }

      // The controllers run again and find nothing to do: same ReplicaSets, same pods.
      await ok(b, ['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
      const settled = await inventory(b);
      const names = (m: Map<string, Seen>, kind: string) =>
        [...m.entries()]
          .filter(([k]) => k.startsWith(`${kind}/demo/`))
          .map(([k, v]) => `${k} ${v.uid}`)
          .sort();
      assert.deepEqual(names(settled, 'replicasets'), names(before, 'replicasets'));
      assert.deepEqual(names(settled, 'pods'), names(before, 'pods'));
    } finally {
      await b?.remove();
      await a.remove();
      backup.remove();
    }
  },
);

test('kubectl-lite store snapshot restore delegates to bin/store snapshot restore', async () => {
  const help = await run(join(BIN, 'store'), ['snapshot', 'restore', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /store snapshot restore FILE/);
  const dir = tempDir('ekl-restore-');
  try {
    const r = await run(join(BIN, 'kubectl-lite'), [
      'store',
      'snapshot',
      'restore',
      join(dir.path, 'missing.db'),
      '--data-dir',
      join(dir.path, 'x'),
      '--etcd-servers',
      'http://127.0.0.1:1',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such file or directory/);
    // --skip-hash-check goes through: a file without the sha256 is refused without it, read with it.
    const bare = join(dir.path, 'bare.db');
    writeFileSync(bare, Buffer.alloc(8192));
    const restore = (...extra: string[]) =>
      run(join(BIN, 'kubectl-lite'), [
        ...['store', 'snapshot', 'restore', bare, '--data-dir', join(dir.path, 'y')],
        ...['--name', 'r', '--initial-cluster', 'r=http://127.0.0.1:1', '--initial-advertise-peer-urls'],
        ...['http://127.0.0.1:1', ...extra],
      ]);
    assert.match((await restore()).stderr, /snapshot missing hash but --skip-hash-check=false/);
    assert.match((await restore('--skip-hash-check')).stderr, /not a backup/);
  } finally {
    dir.remove();
  }
});
