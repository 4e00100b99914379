// Unit tests of the torture checks on hand-made histories: each check must catch the anomaly it exists
// for (a lost acknowledged write, a stale read, a watch gap, a duplicate, a split revision, a progress
// notification ahead of events) and pass the clean version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAgainstStore, checkRevisionOrder, checkWatcher, StoreHistory } from './checks.js';
import type { HistoryOp, KV, WatcherLog, WatchResponse } from './history.js';

const kv = (key: string, value: string, modRev: number): KV => ({ key, value, modRev, lease: '0' });

/** rev 1: a=1; rev 2: b=2; rev 3: a=3 and b deleted... built as states. */
function store(): StoreHistory {
  const s1 = new Map([['a', kv('a', 'v1', 1)]]);
  const s2 = new Map([...s1, ['b', kv('b', 'v2', 2)]]);
  const s3 = new Map([['a', kv('a', 'v3', 3)]]);
  const s4 = new Map([
    ['a', kv('a', 'v4', 4)],
    ['c', kv('c', 'v4c', 4)],
  ]);
  return new StoreHistory([new Map(), s1, s2, s3, s4]);
}

let id = 0;
const op = (o: Partial<HistoryOp>): HistoryOp => ({
  id: id++,
  client: 0,
  member: 'm',
  kind: 'get',
  call: 0,
  ret: 1,
  outcome: 'ok',
  ...o,
});

test('derives events from states, deletes included', () => {
  assert.deepEqual(
    store()
      .eventsAt(3)
      .map((e) => `${e.type} ${e.key}`),
    ['PUT a', 'DELETE b'],
  );
});

test('acknowledged writes must be in the store history at their revision', () => {
  const s = store();
  assert.deepEqual(checkAgainstStore([op({ kind: 'put', key: 'a', value: 'v3', rev: 3 })], s), []);
  const lost = checkAgainstStore([op({ kind: 'put', key: 'a', value: 'zz', rev: 3 })], s);
  assert.equal(lost[0]?.check, 'acknowledged-write');
  const beyond = checkAgainstStore([op({ kind: 'put', key: 'a', value: 'v9', rev: 9 })], s);
  assert.equal(beyond[0]?.check, 'revision');
});

test('reads must match the store at the revision they report', () => {
  const s = store();
  assert.deepEqual(
    checkAgainstStore([op({ kind: 'get', key: 'a', rev: 2, kvs: [kv('a', 'v1', 1)] })], s),
    [],
  );
  assert.equal(
    checkAgainstStore([op({ kind: 'get', key: 'a', rev: 3, kvs: [kv('a', 'v1', 1)] })], s)[0]?.check,
    'read',
  );
  assert.equal(
    checkAgainstStore([op({ kind: 'srange', rev: 2, kvs: [kv('a', 'v1', 1)] })], s)[0]?.check,
    'read',
    'a range missing b at revision 2',
  );
});

test('a later operation may not see an older revision', () => {
  const ok = [op({ kind: 'put', rev: 5, call: 0, ret: 10 }), op({ kind: 'get', rev: 5, call: 11, ret: 12 })];
  assert.deepEqual(checkRevisionOrder(ok), []);
  const stale = [
    op({ kind: 'put', rev: 5, call: 0, ret: 10 }),
    op({ kind: 'get', rev: 4, call: 11, ret: 12 }),
  ];
  assert.equal(checkRevisionOrder(stale)[0]?.check, 'revision-order');
  const serializable = [
    op({ kind: 'put', rev: 5, call: 0, ret: 10 }),
    op({ kind: 'srange', rev: 4, call: 11, ret: 12 }),
  ];
  assert.deepEqual(checkRevisionOrder(serializable), []);
});

const ev = (type: 'PUT' | 'DELETE', key: string, value: string, modRev: number) => ({
  type,
  key,
  value,
  modRev,
  createRev: 0,
  version: 0,
  lease: '0',
});
const resp = (events: WatchResponse['events'], extra: Partial<WatchResponse> = {}): WatchResponse => ({
  at: 0,
  stream: 1,
  headerRev: events.length ? events[events.length - 1]!.modRev : 0,
  events,
  progress: false,
  ...extra,
});
const watcher = (responses: WatchResponse[], startRev = 1): WatcherLog => ({
  id: 0,
  member: 'm',
  startRev,
  responses,
  resumes: [],
});

const good = () => [
  resp([ev('PUT', 'a', 'v1', 1)]),
  resp([ev('PUT', 'b', 'v2', 2)]),
  resp([], { progress: true, headerRev: 2 }),
  resp([ev('PUT', 'a', 'v3', 3), ev('DELETE', 'b', '', 3)]),
  resp([ev('PUT', 'a', 'v4', 4), ev('PUT', 'c', 'v4c', 4)]),
];

test('a complete, ordered watch passes', () => {
  assert.deepEqual(checkWatcher(watcher(good()), store(), true), []);
  // Resumed from 3 on a new stream: still complete from its own start.
  assert.deepEqual(checkWatcher(watcher(good().slice(3), 3), store(), true), []);
});

test('watch anomalies are caught', () => {
  const checks = (rs: WatchResponse[]) => checkWatcher(watcher(rs), store(), true).map((v) => v.check);
  const g = good();
  assert.ok(checks([g[0]!, g[2]!, g[3]!, g[4]!]).includes('watch-reliable'), 'gap');
  assert.ok(checks([g[0]!, g[1]!, g[1]!, g[3]!, g[4]!]).includes('watch-unique'), 'duplicate');
  assert.ok(checks([g[1]!, g[0]!, g[3]!, g[4]!]).includes('watch-ordered'), 'out of order');
  const split = [g[0]!, g[1]!, resp([ev('PUT', 'a', 'v3', 3)]), resp([ev('DELETE', 'b', '', 3)]), g[4]!];
  assert.ok(checks(split).includes('watch-atomic'), 'split revision');
  const ahead = [g[0]!, resp([], { progress: true, headerRev: 2 }), g[1]!, g[3]!, g[4]!];
  assert.ok(checks(ahead).includes('watch-progress'), 'progress ahead of events');
  const wrong = [g[0]!, g[1]!, resp([ev('PUT', 'a', 'other', 3), ev('DELETE', 'b', '', 3)]), g[4]!];
  assert.ok(checks(wrong).includes('watch-reliable'), 'wrong value');
  const backwards = [g[0]!, g[1]!, g[3]!, resp([], { progress: true, headerRev: 2 }), g[4]!];
  assert.ok(checks(backwards).includes('watch-progress'), 'progress going back on one stream');
  // A stream resumed on a member that is behind reports an older revision: a bookmark going back.
  const resumedOnLaggard = [
    g[0]!,
    g[1]!,
    g[3]!,
    resp([], { progress: true, headerRev: 2, stream: 2 }),
    { ...g[4]!, stream: 2 },
  ];
  assert.ok(checks(resumedOnLaggard).includes('watch-progress'), 'progress going back across a resume');
  const resumedCurrent = [
    g[0]!,
    g[1]!,
    g[3]!,
    resp([], { progress: true, headerRev: 3, stream: 2 }),
    { ...g[4]!, stream: 2 },
  ];
  assert.deepEqual(checks(resumedCurrent), [], 'a resumed stream at the known revision');
  const compacted = [...g, resp([], { canceled: true, compactRevision: 3 })];
  assert.ok(checks(compacted).includes('watch-compacted'));
});
