// One torture run: start the cluster, run clients, watchers and the fault schedule for the duration,
// heal, wait for the members to converge, read the store's history back, check everything, and write
// the history and a summary to the output dir. Every process it starts is stopped before it returns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCerts, waitFor } from '../support/index.js';
import {
  checkAgainstStore,
  checkLinearizable,
  checkRevisionOrder,
  checkWatcher,
  StoreHistory,
  type Violation,
} from './checks.js';
import { TortureCluster, type Member } from './cluster.js';
import { freezeStoreBuild } from './frozen.js';
import { FaultSchedule, type FaultKind } from './faults.js';
import { now, type KV } from './history.js';
import { Rng } from './rng.js';
import { Watcher } from './watchers.js';
import { keyName, PREFIX, rangeEnd, Workload } from './workload.js';

export interface TortureOptions {
  seed: number;
  durationS: number;
  members: number;
  clients: number;
  faults: FaultKind[];
  out: string;
  keys?: number;
  watchers?: number;
  log?: (line: string) => void;
  /** Fault hold and gap ranges in ms (default hold 0.5-3 s, gap 0.5-2 s). */
  pace?: { holdMs: [number, number]; gapMs: [number, number] };
  /** Run members from a private copy of the compiled store (see frozen.ts). */
  freeze?: boolean;
  /** Budget of the linearizability search. */
  checkTimeoutMs?: number;
  /** Peers talk TLS (https peer URLs, --peer-client-cert-auth), through the same fault-injecting proxies. */
  peerTls?: boolean;
}

export interface TortureSummary {
  seed: number;
  members: number;
  clients: number;
  durationS: number;
  command: string;
  operations: Record<string, Record<string, number>>;
  operationsTotal: number;
  faults: Record<string, { injected: number; skipped: number; failed: number }>;
  watchers: {
    id: number;
    member: string;
    startRev: number;
    events: number;
    progress: number;
    resumes: number;
  }[];
  finalRevision: number;
  hashKV: Record<string, string>;
  linearizability: { verdict: string; ms: number; operations: number; keys: number };
  violations: Violation[];
  ok: boolean;
  wallMs: number;
  out: string;
}

const rangeReq = (rev: number) => ({
  key: Buffer.from(PREFIX),
  rangeEnd: rangeEnd(PREFIX),
  revision: String(rev),
  serializable: true,
});

function toKVs(r: any): KV[] {
  return (r.kvs as any[]).map((kv) => ({
    key: Buffer.from(kv.key).toString(),
    value: Buffer.from(kv.value).toString(),
    modRev: Number(kv.modRevision),
    lease: String(kv.lease ?? '0'),
  }));
}

