// The etcd3 npm client (what the apiserver uses) against bin/store: KV, txn, watch, lease, election.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { waitFor } from '../support/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';

describe('etcd3 client against bin/store', () => {
  let s: StoreProcess;
  let client: Etcd3;

  before(async () => {
    s = await startStore();
    client = new Etcd3({ hosts: s.endpoint });
  });
  after(async () => {
    client?.close();
    await s?.destroy();
  });

  test('put/get/getAll/delete with revisions and counts', async () => {
    await client.put('a/1').value('one');
    await client.put('a/2').value('two');
    await client.put('b').value('bee');
    assert.equal(await client.get('a/1').string(), 'one');
    assert.deepEqual(await client.getAll().prefix('a/').strings(), { 'a/1': 'one', 'a/2': 'two' });
    assert.equal(await client.getAll().prefix('a/').count(), 2);
    const r = await client.get('a/2').exec();
    assert.equal(r.kvs[0]!.create_revision, '3');
    assert.equal(r.header.revision, '4');
    const limited = await client.getAll().prefix('a/').limit(1).exec();
    assert.equal(limited.kvs.length, 1);
    assert.equal(limited.more, true);
    assert.equal(limited.count, '2');
    const del = await client.delete().prefix('a/').getPrevious();
    assert.deepEqual(del.map((kv) => kv.key.toString()).sort(), ['a/1', 'a/2']);
    assert.equal(await client.get('a/1').string(), null);
  });

  test('txn compare-and-swap on mod revision (what the apiserver does on update)', async () => {
    const put = await client.put('cas').value('v1').exec();
    const rev = put.header.revision;
    const ok = await client
      .if('cas', 'Mod', '==', rev)
      .then(client.put('cas').value('v2'))
      .else(client.get('cas'))
      .commit();
    assert.equal(ok.succeeded, true);
    const stale = await client
      .if('cas', 'Mod', '==', rev)
      .then(client.put('cas').value('v3'))
      .else(client.get('cas'))
      .commit();
    assert.equal(stale.succeeded, false);
    assert.equal(stale.responses[0]!.response_range!.kvs[0]!.value.toString(), 'v2');
  });

  test('watch delivers puts and deletes in order, resuming from a revision', async () => {
    const start = Number((await client.put('w/x').value('0').exec()).header.revision);
    const seen: string[] = [];
    const watcher = await client.watch().prefix('w/').startRevision(String(start)).create();
    watcher.on('put', (kv) => seen.push(`put ${kv.key}=${kv.value} @${kv.mod_revision}`));
    watcher.on('delete', (kv) => seen.push(`del ${kv.key} @${kv.mod_revision}`));
    try {
      await client.put('w/x').value('1');
      await client.delete().key('w/x');
      await waitFor('three events', () => seen.length >= 3, { timeoutMs: 10_000 });
      assert.deepEqual(seen, [`put w/x=0 @${start}`, `put w/x=1 @${start + 1}`, `del w/x @${start + 2}`]);
    } finally {
      await watcher.cancel();
    }
  });

  test('leases: grant, attach, keep-alive, revoke deletes the keys', async () => {
    const lease = client.lease(10, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('leased').value('x');
    assert.equal(await client.get('leased').string(), 'x');
    const ka = await lease.keepaliveOnce();
    assert.equal(Number(ka.TTL), 10);
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 10);
    assert.equal(Number(ttl.grantedTTL), 10);
    assert.deepEqual(
      ttl.keys.map((k) => k.toString()),
      ['leased'],
    );
    await lease.revoke();
    assert.equal(await client.get('leased').string(), null);
    assert.ok(id.length > 0);
  });

  test('election: a campaign wins, an observer sees it, resign hands over', async () => {
    const election = client.election('el');
    const c1 = election.campaign('first');
    await c1.wait();
    const observer = await election.observe();
    try {
      assert.equal(observer.leader(), 'first');
      const c2 = client.election('el').campaign('second');
      await c1.resign();
      await c2.wait();
      await waitFor('observer to see the second leader', () => observer.leader() === 'second', {
        timeoutMs: 10_000,
      });
      await c2.resign();
    } finally {
      await observer.cancel();
    }
  });

  test('lock: a held lock refuses a second holder until released', async () => {
    const a = await client.lock('mx').ttl(10).acquire();
    await assert.rejects(client.lock('mx').ttl(10).acquire(), /Failed to acquire a lock on mx/);
    await a.release();
    const b = await client.lock('mx').ttl(10).acquire();
    await b.release();
  });
});
