// The checks of a torture run: linearizability of the client history (per key, with the checker in
// linearizability/), acknowledged writes against the store's own history, every read against the state at
// the revision it reported, real-time order of revisions, and etcd's watch guarantees (ordered, unique,
// reliable, atomic, resumable, bookmarkable) against the history read back with Range at every revision.
import { checkHistory, type Operation, type CheckResult } from './linearizability/index.js';
import type { HistoryOp, KV, WatcherLog } from './history.js';

export interface Violation {
  check: string;
  message: string;
  ops?: unknown[];
}

/** The store's history: the prefix's key-values at every revision 1..last (read back with Range). */
export class StoreHistory {
  constructor(
    /** states[r] = key -> KV at revision r. */
    readonly states: Map<string, KV>[],
  ) {}

  get last(): number {
    return this.states.length - 1;
  }

  at(rev: number): Map<string, KV> | undefined {
    return this.states[rev];
  }

  /** The events of revision r: puts (mod_revision r) and deletes (present at r-1, gone at r). */
  eventsAt(r: number): { type: 'PUT' | 'DELETE'; key: string; value: string; modRev: number }[] {
    const cur = this.states[r];
    if (!cur) return [];
    const prev = this.states[r - 1] ?? new Map<string, KV>();
    const out: { type: 'PUT' | 'DELETE'; key: string; value: string; modRev: number }[] = [];
    for (const kv of cur.values())
      if (kv.modRev === r) out.push({ type: 'PUT', key: kv.key, value: kv.value, modRev: r });
    for (const k of prev.keys()) if (!cur.has(k)) out.push({ type: 'DELETE', key: k, value: '', modRev: r });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** What the linearizability checker sees: the history projected to keys, with unknown writes settled by the store history where their unique value shows they never happened. */
export function toOperations(
  history: HistoryOp[],
  keys: string[],
  store: StoreHistory | undefined,
): Operation[] {
  const ops: Operation[] = [];
  const written = new Set<string>();
  if (store)
    for (let r = 1; r <= store.last; r++)
      for (const e of store.eventsAt(r)) if (e.type === 'PUT') written.add(`${e.key}\0${e.value}`);
  const leaseKeys = new Map<string, Set<string>>();
  for (const h of history) {
    if (h.kind === 'put' && h.lease && h.outcome !== 'fail') {
      let s = leaseKeys.get(h.lease);
      if (!s) leaseKeys.set(h.lease, (s = new Set()));
      s.add(h.key!);
    }
  }
  let id = 0;
  const push = (h: HistoryOp, input: Operation['input'], output: Operation['output']) =>
    ops.push({
      id: id++,
      client: h.client,
      input,
      output: h.outcome === 'ok' ? output : undefined,
      call: h.call,
      ret: h.ret,
    });
  for (const h of history) {
    if (h.outcome === 'fail') continue;
    if (
      h.outcome === 'unknown' &&
      (h.kind === 'put' || h.kind === 'cas') &&
      store &&
      !written.has(`${h.key}\0${h.value}`)
    ) {
      continue; // its unique value is nowhere in the store's history: it did not happen
    }
    switch (h.kind) {
      case 'put':
        push(h, { f: 'put', key: h.key!, value: h.value!, lease: h.lease }, { f: 'put', rev: h.rev! });
        break;
      case 'get': {
        const kv = h.kvs?.[0];
        push(h, { f: 'get', key: h.key! }, { f: 'get', v: kv ? kv.value : null, rev: kv ? kv.modRev : 0 });
        break;
      }
      case 'range':
        if (h.outcome !== 'ok') break;
        for (const key of keys) {
          const kv = h.kvs!.find((x) => x.key === key);
          push(h, { f: 'get', key }, { f: 'get', v: kv ? kv.value : null, rev: kv ? kv.modRev : 0 });
        }
        break;
      case 'cas': {
        const kv = h.kvs?.[0];
        push(
          h,
          { f: 'cas', key: h.key!, expect: h.expect!, value: h.value! },
          h.succeeded
            ? { f: 'cas', ok: true, rev: h.rev! }
            : { f: 'cas', ok: false, v: kv ? kv.value : null, rev: kv ? kv.modRev : 0 },
        );
        break;
      }
      case 'del':
        push(h, { f: 'del', key: h.key! }, { f: 'del', deleted: h.deleted! });
        break;
      case 'revoke':
        for (const key of leaseKeys.get(h.lease!) ?? [])
          push(h, { f: 'revoke', key, lease: h.lease! }, { f: 'revoke' });
        break;
      default:
        break;
    }
  }
  return ops;
}

export function checkLinearizable(
  history: HistoryOp[],
  keys: string[],
  store: StoreHistory | undefined,
  timeoutMs: number,
): { result: CheckResult; violations: Violation[] } {
  const result = checkHistory(toOperations(history, keys, store), { timeoutMs });
  const violations: Violation[] = [];
  for (const p of result.partitions) {
    if (p.verdict === 'illegal') {
      violations.push({
        check: 'linearizability',
        message: `key ${p.key}: ${p.reason}`,
        ops: [{ linearizedTail: p.linearized?.slice(-20), cannotFollow: p.stuckAt?.slice(0, 30) }],
      });
    }
  }
  return { result, violations };
}

const sameKVs = (a: KV[], b: KV[]) =>
  a.length === b.length &&
  a.every((x, i) => x.key === b[i]!.key && x.value === b[i]!.value && x.modRev === b[i]!.modRev);

const sorted = (m: Map<string, KV>) => [...m.values()].sort((a, b) => (a.key < b.key ? -1 : 1));

/** Acknowledged writes are in the store history at the revision they were told; reads saw the state at theirs. */
export function checkAgainstStore(history: HistoryOp[], store: StoreHistory): Violation[] {
  const v: Violation[] = [];
  for (const h of history) {
    if (h.outcome !== 'ok' || h.rev === undefined) continue;
    const at = store.at(h.rev);
    if (!at) {
      if (h.kind !== 'grant' && h.kind !== 'revoke') {
        v.push({
          check: 'revision',
          message: `${h.kind} #${h.id} answered revision ${h.rev}, beyond the store's last ${store.last}`,
          ops: [h],
        });
      }
      continue;
    }
    const kv = h.key !== undefined ? at.get(h.key) : undefined;
    if (
      (h.kind === 'put' || (h.kind === 'cas' && h.succeeded)) &&
      (kv?.value !== h.value || kv?.modRev !== h.rev)
    ) {
      v.push({
        check: 'acknowledged-write',
        message: `${h.kind} #${h.id} of ${h.key}=${h.value} was acknowledged at revision ${h.rev} but the store has ${JSON.stringify(kv)} there`,
        ops: [h],
      });
    }
    if (h.kind === 'del' && h.deleted === 1 && (kv || !store.at(h.rev - 1)?.has(h.key!))) {
      v.push({
        check: 'acknowledged-write',
        message: `del #${h.id} of ${h.key} acknowledged at revision ${h.rev} but the store history disagrees`,
        ops: [h],
      });
    }
    if (h.kind === 'get' || (h.kind === 'cas' && !h.succeeded)) {
      const want = kv ? [kv] : [];
      if (!sameKVs(h.kvs ?? [], want)) {
        v.push({
          check: 'read',
          message: `${h.kind} #${h.id} of ${h.key} at revision ${h.rev} returned ${JSON.stringify(h.kvs)}, the store had ${JSON.stringify(want)}`,
          ops: [h],
        });
      }
    }
    if (h.kind === 'range' || h.kind === 'srange') {
      if (!sameKVs(h.kvs ?? [], sorted(at))) {
        v.push({
          check: 'read',
          message: `${h.kind} #${h.id} at revision ${h.rev} does not match the store at that revision`,
          ops: [h, sorted(at)],
        });
      }
    }
  }
  return v;
}

/** Real time: an operation that starts after another finished cannot see an older revision (serializable reads excepted). */
export function checkRevisionOrder(history: HistoryOp[]): Violation[] {
  const ok = history.filter((h) => h.outcome === 'ok' && h.rev !== undefined && h.kind !== 'srange');
  const byRet = [...ok].sort((a, b) => a.ret - b.ret);
  const byCall = [...ok].sort((a, b) => a.call - b.call);
  const v: Violation[] = [];
  let i = 0;
  let max: HistoryOp | undefined;
  for (const h of byCall) {
    while (i < byRet.length && byRet[i]!.ret < h.call) {
      if (!max || byRet[i]!.rev! > max.rev!) max = byRet[i]!;
      i++;
    }
    if (max && h.rev! < max.rev!) {
      v.push({
        check: 'revision-order',
        message: `${h.kind} #${h.id} saw revision ${h.rev} after ${max.kind} #${max.id} had completed at ${max.rev}`,
        ops: [max, h],
      });
      if (v.length > 20) break;
    }
  }
  return v;
}

/** etcd's watch guarantees for one watcher, against the store history. */
export function checkWatcher(w: WatcherLog, store: StoreHistory, compactionOff: boolean): Violation[] {
  const v: Violation[] = [];
  const bad = (check: string, message: string, ops?: unknown[]) =>
    v.length < 50 && v.push({ check: `watch-${check}`, message: `watcher ${w.id}: ${message}`, ops });
  const seen = new Set<string>();
  let lastRev = 0;
  let delivered = w.startRev - 1;
  const lastOnStream = new Map<number, number>();
  for (const r of w.responses) {
    if (r.canceled && r.compactRevision && compactionOff)
      bad('compacted', `canceled with compact revision ${r.compactRevision} although nothing was compacted`, [
        r,
      ]);
    if (r.progress) {
      // Bookmarkable: a progress notification at P promises every event <= P was delivered. It never goes
      // back for the watcher, across streams too: a resumed stream starts after what the watcher already
      // knew, and a client taking the notification as its resume point must not step back (etcd#20221).
      const known = Math.max(delivered, lastRev);
      if (r.headerRev < known) {
        const where = r.stream !== undefined && lastOnStream.has(r.stream) ? 'on the same stream' : 'resumed';
        bad('progress', `progress notification at ${r.headerRev} below ${known} already known (${where})`, [
          r,
        ]);
      }
      for (let rev = Math.max(delivered + 1, w.startRev); rev <= Math.min(r.headerRev, store.last); rev++) {
        if (store.eventsAt(rev).length) {
          bad(
            'progress',
            `progress notification at ${r.headerRev} before the events of revision ${rev} were delivered`,
            [r],
          );
          break;
        }
      }
      delivered = Math.max(delivered, r.headerRev);
      continue;
    }
    const revsHere = new Set<number>();
    for (const e of r.events) {
      const id = `${e.modRev}\0${e.key}`;
      if (seen.has(id)) bad('unique', `event ${e.type} ${e.key}@${e.modRev} delivered twice`, [r]);
      seen.add(id);
      if (e.modRev < lastRev) bad('ordered', `event at ${e.modRev} after one at ${lastRev}`, [r]);
      if (e.modRev <= delivered && !revsHere.has(e.modRev) && e.modRev > lastRev) {
        bad('progress', `event at ${e.modRev} arrived after a progress notification at ${delivered}`, [r]);
      }
      lastRev = Math.max(lastRev, e.modRev);
      revsHere.add(e.modRev);
      const want = store.eventsAt(e.modRev).find((x) => x.key === e.key);
      if (!want || want.type !== e.type || (e.type === 'PUT' && want.value !== e.value)) {
        bad(
          'reliable',
          `event ${e.type} ${e.key}=${e.value}@${e.modRev} is not in the store history (${JSON.stringify(want)})`,
          [r],
        );
      }
    }
    // Atomic: a revision's events come in one response.
    for (const rev of revsHere) {
      const want = store.eventsAt(rev).length;
      const got = r.events.filter((e) => e.modRev === rev).length;
      if (got !== want)
        bad('atomic', `revision ${rev} came with ${got} of its ${want} events in one response`, [r]);
    }
    if (r.events.length) lastOnStream.set(r.stream, r.events[r.events.length - 1]!.modRev);
    delivered = Math.max(delivered, lastRev);
  }
  // Reliable and resumable: every event from the start up to what the watcher knows was delivered.
  const upTo = Math.min(delivered, store.last);
  for (let rev = w.startRev; rev <= upTo; rev++) {
    for (const e of store.eventsAt(rev)) {
      if (!seen.has(`${rev}\0${e.key}`)) {
        const resumes = w.resumes.filter((x) => Math.abs(x.fromRev - rev) < 5);
        bad('reliable', `missed ${e.type} ${e.key}@${rev}`, resumes.length ? resumes : undefined);
      }
    }
  }
  return v;
}