export async function runTorture(o: TortureOptions): Promise<TortureSummary> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const keys = Array.from({ length: o.keys ?? 8 }, (_, i) => keyName(i));
  const rng = new Rng(o.seed);
  mkdirSync(o.out, { recursive: true });
  const violations: Violation[] = [];
  log(
    `torture: seed ${o.seed}, ${o.members} member(s), ${o.clients} clients, ${o.durationS} s, faults ${o.faults.join(',') || 'none'}`,
  );
  const frozen = o.freeze ? await freezeStoreBuild() : undefined;
  let peerTls: string | undefined;
  if (o.peerTls) {
    peerTls = join(o.out, 'certs');
    mkdirSync(peerTls, { recursive: true });
    // The peers are known by name (sN.torture, see peer-dns.ts): one certificate for all of them (named one
    // by one: Node's TLS does not match a wildcard of two labels such as *.torture).
    const names = Array.from({ length: o.members }, (_, i) => `DNS:s${i}.torture`);
    await makeTestCerts(peerTls, ['peer'], ['IP:127.0.0.1', ...names].join(','));
  }
  const cluster = await TortureCluster.start({
    peerTls,
    storeEntry: frozen?.entry,
    peerDns: frozen?.peerDns,
    members: o.members,
    random: () => rng.next(),
    log,
    // Small snapshot intervals so restarts and new members go through snapshots, not only WAL replay.
    extraArgs: ['--snapshot-count', '500', '--snapshot-catchup-entries', '200', '--request-timeout', '3000'],
  }).catch((err) => {
    frozen?.remove();
    throw err;
  });
  const live = () => cluster.members.filter((m) => cluster.running(m) && !m.paused);
  const memberFor = (i: number, attempt: number): Member => {
    const ms = cluster.members;
    const m = ms[(i + attempt) % ms.length]!;
    return m;
  };
  const workload = new Workload({
    clients: o.clients,
    keys: keys.length,
    seed: o.seed,
    deadlineMs: 4000,
    clientFor: (c, attempt) => memberFor(c, attempt).client,
  });
  const watchers: Watcher[] = [];
  const faults = new FaultSchedule(cluster, o.faults, o.seed, log, o.pace);
  let summaryExtra: Partial<TortureSummary> | undefined;
  try {
    const status = await cluster.members[0]!.client.call('maintenance', 'Status', {}, 5000);
    const firstRev = Number(status.header.revision) + 1;
    for (let i = 0; i < (o.watchers ?? 3); i++) {
      // One watcher from revision 1 (catch-up from history), the others from now.
      const w = new Watcher(i, (attempt) => memberFor(i, attempt).client, i === 0 ? 1 : firstRev);
      watchers.push(w);
      w.start();
    }
    workload.start();
    faults.start();
    const until = Date.now() + o.durationS * 1000;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
    log('torture: stopping faults and clients');
    await faults.stop();
    await workload.stop();
    await faults.healAll();

    // Healed: every member must serve again and converge to one revision and one hash.
    for (const m of cluster.members) {
      await cluster.waitServing(m, 60_000).catch((err) =>
        violations.push({
          check: 'availability',
          message: `member ${m.name} does not serve after healing: ${(err as Error).message}`,
        }),
      );
    }
    let hashes: Record<string, string> = {};
    let finalRev = 0;
    await waitFor(
      'members to converge to one HashKV at one revision',
      async () => {
        const st = await Promise.all(live().map((m) => m.client.call('maintenance', 'Status', {}, 3000)));
        const revs = new Set(st.map((s) => Number(s.header.revision)));
        if (revs.size !== 1) return false;
        const rev = [...revs][0]!;
        const hs = await Promise.all(
          live().map((m) => m.client.call('maintenance', 'HashKV', { revision: String(rev) }, 5000)),
        );
        hashes = Object.fromEntries(live().map((m, i) => [m.name, `${hs[i].hash}@${hs[i].compactRevision}`]));
        finalRev = rev;
        return new Set(Object.values(hashes)).size === 1;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch((err) =>
      violations.push({
        check: 'convergence',
        message: `${(err as Error).message}; last hashes ${JSON.stringify(hashes)} at ${finalRev}`,
      }),
    );
    log(`torture: converged at revision ${finalRev}: ${JSON.stringify(hashes)}`);

    // Without convergence, still check what can be checked: read the history from the most advanced member.
    let reader = live()[0]!;
    if (finalRev === 0) {
      for (const m of live()) {
        const st = await m.client.call('maintenance', 'Status', {}, 3000).catch(() => undefined);
        if (st && Number(st.header.revision) > finalRev) [finalRev, reader] = [Number(st.header.revision), m];
      }
    }
    // The store's own history, independent of the watch code: the prefix at every revision.
    const states: Map<string, KV>[] = [new Map()];
    for (let base = 1; base <= finalRev; base += 32) {
      const batch = [];
      for (let r = base; r < Math.min(base + 32, finalRev + 1); r++)
        batch.push(reader.client.call('kv', 'Range', rangeReq(r), 10_000));
      for (const r of await Promise.all(batch)) states.push(new Map(toKVs(r).map((kv) => [kv.key, kv])));
    }
    const store = new StoreHistory(states);
    for (const m of live()) {
      const r = await m.client.call(
        'kv',
        'Range',
        { key: Buffer.from(PREFIX), rangeEnd: rangeEnd(PREFIX), serializable: true },
        5000,
      );
      const got = JSON.stringify(toKVs(r));
      const want = JSON.stringify(
        [...(store.at(finalRev)?.values() ?? [])].sort((a, b) => (a.key < b.key ? -1 : 1)),
      );
      if (got !== want)
        violations.push({
          check: 'convergence',
          message: `member ${m.name}'s key space differs from the history at ${finalRev}`,
          ops: [got, want],
        });
    }

    const caughtUp = await Promise.all(watchers.map((w) => w.stop(finalRev, 30_000)));
    caughtUp.forEach((ok, i) => {
      if (!ok)
        violations.push({
          check: 'watch-liveness',
          message: `watcher ${i} did not reach revision ${finalRev} within 30 s after healing (at ${watchers[i]!.known})`,
        });
    });

    log('torture: checking');
    violations.push(...checkAgainstStore(workload.history, store));
    violations.push(...checkRevisionOrder(workload.history));
    for (const w of watchers) violations.push(...checkWatcher(w.log, store, true));
    const lin = checkLinearizable(workload.history, keys, store, o.checkTimeoutMs ?? 120_000);
    violations.push(...lin.violations);
    summaryExtra = {
      finalRevision: finalRev,
      hashKV: hashes,
      linearizability: {
        verdict: lin.result.verdict,
        ms: Math.round(lin.result.ms),
        operations: lin.result.partitions.reduce((s, p) => s + p.operations, 0),
        keys: lin.result.partitions.length,
      },
    };
  } finally {
    await faults.stop().catch(() => undefined);
    await workload.stop().catch(() => undefined);
    for (const w of watchers) await w.stop(0, 0);
    // Each member's own log (restarts included), to see why a violation happened.
    mkdirSync(join(o.out, 'members'), { recursive: true });
    for (const [name, text] of Object.entries(cluster.memberLogs()))
      writeFileSync(join(o.out, 'members', `${name}.log`), text);
    await cluster.destroy();
    frozen?.remove();
  }

  const operations: TortureSummary['operations'] = {};
  for (const h of workload.history) {
    const k = (operations[h.kind] ??= { ok: 0, fail: 0, unknown: 0 });
    k[h.outcome]++;
  }
  const faultCounts: TortureSummary['faults'] = {};
  for (const f of faults.records) {
    const k = (faultCounts[f.kind] ??= { injected: 0, skipped: 0, failed: 0 });
    if (f.skipped) k.skipped++;
    else if (f.detail?.includes('error:')) k.failed++;
    else k.injected++;
  }
  const summary: TortureSummary = {
    seed: o.seed,
    members: o.members,
    clients: o.clients,
    durationS: o.durationS,
    command: `npm run torture -- --seed ${o.seed} --duration ${o.durationS} --members ${o.members} --clients ${o.clients} --faults ${o.faults.join(',') || 'none'}${o.peerTls ? ' --peer-tls' : ''}`,
    operations,
    operationsTotal: workload.history.length,
    faults: faultCounts,
    watchers: watchers.map((w) => ({
      id: w.log.id,
      member: w.log.member,
      startRev: w.log.startRev,
      events: w.log.responses.reduce((s, r) => s + r.events.length, 0),
      progress: w.log.responses.filter((r) => r.progress).length,
      resumes: w.log.resumes.length,
    })),
    finalRevision: 0,
    hashKV: {},
    linearizability: { verdict: 'not run', ms: 0, operations: 0, keys: 0 },
    ...summaryExtra,
    violations,
    ok: false,
    wallMs: Date.now() - started,
    out: o.out,
  };
  summary.ok = violations.length === 0 && summary.linearizability.verdict === 'ok';
  writeFileSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
  writeFileSync(
    join(o.out, 'history.json'),
    JSON.stringify({
      seed: o.seed,
      operations: workload.history,
      watchers: watchers.map((w) => w.log),
      faults: faults.records,
      endedAt: now(),
    }),
  );
  return summary;
}

export function printSummary(s: TortureSummary, print: (line: string) => void = console.log): void {
  print(
    `seed ${s.seed}: ${s.members} member(s), ${s.clients} clients, ${s.durationS} s, ${s.operationsTotal} operations, final revision ${s.finalRevision}`,
  );
  print('operations (ok / fail / unknown):');
  for (const [k, v] of Object.entries(s.operations))
    print(`  ${k.padEnd(8)} ${v.ok} / ${v.fail} / ${v.unknown}`);
  print('faults (injected / skipped / failed to inject):');
  for (const [k, v] of Object.entries(s.faults))
    print(`  ${k.padEnd(20)} ${v.injected} / ${v.skipped} / ${v.failed}`);
  print(
    `watchers: ${s.watchers.map((w) => `#${w.id} from ${w.startRev}: ${w.events} events, ${w.progress} progress, ${w.resumes} resumes`).join('; ')}`,
  );
  print(
    `linearizability: ${s.linearizability.verdict} (${s.linearizability.operations} operations on ${s.linearizability.keys} keys, ${s.linearizability.ms} ms)`,
  );
  print(`hashKV: ${JSON.stringify(s.hashKV)}`);
  print(`violations: ${s.violations.length}`);
  for (const v of s.violations.slice(0, 20)) print(`  [${v.check}] ${v.message}`);
  print(`${s.ok ? 'PASS' : 'FAIL'} seed ${s.seed}; history and summary in ${s.out}; replay: ${s.command}`);
}
