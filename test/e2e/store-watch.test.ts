// Watch under pressure and history rules on bin/store: a client that stops reading is bounded (its
// watcher falls back to catching up from history) and still gets every event in order; auto-compaction
// moves the compacted revision and a watch from before it is canceled with compact_revision; a client's
// half-close does not end its watches.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawClient, type RawEtcdClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';
import { hasCommand, startRealEtcd, waitFor } from '../support/index.js';

async function metric(s: StoreProcess, name: string): Promise<number> {
  const text = await (await fetch(`${s.metricsURL}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('watch backpressure', () => {
  let s: StoreProcess;
  let c: RawEtcdClient;
  before(async () => {
    s = await startStore();
    c = rawClient(s.endpoint);
  });
  after(async () => {
    c?.close();
    await s?.destroy();
  });

  test('a stuck watcher is bounded, then catches up with every event in order', async () => {
    const start = Number((await c.kv.Range({ key: Buffer.from('x') })).header.revision) + 1;
    const stream = c.watch();
    const revs: number[] = [];
    let created = false;
    stream.on('data', (r: any) => {
      if (r.created) created = true;
      for (const e of r.events ?? []) revs.push(Number(e.kv.modRevision));
    });
    stream.on('error', () => undefined);
    stream.write({ createRequest: { key: Buffer.from('bp/'), rangeEnd: Buffer.from('bp0') } });
    await waitFor('watch created', () => created);
    stream.pause(); // the client stops reading: HTTP/2 flow control pushes back on the server
    const N = 400;
    const value = Buffer.alloc(64 * 1024, 97); // 400 x 64 KiB = 25 MiB, beyond the server's per-stream bound
    for (let i = 0; i < N; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => c.kv.Put({ key: Buffer.from(`bp/${i + j}`), value })),
      );
    }
    await waitFor(
      'the stuck watcher to fall back to history',
      async () => (await metric(s, 'etcd_debugging_mvcc_slow_watcher_total')) >= 1,
      {
        timeoutMs: 20_000,
      },
    );
    stream.resume();
    await waitFor(`all ${N} events`, () => revs.length >= N, { timeoutMs: 30_000 });
    stream.cancel();
    assert.equal(revs.length, N);
    for (let i = 0; i < N; i++) assert.equal(revs[i], start + i, `event ${i} out of order or missing`);
    assert.equal(await metric(s, 'etcd_debugging_mvcc_slow_watcher_total'), 0);
  });
});

describe('watch progress', () => {
  let s: StoreProcess;
  let c: RawEtcdClient;
  before(async () => {
    s = await startStore();
    c = rawClient(s.endpoint);
  });
  after(async () => {
    c?.close();
    await s?.destroy();
  });

  test('a progress request gets a bookmark (watch id -1) at the current revision, as etcd 3.4', async () => {
    await c.kv.Put({ key: Buffer.from('other'), value: Buffer.from('1') });
    const rev = Number((await c.kv.Range({ key: Buffer.from('other') })).header.revision);
    const stream = c.watch();
    const got: any[] = [];
    stream.on('data', (r: any) => got.push(r));
    stream.on('error', () => undefined);
    stream.write({ createRequest: { key: Buffer.from('p') } });
    await waitFor('created', () => got.some((r) => r.created));
    stream.write({ progressRequest: {} });
    await waitFor('progress response', () => got.length >= 2);
    stream.cancel();
    assert.equal(got[1].watchId, '-1');
    assert.equal(Number(got[1].header.revision), rev);
    assert.equal(got[1].events.length, 0);
  });
});

describe('auto-compaction', () => {
  let s: StoreProcess;
  let c: RawEtcdClient;
  before(async () => {
    s = await startStore({
      extraArgs: ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10'],
    });
    c = rawClient(s.endpoint);
  });
  after(async () => {
    c?.close();
    await s?.destroy();
  });

  test('revision mode keeps the last N revisions; older reads and watches get etcd errors', async () => {
    for (let i = 0; i < 40; i++) await c.kv.Put({ key: Buffer.from('ac'), value: Buffer.from(String(i)) });
    await waitFor(
      'auto-compaction',
      async () => (await metric(s, 'etcd_debugging_mvcc_compact_revision')) >= 20,
      {
        timeoutMs: 15_000,
      },
    );
    await assert.rejects(c.kv.Range({ key: Buffer.from('ac'), revision: 3 }), (err: any) => {
      assert.equal(err.details, 'etcdserver: mvcc: required revision has been compacted');
      return true;
    });
    const compacted = await metric(s, 'etcd_debugging_mvcc_compact_revision');
    const stream = c.watch();
    const resp = await new Promise<any>((resolve) => {
      stream.on('data', (r: any) => {
        if (r.canceled) resolve(r);
      });
      stream.on('error', () => undefined);
      stream.write({ createRequest: { key: Buffer.from('ac'), startRevision: '2' } });
    });
    stream.cancel();
    assert.equal(Number(resp.compactRevision), compacted);
  });
});

describe('a client that closes its side of the stream', () => {
  // etcd ends a watch stream only when the client cancels it or goes away: a client that has sent all its
  // requests and half-closes still gets its events. Checked against etcd 3.4 too when it is installed.
  const check = async (endpoint: string) => {
    const c = rawClient(endpoint);
    try {
      const stream = c.watch();
      const got: string[] = [];
      let ended = false;
      stream.on('data', (r: any) => got.push(r.created ? 'created' : `events ${r.events.length}`));
      stream.on('end', () => (ended = true));
      stream.on('error', () => undefined);
      stream.write({ createRequest: { key: Buffer.from('half/k') } });
      await waitFor('the watch to be created', () => got.includes('created'));
      stream.end();
      await c.kv.Put({ key: Buffer.from('half/k'), value: Buffer.from('v') });
      await waitFor('the event after the half-close', () => got.includes('events 1'));
      assert.equal(ended, false);
      stream.cancel();
    } finally {
      c.close();
    }
  };

  test('bin/store keeps the watch running', async () => {
    const s = await startStore();
    try {
      await check(s.endpoint);
    } finally {
      await s.destroy();
    }
  });

  test('as etcd 3.4 does', { skip: !hasCommand('etcd') && 'etcd is not installed' }, async () => {
    const e = await startRealEtcd();
    try {
      await check(e.endpoint);
    } finally {
      await e.stop();
    }
  });
});
