// Tests for the work queue: dedup, one worker per key, backoff retries, bounds and shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, runWorkers } from './workqueue.js';
import { backoffDelay, Backoff, ItemBackoff } from './backoff.js';

test('a key added many times while waiting is processed once', async () => {
  const q = new WorkQueue<string>();
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('a key re-added during processing is queued again only after done()', async () => {
  const q = new WorkQueue<string>();
  q.add('a');
  const k = await q.get();
  q.add('a');
  assert.equal(q.length, 0, 'not handed to a second worker while the first holds it');
  q.done(k!);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'a');
});

test('runWorkers never runs one key on two workers at once', async () => {
  const q = new WorkQueue<string>();
  const running = new Set<string>();
  let overlaps = 0;
  let runs = 0;
  const done = runWorkers(q, 8, async (k) => {
    if (running.has(k)) overlaps++;
    running.add(k);
    runs++;
    await new Promise((r) => setTimeout(r, 1));
    running.delete(k);
  });
  for (let i = 0; i < 200; i++) {
    q.add(`k${i % 5}`);
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  while (q.length > 0 || running.size > 0) await new Promise((r) => setTimeout(r, 5));
  q.shutDown();
  await done;
  assert.equal(overlaps, 0);
  assert.ok(runs >= 5 && runs < 200, `runs=${runs}: keys were deduplicated`);
});

test('failures are retried with growing backoff, then dropped after maxRetries', async () => {
  const q = new WorkQueue<string>({ baseDelayMs: 1, maxDelayMs: 8, maxRetries: 4 });
  let attempts = 0;
  const done = runWorkers(q, 1, async () => {
    attempts++;
    throw new Error('boom');
  });
  q.add('x');
  const deadline = Date.now() + 5000;
  while (attempts < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  q.shutDown();
  await done;
  assert.equal(attempts, 5, 'first try + 4 retries');
  assert.equal(q.dropped, 1);
});

test('a success forgets the failure history', async () => {
  const q = new WorkQueue<string>({ baseDelayMs: 1 });
  q.addRateLimited('x');
  q.addRateLimited('x');
  assert.equal(q.retries('x'), 2);
  q.forget('x');
  assert.equal(q.retries('x'), 0);
  q.shutDown();
});

test('the queue is bounded: adds past maxLength are dropped and counted', () => {
  const q = new WorkQueue<number>({ maxLength: 3 });
  for (let i = 0; i < 5; i++) q.add(i);
  assert.equal(q.length, 3);
  assert.equal(q.dropped, 2);
});

test('addAfter delivers later; an earlier deadline for the same key wins', async () => {
  const q = new WorkQueue<string>();
  q.addAfter('a', 10_000);
  q.addAfter('a', 5);
  const t0 = Date.now();
  assert.equal(await q.get(), 'a');
  assert.ok(Date.now() - t0 < 5000);
  q.shutDown();
});

test('shutDown releases waiting workers', async () => {
  const q = new WorkQueue<string>();
  const got = q.get();
  q.shutDown();
  assert.equal(await got, undefined);
  assert.equal(q.add('a'), false);
});

test('backoff doubles up to its ceiling and never overflows', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 10].map((n) => backoffDelay(n, 5, 1000)),
    [5, 10, 20, 40, 1000],
  );
  assert.equal(backoffDelay(5000, 5, 1000), 1000);
  const ib = new ItemBackoff<string>(10, 100);
  assert.deepEqual([ib.when('a'), ib.when('a'), ib.when('b'), ib.when('a')], [10, 20, 10, 40]);
  const b = new Backoff(100, 1000, 0.2, () => 0.5);
  assert.deepEqual([b.next(), b.next(), b.next()], [100, 200, 400]);
  b.reset();
  assert.equal(b.next(), 100);
});

test('ItemBackoff stays bounded in the number of keys it remembers', () => {
  const ib = new ItemBackoff<number>(1, 10, 3);
  for (let i = 0; i < 10; i++) ib.when(i);
  assert.equal(ib.retries(0), 0, 'oldest evicted');
  assert.equal(ib.retries(9), 1);
});

test('event spam filter: a burst of 25 per object, then one per refill period', async () => {
  const { SpamFilter } = await import('./events.js');
  let now = 0;
  const f = new SpamFilter(25, 300_000, () => now);
  let allowed = 0;
  for (let i = 0; i < 1000; i++) if (f.allow('rs-uid')) allowed++;
  assert.equal(allowed, 25);
  assert.ok(f.allow('other-uid'), 'buckets are per object');
  now += 300_000;
  assert.ok(f.allow('rs-uid'));
  assert.ok(!f.allow('rs-uid'));
});
