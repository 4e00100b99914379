// bin/store as a process: flags, --help, refusing a second start on one data dir, clean SIGTERM, /health,
// /metrics, and etcd's limits (--max-request-bytes, --max-txn-ops, --max-concurrent-streams).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { BIN, nodeFlagsOf, run } from '../support/index.js';
import { rawClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';

/** The server's settings as they stand once it has answered a request (so every SETTINGS frame before it is in). */
async function settingsOf(session: http2.ClientHttp2Session): Promise<http2.Settings> {
  const req = session.request({
    ':method': 'POST',
    ':path': '/no.Such/Method',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  await new Promise<void>((resolve, reject) => {
    req.once('response', () => resolve());
    req.once('error', reject);
    req.end();
  });
  req.destroy();
  return session.remoteSettings;
}

describe('bin/store process', () => {
  test('runs as an executable with the V8 heap flags on its #! line, which test helpers pass on too', async () => {
    // Started directly, so that `env -S` and the flag go through the kernel's #! handling as for a user.
    const r = await run(join(BIN, 'store'), ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--data-dir/);
    assert.deepEqual(nodeFlagsOf(join(BIN, 'store')), [
      '--initial-heap-size=128',
      '--max-semi-space-size=32',
    ]);
  });

  test('--help lists etcd flag names', async () => {
    const r = await run(process.execPath, [join(BIN, 'store'), '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const f of [
      '--name',
      '--data-dir',
      '--listen-client-urls',
      '--advertise-client-urls',
      '--listen-peer-urls',
      '--initial-advertise-peer-urls',
      '--initial-cluster',
      '--initial-cluster-state',
      '--initial-cluster-token',
      '--snapshot-count',
      '--heartbeat-interval',
      '--election-timeout',
      '--quota-backend-bytes',
      '--max-request-bytes',
      '--max-txn-ops',
      '--max-concurrent-streams',
      '--max-snapshots',
      '--max-wals',
      '--force-new-cluster',
      '--experimental-watch-progress-notify-interval',
      '--listen-metrics-urls',
      '--auto-compaction-mode',
      '--auto-compaction-retention',
      '--log-level',
    ]) {
      assert.ok(r.stdout.includes(f), `--help does not mention ${f}`);
    }
  });

  test('a bad flag or value prints one line and exits non-zero', async () => {
    for (const args of [
      ['--no-such-flag'],
      ['--snapshot-count', 'lots'],
      ['--auto-compaction-mode', 'weekly'],
      ['--max-concurrent-streams', '0'],
    ]) {
      const r = await run(process.execPath, [join(BIN, 'store'), ...args]);
      assert.notEqual(r.code, 0, `${args.join(' ')} was accepted`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
    }
  });

  describe('a running store', () => {
    let s: StoreProcess;
    let client: Etcd3;
    before(async () => {
      s = await startStore({
        extraArgs: ['--max-request-bytes', '10000', '--max-txn-ops', '4', '--max-concurrent-streams', '64'],
      });
      client = new Etcd3({ hosts: s.endpoint });
    });
    after(async () => {
      client?.close();
      await s?.destroy();
    });

    test('a second process on the same data dir is refused', async () => {
      const second = await startStore({ dataDir: s.dataDir, noWait: true });
      const code = await second.proc.exited;
      assert.notEqual(code, 0);
      assert.match(second.proc.output(), /lock|in use|locked/i);
      // The first keeps serving.
      await client.put('still').value('here');
    });

    test('/health in etcd shape and /metrics in Prometheus text', async () => {
      const h = await fetch(`${s.metricsURL}/health`);
      assert.equal(h.status, 200);
      assert.deepEqual(await h.json(), { health: 'true' });
      await client.put('m').value('1');
      const m = await (await fetch(`${s.metricsURL}/metrics`)).text();
      for (const name of [
        'grpc_server_handled_total',
        'grpc_server_handling_seconds_bucket',
        'etcd_server_has_leader 1',
        'etcd_server_proposals_committed_total',
        'etcd_server_proposals_applied_total',
        'etcd_disk_wal_fsync_duration_seconds_bucket',
        'etcd_mvcc_db_total_size_in_bytes',
        'etcd_debugging_mvcc_watcher_total',
        'etcd_server_leases',
      ]) {
        assert.ok(m.includes(name), `/metrics lacks ${name}`);
      }
      assert.match(m, /grpc_server_handled_total\{[^}]*grpc_method="Put"[^}]*grpc_code="OK"[^}]*\} [1-9]/);
    });

    test('the client URL answers plain HTTP as etcd does: /health, /version, /metrics, 404', async () => {
      const h = await fetch(`${s.endpoint}/health`);
      assert.equal(h.status, 200);
      assert.deepEqual(await h.json(), { health: 'true' });
      assert.deepEqual(await (await fetch(`${s.endpoint}/version`)).json(), {
        etcdserver: '3.4.0',
        etcdcluster: '3.4.0',
      });
      assert.match(await (await fetch(`${s.endpoint}/metrics`)).text(), /etcd_server_has_leader 1/);
      assert.equal((await fetch(`${s.endpoint}/nope`)).status, 404);
      // gRPC on the same port still works after those connections.
      assert.equal((await client.put('after-http').value('1')).header.revision !== undefined, true);
    });

    test('--max-request-bytes and --max-txn-ops give etcd errors', async () => {
      const raw = rawClient(s.endpoint);
      try {
        await assert.rejects(
          raw.kv.Put({ key: Buffer.from('big'), value: Buffer.alloc(20_000) }),
          (err: any) => {
            assert.equal(err.code, 3);
            assert.equal(err.details, 'etcdserver: request is too large');
            return true;
          },
        );
        const ops = [1, 2, 3, 4, 5].map((i) => ({
          requestPut: { key: Buffer.from(`t${i}`), value: Buffer.from('x') },
        }));
        await assert.rejects(raw.kv.Txn({ compare: [], success: ops, failure: [] }), (err: any) => {
          assert.equal(err.details, 'etcdserver: too many operations in txn request');
          return true;
        });
      } finally {
        raw.close();
      }
    });

    test('--max-concurrent-streams is the SETTINGS limit a client connection gets', async () => {
      const session = http2.connect(s.endpoint);
      try {
        assert.equal((await settingsOf(session)).maxConcurrentStreams, 64);
      } finally {
        session.close();
      }
    });

    test('SIGTERM stops cleanly and a restart serves the same data', async () => {
      await client.put('durable').value('yes');
      const code = await s.stop();
      assert.equal(code, 0, s.proc.output().slice(-2000));
      await s.restart();
      client.close();
      client = new Etcd3({ hosts: s.endpoint });
      assert.equal(await client.get('durable').string(), 'yes');
      assert.equal(await client.get('still').string(), 'here');
    });
  });

  test('by default, as etcd, one connection may carry thousands of concurrent calls', async () => {
    const s = await startStore();
    const raw = rawClient(s.endpoint);
    try {
      const session = http2.connect(s.endpoint);
      const settings = await new Promise<http2.Settings>((resolve) =>
        session.once('remoteSettings', resolve),
      );
      session.close();
      assert.equal(settings.maxConcurrentStreams, 2 ** 32 - 1);
      // With a limit of 1,000 the calls over it failed with RST_STREAM INTERNAL_ERROR.
      const value = Buffer.from('v');
      const n = 5000;
      const rs = await Promise.all(
        Array.from({ length: n }, (_, i) => raw.kv.Put({ key: Buffer.from(`c/${i}`), value })),
      );
      assert.equal(rs.length, n);
      const count = await raw.kv.Range({
        key: Buffer.from('c/'),
        rangeEnd: Buffer.from('c0'),
        countOnly: true,
      });
      assert.equal(Number(count.count), n);
    } finally {
      raw.close();
      await s.destroy();
    }
  });
});
