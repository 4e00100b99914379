// The lessor with an injected clock: grant, attach, renew, expiry (rate-limited, retried), promote, demote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryReader, BinaryWriter } from '../mvcc/index.js';
import { LeaseIdGenerator, Lessor, EXPIRED_RETRY_MS } from './index.js';

const b = (s: string) => Buffer.from(s);

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('grant raises the TTL to the minimum and rejects duplicates, 0 and huge TTLs', () => {
  const l = new Lessor({ minTtl: 2 });
  assert.equal(l.grant(1n, 1).ttl, 2);
  assert.equal(l.grant(2n, 60).ttl, 60);
  assert.throws(() => l.grant(1n, 5), { kind: 'exists' });
  assert.throws(() => l.grant(0n, 5), { kind: 'not-found' });
  assert.throws(() => l.grant(3n, 9_000_000_001), { kind: 'ttl-too-large' });
  assert.deepEqual(l.list(), [1n, 2n]);
});

test('attach/detach and revoke returns keys in byte order', () => {
  const l = new Lessor();
  l.grant(7n, 10);
  for (const k of ['b', 'a', 'c']) l.attach(7n, b(k));
  l.detach(7n, b('c'));
  assert.deepEqual(l.timeToLive(7n)!.keys.map(String), ['a', 'b']);
  assert.deepEqual(l.revoke(7n).map(String), ['a', 'b']);
  assert.throws(() => l.revoke(7n), { kind: 'not-found' });
});

test('only the primary expires leases; renew restarts the TTL', () => {
  const c = clock();
  const l = new Lessor({ now: c.now });
  l.grant(1n, 10);
  c.advance(60_000);
  assert.deepEqual(l.expired(), []);
  assert.throws(() => l.renew(1n), { kind: 'not-primary' });
  l.promote();
  assert.equal(l.timeToLive(1n)!.ttl, 10);
  c.advance(6_000);
  assert.equal(l.timeToLive(1n)!.ttl, 4);
  assert.equal(l.renew(1n), 10);
  c.advance(9_000);
  assert.deepEqual(l.expired(), []);
  c.advance(1_000);
  assert.deepEqual(l.expired(), [1n]);
  // Handed out once; again only after the retry interval (the revoke proposal may have been lost).
  assert.deepEqual(l.expired(), []);
  assert.throws(() => l.renew(1n), { kind: 'not-found' });
  c.advance(EXPIRED_RETRY_MS);
  assert.deepEqual(l.expired(), [1n]);
  l.demote();
  c.advance(1e9);
  assert.deepEqual(l.expired(), []);
});

test('expired() is rate-limited and earliest first', () => {
  const c = clock();
  const l = new Lessor({ now: c.now });
  l.promote();
  for (let i = 1; i <= 1200; i++) {
    l.grant(BigInt(i), 10);
    if (i % 100 === 0) c.advance(1); // later leases expire later
  }
  c.advance(20_000);
  const first = l.expired();
  assert.equal(first.length, 500);
  assert.equal(first[0], 1n);
  assert.equal(l.expired().length, 500);
  assert.equal(l.expired().length, 200);
});

test('promote gives every lease a full TTL plus the extension and spreads mass expiry', () => {
  const c = clock();
  const l = new Lessor({ now: c.now });
  for (let i = 1; i <= 3000; i++) l.grant(BigInt(i), 5);
  c.advance(3_600_000); // an hour with no leader: nothing may expire at election
  l.promote(1000);
  c.advance(5_999);
  assert.deepEqual(l.expired(), []);
  // No one-second window holds more than 3/4 of the revoke rate.
  const expiries = l.list().map((id) => l.lookup(id)!.expiry);
  expiries.sort((a, b) => a - b);
  for (let i = 0; i + 750 < expiries.length; i++)
    assert.ok(expiries[i + 750]! - expiries[i]! >= 1000 - 2, `window at ${i}`);
});

test('serialize/restore keeps ids, TTLs and checkpoints', () => {
  const l = new Lessor();
  l.grant(5n, 30);
  l.grant(1n << 62n, 100);
  l.checkpoint(5n, 12);
  const w = new BinaryWriter();
  l.serialize(w);
  const r = new Lessor();
  r.restore(new BinaryReader(w.finish()));
  assert.deepEqual(r.list(), [5n, 1n << 62n]);
  assert.equal(r.timeToLive(5n)!.ttl, 12);
  assert.equal(r.timeToLive(1n << 62n)!.grantedTtl, 100);
});

test('the id generator gives unique positive non-zero ids per member', () => {
  const a = new LeaseIdGenerator(0xabcdef12345n, 1_700_000_000_000);
  const bgen = new LeaseIdGenerator(0x1234n, 1_700_000_000_000);
  const seen = new Set<bigint>();
  for (let i = 0; i < 1000; i++) {
    for (const id of [a.next(), bgen.next()]) {
      assert.ok(id > 0n && id < 1n << 63n);
      assert.ok(!seen.has(id));
      seen.add(id);
    }
  }
});
