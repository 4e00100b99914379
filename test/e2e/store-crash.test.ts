// Durability of bin/store under crashes: kill -9 at a random moment (seeded; the seed is printed) loses
// no acknowledged write; a torn WAL tail recovers; a corrupted record in the middle refuses to start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';
import { waitFor } from '../support/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** Writes k<i> = v<i> with `concurrency` writers until stopped; returns the acknowledged indexes. */
function writer(endpoint: string, concurrency: number, from: number) {
  const c = rawClient(endpoint, 5000);
  const acked: number[] = [];
  let next = from;
  let stopped = false;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      const i = next++;
      try {
        await c.kv.Put({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) });
        acked.push(i);
      } catch {
        return; // the store died: stop this writer
      }
    }
  });
  return {
    acked,
    get issued() {
      return next;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      c.close();
    },
  };
}

async function checkAcked(s: StoreProcess, acked: number[]): Promise<void> {
  const c = rawClient(s.endpoint);
  try {
    const r = await c.kv.Range({ key: Buffer.from('k'), rangeEnd: Buffer.from('l') });
    const have = new Map<string, string>(r.kvs.map((kv: any) => [kv.key.toString(), kv.value.toString()]));
    const missing = acked.filter((i) => have.get(`k${i}`) !== `v${i}`);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged writes lost`);
  } finally {
    c.close();
  }
}

test('kill -9 at a random moment loses no acknowledged write (3 rounds)', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  console.log(`store crash test seed=${seed} (replay with SEED=${seed})`);
  const rand = rng(seed);
  // Small snapshots so that crashes also land around snapshot saves and restarts replay snapshot + WAL.
  const s = await startStore({ extraArgs: ['--snapshot-count', '40', '--snapshot-catchup-entries', '10'] });
  try {
    const allAcked: number[] = [];
    let from = 0;
    for (let round = 0; round < 3; round++) {
      const w = writer(s.endpoint, 8, from);
      await waitFor('some writes acknowledged', () => w.acked.length > 20, { timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
      await s.kill9();
      await w.stop();
      from = w.issued;
      allAcked.push(...w.acked);
      await s.restart();
      await checkAcked(s, allAcked);
    }
    assert.ok(allAcked.length > 60, `only ${allAcked.length} writes acknowledged (seed ${seed})`);
  } catch (err) {
    throw new Error(`seed=${seed}: ${(err as Error).message}`, { cause: err });
  } finally {
    await s.destroy();
  }
});

function walFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'member', 'wal');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.wal'))
    .sort()
    .map((f) => join(dir, f));
}

test('a torn WAL tail is cut on restart and every synced write survives', async () => {
  const s = await startStore();
  try {
    const c = rawClient(s.endpoint);
    for (let i = 0; i < 50; i++) await c.kv.Put({ key: Buffer.from(`t${i}`), value: Buffer.from(`v${i}`) });
    c.close();
    assert.equal(await s.stop(), 0);
    const files = walFiles(s.dataDir);
    const last = files[files.length - 1]!;
    // A record that a crash cut short: a plausible header followed by too few bytes.
    appendFileSync(last, Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0x01, 0xde, 0xad, 0xbe]));
    await s.restart();
    const c2 = rawClient(s.endpoint);
    const r = await c2.kv.Range({ key: Buffer.from('t'), rangeEnd: Buffer.from('u'), countOnly: true });
    assert.equal(Number(r.count), 50);
    await c2.kv.Put({ key: Buffer.from('after'), value: Buffer.from('torn') });
    c2.close();
  } finally {
    await s.destroy();
  }
});

test('a corrupted record in the middle of the WAL refuses to start with a clear message', async () => {
  const s = await startStore();
  try {
    const c = rawClient(s.endpoint);
    for (let i = 0; i < 200; i++) {
      await c.kv.Put({ key: Buffer.from(`c${i}`), value: Buffer.from(`value-${i}-`.repeat(8)) });
    }
    c.close();
    assert.equal(await s.stop(), 0);
    const file = walFiles(s.dataDir)[0]!;
    const buf = readFileSync(file);
    const size = statSync(file).size;
    // Flip a byte inside a value near the middle (values are plain text in the payload).
    let at = buf.indexOf(Buffer.from('value-100-'));
    if (at < 0) at = Math.floor(size / 2);
    buf[at + 3] = buf[at + 3]! ^ 0xff;
    writeFileSync(file, buf);
    const again = await startStore({ dataDir: s.dataDir, noWait: true });
    const code = await again.proc.exited;
    assert.notEqual(code, 0, 'a store with a corrupt WAL must not start');
    const out = again.proc.output();
    assert.match(out, /corrupt|crc|checksum/i, out);
    assert.ok(out.includes('.wal'), `the message should name the file: ${out}`);
  } finally {
    await s.destroy();
  }
});
