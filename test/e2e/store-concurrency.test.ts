// The v3lock and v3election gRPC services of bin/store (server-side recipes over KV + Lease + Watch).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawClient, type RawEtcdClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';
import { waitFor } from '../support/index.js';

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
