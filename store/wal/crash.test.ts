// Randomized crash test: a child process appends and syncs, reporting acknowledged indexes, and is
// SIGKILLed at a random moment; the parent replays the WAL and checks that every acknowledged entry is
// there, intact and contiguous. Seeded: WAL_CRASH_SEED replays a run, WAL_CRASH_ROUNDS makes it longer.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { test } from 'node:test';
import { startProcess, tempDir, waitFor } from '../../test/support/index.js';
import { entryData, RecordingLogger, rng } from './testing.js';
import { WAL } from './index.js';

const here = fileURLToPath(import.meta.url);
const underTsx = here.endsWith('.ts');
const child = join(here, '..', underTsx ? 'crash-child.ts' : 'crash-child.js');
// Under tsx the child needs a cwd from which `--import tsx` resolves: the repository root.
const cwd = join(here, '..', '..', '..');

function lines(out: string, word: string): number[] {
  const re = new RegExp(`^${word} (\\d+)$`, 'gm');
  return [...out.matchAll(re)].map((m) => Number(m[1]));
}

test('every acknowledged entry survives SIGKILL at a random moment', async (t) => {
  const seed = Number(process.env.WAL_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rounds = Number(process.env.WAL_CRASH_ROUNDS ?? 6);
  t.diagnostic(`seed=${seed} rounds=${rounds} (replay with WAL_CRASH_SEED=${seed})`);
  console.log(`wal crash test: seed=${seed}`);
  const rand = rng(seed);
  const tmp = tempDir('wal-crash-');
  t.after(tmp.remove);
  const dir = join(tmp.path, 'member', 'wal');
  let maxAcked = 0;

  for (let round = 1; round <= rounds; round++) {
    const args = [...(underTsx ? ['--import', 'tsx'] : []), child, dir, String(seed + round), String(round)];
    args.push(String(rand() < 0.5 ? 4096 : 64 * 1024));
    const proc = startProcess(process.execPath, args, { cwd });
    t.after(() => proc.kill('SIGKILL'));
    // Let it get going, then kill it wherever it happens to be.
    await waitFor(
      `round ${round}: first ack (seed ${seed})`,
      () => {
        if (proc.child.exitCode !== null) throw new Error(`child exited early:\n${proc.output()}`);
        return lines(proc.output(), 'ack').length > 0;
      },
      { timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
    await proc.kill('SIGKILL');
    const out = proc.output();
    const acks = lines(out, 'ack');
    assert.ok(acks.length > 0, `round ${round}: no acks (seed ${seed}):\n${out}`);
    const acked = Math.max(...acks);
    assert.ok(acked >= maxAcked, 'acks only grow across rounds');
    maxAcked = acked;

    const logger = new RecordingLogger();
    const markers = await WAL.validSnapshotMarkers(dir, { logger });
    const from = markers[markers.length - 1]!;
    assert.ok(from.index <= maxAcked, `marker ${from.index} beyond acked ${maxAcked}`);
    const w = await WAL.open(dir, from, { logger });
    const r = await w.readAll();
    await w.close();
    const got = r.entries;
    const lastIndex = got.length ? got[got.length - 1]!.index : from.index;
    assert.ok(
      lastIndex >= maxAcked,
      `round ${round} (seed ${seed}): acknowledged up to ${maxAcked}, replay ends at ${lastIndex}\n${out.slice(-2000)}`,
    );
    got.forEach((e, i) => {
      assert.equal(e.index, from.index + 1 + i, `contiguous at ${i} (seed ${seed})`);
      assert.deepEqual(
        e.data,
        entryData(e.index, e.term, e.data.length),
        `entry ${e.index} intact (seed ${seed})`,
      );
    });
    t.diagnostic(
      `round ${round}: acked ${maxAcked}, replayed ${from.index + 1}..${lastIndex}, snaps ${lines(out, 'snap').length}`,
    );
  }
});
