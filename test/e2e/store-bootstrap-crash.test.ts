// A member of a new cluster that stops after creating its WAL but before its bootstrap entries (the members'
// additions) are durable must start as new again. With an empty log it would learn the membership one entry
// at a time from a leader, and having applied only "add <first member>" could elect itself as a cluster of
// one (the Raft simulator found this, seed 8091 with 5 nodes). A one-member cluster shows the other side of
// the same hole: with no membership at all it never elects itself and never serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WAL, silentLogger } from '../../store/wal/index.js';
import { startStore } from '../../store/server/testing.js';

test('a member stopped before its bootstrap entries were durable starts as new again', async (t) => {
  const s = await startStore();
  t.after(() => s.destroy());
  assert.equal(await s.stop(), 0);

  // Put the data dir back to the moment after WAL creation: WAL metadata only, no entries, no snapshot.
  const memberDir = join(s.dataDir, 'member');
  const walDir = join(memberDir, 'wal');
  const old = await WAL.open(walDir, { index: 0, term: 0 }, { logger: silentLogger });
  const { metadata, entries } = await old.readAll();
  await old.close();
  assert.ok(entries.length > 0);
  rmSync(walDir, { recursive: true });
  for (const f of readdirSync(join(memberDir, 'snap'))) rmSync(join(memberDir, 'snap', f));
  const fresh = await WAL.create(walDir, metadata, { logger: silentLogger });
  await fresh.close();
  assert.equal(JSON.parse(readFileSync(join(memberDir, 'cluster.json'), 'utf8')).bootstrap, true);

  await s.restart(); // waits until it serves
  const put = await s.etcdctl(['put', 'k', 'v']);
  assert.equal(put.code, 0, put.stderr);
  const ml = await s.etcdctl(['member', 'list', '-w', 'json']);
  assert.equal(JSON.parse(ml.stdout).members.length, 1);
});
