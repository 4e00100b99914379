// The v3lock and v3election gRPC services of bin/store (server-side recipes over KV + Lease + Watch).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawClient, type RawEtcdClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';
import { hasCommand, startRealEtcd, waitFor } from '../support/index.js';

describe('v3lock and v3election services', () => {
  let s: StoreProcess;
  let c: RawEtcdClient;
  const lease = async (ttl = 30) => (await c.lease.LeaseGrant({ TTL: ttl })).ID as string;

  before(async () => {
    s = await startStore();
    c = rawClient(s.endpoint);
  });
  after(async () => {
    c?.close();
    await s?.destroy();
  });

  test('Lock: the second locker waits until the first unlocks', async () => {
    const l1 = await lease();
    const l2 = await lease();
    const first = await c.lock.Lock({ name: Buffer.from('L'), lease: l1 });
    assert.equal(first.key.toString(), `L/${BigInt(l1).toString(16)}`);
    let secondKey: Buffer | undefined;
    const second = c.lock.Lock({ name: Buffer.from('L'), lease: l2 }).then((r) => (secondKey = r.key));
    // The waiter's key exists (it is queued) but it does not hold the lock.
    await waitFor(
      'the waiter to queue',
      async () =>
        Number(
          (await c.kv.Range({ key: Buffer.from('L/'), rangeEnd: Buffer.from('L0'), countOnly: true })).count,
        ) === 2,
    );
    assert.equal(secondKey, undefined);
    await c.lock.Unlock({ key: first.key });
    await second;
    assert.equal(secondKey!.toString(), `L/${BigInt(l2).toString(16)}`);
    await c.lock.Unlock({ key: secondKey! });
  });

  test('Lock: revoking the holder lease hands the lock over', async () => {
    const l1 = await lease();
    const l2 = await lease();
    await c.lock.Lock({ name: Buffer.from('R'), lease: l1 });
    const second = c.lock.Lock({ name: Buffer.from('R'), lease: l2 });
    await c.lease.LeaseRevoke({ ID: l1 });
    const r = await second;
    assert.equal(r.key.toString(), `R/${BigInt(l2).toString(16)}`);
  });

  test('Lock with an unknown lease fails with etcd error', async () => {
    await assert.rejects(
      c.lock.Lock({ name: Buffer.from('X'), lease: '12345' }),
      /requested lease not found/,
    );
  });

  test('Election: campaign, leader, proclaim, observe, resign', async () => {
    const l1 = await lease();
    const l2 = await lease();
    await assert.rejects(c.election.Leader({ name: Buffer.from('E') }), /election: no leader/);
    const won = await c.election.Campaign({ name: Buffer.from('E'), lease: l1, value: Buffer.from('alice') });
    const leader = won.leader;
    assert.equal(leader.name.toString(), 'E');
    assert.equal((await c.election.Leader({ name: Buffer.from('E') })).kv.value.toString(), 'alice');

    const seen: string[] = [];
    const obs = c.observe(Buffer.from('E'));
    obs.on('data', (r: any) => seen.push(r.kv.value.toString()));
    obs.on('error', () => undefined);
    await waitFor('observer sees alice', () => seen.includes('alice'));

    await c.election.Proclaim({ leader, value: Buffer.from('alice-2') });
    await waitFor('observer sees the proclamation', () => seen.includes('alice-2'));

    const bob = c.election.Campaign({ name: Buffer.from('E'), lease: l2, value: Buffer.from('bob') });
    await c.election.Resign({ leader });
    const bobWon = await bob;
    await waitFor('observer sees bob', () => seen.includes('bob'));
    assert.deepEqual(seen, ['alice', 'alice-2', 'bob']);
    await assert.rejects(
      c.election.Proclaim({ leader, value: Buffer.from('stale') }),
      /election: not leader/,
    );
    await c.election.Resign({ leader: bobWon.leader });
    obs.cancel();
  });
});

/**
 * A Lock or Campaign that names no lease: etcd's servers open a session, which grants a lease of 60 s and
 * (orphaned) never refreshes it, so the lock or the leadership ends by itself. Same on bin/store and etcd.
 */
async function withoutLease(endpoint: string) {
  const c = rawClient(endpoint);
  try {
    const ttlOf = async (key: Buffer) => {
      const kv = (await c.kv.Range({ key })).kvs[0];
      assert.ok(kv, `${key} exists`);
      const t = await c.lease.LeaseTimeToLive({ ID: kv.lease });
      return { lease: BigInt(kv.lease), granted: Number(t.grantedTTL), ttl: Number(t.TTL) };
    };
    const lock = await c.lock.Lock({ name: Buffer.from('nolease') });
    const l = await ttlOf(lock.key);
    assert.equal(lock.key.toString(), `nolease/${l.lease.toString(16)}`);
    const won = await c.election.Campaign({ name: Buffer.from('nolease-e'), value: Buffer.from('v') });
    const e = await ttlOf(won.leader.key);
    assert.equal(BigInt(won.leader.lease), e.lease);
    assert.notEqual(e.lease, l.lease, 'each call has its own lease');
    // Unlock deletes the owner key; the lease it was on stays until it expires.
    await c.lock.Unlock({ key: lock.key });
    assert.equal((await c.kv.Range({ key: lock.key })).kvs.length, 0);
    const after = await c.lease.LeaseTimeToLive({ ID: l.lease.toString() });
    return {
      lock: { granted: l.granted, ttlOk: l.ttl > 50 && l.ttl <= 60 },
      elect: { granted: e.granted },
      leaseAfterUnlock: Number(after.TTL) > 0,
    };
  } finally {
    c.close();
  }
}

test('Lock and Campaign without a lease get a 60 s lease of their own, as on etcd 3.4', async (t) => {
  const s = await startStore();
  try {
    const ours = await withoutLease(s.endpoint);
    assert.deepEqual(ours, {
      lock: { granted: 60, ttlOk: true },
      elect: { granted: 60 },
      leaseAfterUnlock: true,
    });
    if (!hasCommand('etcd')) return t.diagnostic('etcd not installed: compared with the expectation only');
    const e = await startRealEtcd();
    try {
      assert.deepEqual(ours, await withoutLease(e.endpoint));
    } finally {
      await e.stop();
    }
  } finally {
    await s.destroy();
  }
});
