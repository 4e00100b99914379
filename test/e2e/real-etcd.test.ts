// Checks that the reference etcd used by comparison tests can be started and driven by etcdctl here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, run, startRealEtcd } from '../support/index.js';

test(
  'reference etcd starts on a free port and answers etcdctl',
  { skip: !hasCommand('etcd') && 'etcd-server is not installed' },
  async () => {
    const etcd = await startRealEtcd();
    try {
      const put = await run('etcdctl', ['--endpoints', etcd.endpoint, 'put', 'k', 'v']);
      assert.equal(put.code, 0, put.stderr);
      const get = await run('etcdctl', ['--endpoints', etcd.endpoint, 'get', 'k', '--print-value-only']);
      assert.equal(get.stdout.trim(), 'v');
    } finally {
      await etcd.stop();
    }
  },
);
