// Flag parsing: etcd's defaults, derived values, and one-line errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseRetention, hostPort } from './config.js';

const quiet = () => {
  throw new Error('exit');
};

test('defaults follow etcd', () => {
  const c = parseConfig(['--name', 'n1'], quiet as never);
  assert.equal(c.dataDir, 'n1.etcd');
  assert.deepEqual(c.listenClientURLs, ['http://localhost:2379']);
  assert.deepEqual([...c.initialCluster.entries()], [['n1', ['http://localhost:2380']]]);
  assert.equal(c.snapshotCount, 100000);
  assert.equal(c.heartbeatIntervalMs, 100);
  assert.equal(c.electionTimeoutMs, 1000);
  assert.equal(c.maxRequestBytes, 1572864);
  assert.equal(c.maxTxnOps, 128);
  assert.equal(c.maxConcurrentStreams, 2 ** 32 - 1);
  assert.equal(c.quotaBackendBytes, 2 * 1024 * 1024 * 1024);
  assert.equal(c.initialClusterToken, 'etcd-cluster');
  assert.equal(c.autoCompactionRetention, 0);
});

test('auto-compaction retention: hours, durations, revisions', () => {
  assert.equal(parseRetention('periodic', '1'), 3600_000);
  assert.equal(parseRetention('periodic', '30m'), 1800_000);
  assert.equal(parseRetention('periodic', '1h30m'), 5400_000);
  assert.equal(parseRetention('periodic', '2s'), 2000);
  assert.equal(parseRetention('revision', '1000'), 1000);
  assert.throws(() => parseRetention('revision', '1h'));
  assert.throws(() => parseRetention('periodic', 'soon'));
});

test('inconsistent flags are refused', () => {
  const errs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (errs.push(s), true)) as typeof process.stderr.write;
  try {
    assert.throws(() => parseConfig(['--name', 'a', '--initial-cluster', 'b=http://x:1'], quiet as never));
    assert.throws(() =>
      parseConfig(['--heartbeat-interval', '500', '--election-timeout', '1000'], quiet as never),
    );
  } finally {
    process.stderr.write = write;
  }
  assert.match(errs.join(''), /couldn't find local name "a"/);
  assert.match(errs.join(''), /at least as 5 times/);
});

test('hostPort turns client URLs into gRPC bind addresses', () => {
  assert.equal(hostPort('http://127.0.0.1:2379'), '127.0.0.1:2379');
  assert.equal(hostPort('http://localhost:2379'), 'localhost:2379');
  assert.equal(hostPort('http://[::1]:2379'), '[::1]:2379');
});
