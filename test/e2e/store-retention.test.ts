// etcd's retention flags on bin/store: --max-snapshots keeps the newest N snap files (0 keeps all).
// (--max-wals, on 64 MiB segments, is covered at the WAL's level in store/wal/wal.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../support/index.js';
import { rawClient } from '../../store/api/index.js';
import { startStore } from '../../store/server/testing.js';

const snaps = (dataDir: string) =>
  readdirSync(join(dataDir, 'member', 'snap')).filter((n) => n.endsWith('.snap'));

for (const [max, expect] of [
  ['2', (n: number) => n === 2],
  ['0', (n: number) => n >= 8],
] as const) {
  test(`--max-snapshots ${max} with a snapshot every 20 entries`, { timeout: 60_000 }, async () => {
    const s = await startStore({ extraArgs: ['--snapshot-count', '20', '--max-snapshots', max] });
    const c = rawClient(s.endpoint);
    try {
      for (let i = 0; i < 200; i++) await c.kv.Put({ key: Buffer.from(`k${i}`), value: Buffer.from('v') });
      await waitFor('the snap files to settle', () => expect(snaps(s.dataDir).length));
      // The store still restarts from what was kept.
      await s.restart();
      const r = await c.kv.Range({ key: Buffer.from('k'), rangeEnd: Buffer.from('l'), countOnly: true });
      assert.equal(Number(r.count), 200);
    } finally {
      c.close();
      await s.destroy();
    }
  });
}
