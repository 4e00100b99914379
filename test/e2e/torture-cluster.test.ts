// CI-sized torture runs (npm run torture's engine): real bin/store members behind fault proxies, seeded
// faults of every kind the member count allows, and zero violations expected. Seeds are printed; replay
// one with `npm run torture -- --seed S ...` (the failing run's command is in the assertion message).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, tempDir } from '../support/index.js';
import { checkLinearizable } from '../torture/checks.js';
import type { HistoryOp } from '../torture/history.js';
import { FAULT_KINDS, type FaultKind } from '../torture/faults.js';
import { printSummary, runTorture, type TortureSummary } from '../torture/run.js';

const SINGLE: FaultKind[] = ['kill-leader', 'kill-random', 'pause'];
// Members log at info (elections, snapshots sent and received, membership), kept per member in the run's
// folder (members/<name>.log): a violation seen once in CI must be explainable from what CI kept.
process.env['TORTURE_LOG_LEVEL'] ??= 'info';

async function torture(
  seed: number,
  members: number,
  durationS: number,
  faults: FaultKind[],
  peerTls = false,
): Promise<TortureSummary> {
  const out = tempDir('torture-e2e-');
  const lines: string[] = [];
  const s = await runTorture({
    seed,
    durationS,
    members,
    clients: 6,
    faults,
    out: out.path,
    log: (l) => lines.push(l),
    // Short holds and gaps so a CI-sized run sees every kind it is given.
    pace: { holdMs: [400, 1500], gapMs: [200, 800] },
    peerTls,
  });
  const report: string[] = [];
  printSummary(s, (l) => report.push(l));
  console.log(report.join('\n'));
  const memberTails = s.violations.length
    ? readdirSync(join(out.path, 'members'))
        .map((f) => `--- ${f} (tail) ---\n${readFileSync(join(out.path, 'members', f), 'utf8').slice(-3000)}`)
        .join('\n')
    : '';
  const why = `${report.join('\n')}\n${JSON.stringify(s.violations.slice(0, 5), null, 1).slice(0, 6000)}\n--- log ---\n${lines.join('\n').slice(-4000)}\n${memberTails}`;
  assert.deepEqual(s.violations, [], why);
  assert.equal(s.linearizability.verdict, 'ok', why);
  assert.ok(
    s.operations.put && s.operations.put.ok > 5,
    `too few acknowledged puts to mean anything\n${why}`,
  );
  assertCatchesStaleRead(join(out.path, 'history.json'));
  if (s.ok) out.remove();
  return s;
}

/**
 * The checker is not vacuous on real data: make one recorded read return an older write of its key that a
 * read completed before it had already seen overwritten; the same history must now be rejected.
 */
function assertCatchesStaleRead(file: string): void {
  const history = (JSON.parse(readFileSync(file, 'utf8')) as { operations: HistoryOp[] }).operations;
  const keys = [...new Set(history.filter((h) => h.key).map((h) => h.key!))].sort();
  const gets = history.filter((h) => h.kind === 'get' && h.outcome === 'ok' && h.kvs!.length === 1);
  for (const g of gets.reverse()) {
    const a = gets.find((x) => x.key === g.key && x.ret < g.call && x.kvs![0]!.modRev > 0);
    if (!a) continue;
    const p = history.find(
      (x) =>
        x.kind === 'put' &&
        x.key === g.key &&
        x.outcome === 'ok' &&
        x.rev! < a.kvs![0]!.modRev &&
        x.ret < g.call,
    );
    if (!p) continue;
    g.kvs = [{ key: g.key!, value: p.value!, modRev: p.rev!, lease: p.lease ?? '0' }];
    const { violations } = checkLinearizable(history, keys, undefined, 30_000);
    assert.ok(
      violations.some((v) => v.check === 'linearizability' && v.message.includes(g.key!)),
      `a stale read made up from #${p.id} in place of #${g.id} was not caught`,
    );
    return;
  }
}

/** Faults the run injected or tried to (a reconfiguration the cluster refused still counts as tried). */
const attempted = (s: TortureSummary) =>
  Object.entries(s.faults)
    .filter(([, v]) => v.injected + v.failed > 0)
    .map(([k]) => k);

test(
  'one member: kill -9 and SIGSTOP keep the store linearizable and its watches whole',
  { timeout: 120_000 },
  async () => {
    const seen = new Set<string>();
    for (const seed of [101, 202]) for (const k of attempted(await torture(seed, 1, 12, SINGLE))) seen.add(k);
    for (const k of SINGLE)
      assert.ok(seen.has(k), `fault ${k} was never injected (got ${[...seen].join(',')})`);
  },
);

// Membership churn and wiped members run in a test of their own, beside the kinds that keep every member.
const CHURN: FaultKind[] = ['member-churn', 'wipe'];

test('three members: kills, pauses, partitions, one-way drops and delays', { timeout: 240_000 }, async () => {
  const halves: FaultKind[][] = [
    ['kill-leader', 'kill-follower', 'pause', 'partition-majority'],
    ['kill-random', 'partition-leader', 'one-way', 'delay'],
  ];
  assert.deepEqual([...halves.flat(), ...CHURN].sort(), [...FAULT_KINDS].sort());
  for (const [i, kinds] of halves.entries()) {
    const s = await torture(303 + i, 3, 25, kinds);
    const got = attempted(s);
    for (const k of kinds)
      assert.ok(got.includes(k), `seed ${303 + i}: fault ${k} never tried (got ${got.join(',')})`);
  }
});

test('three members: membership churn and wiped members', { timeout: 240_000 }, async () => {
  const s = await torture(303, 3, 25, [
    'kill-leader',
    'kill-follower',
    'pause',
    'partition-majority',
    ...CHURN,
  ]);
  const got = attempted(s);
  for (const k of CHURN) assert.ok(got.includes(k), `fault ${k} never tried (got ${got.join(',')})`);
});

test(
  'three members over TLS peers: link faults and kills on the TLS transport',
  { skip: !hasCommand('openssl') && 'openssl not installed', timeout: 240_000 },
  async () => {
    const kinds: FaultKind[] = ['kill-leader', 'partition-leader', 'one-way', 'delay'];
    const s = await torture(305, 3, 20, kinds, true);
    assert.match(s.command, /--peer-tls/);
    const got = attempted(s);
    for (const k of kinds) assert.ok(got.includes(k), `fault ${k} never tried (got ${got.join(',')})`);
  },
);
