// Runs one watch scenario against real etcd 3.4 (raw Watch stream of the etcd3 client) and against a
// WatchStream of the StateMachine, and compares what each watcher receives: created/canceled flags,
// compact_revision, and the events (types, keys, values, revisions, prev_kv) in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { hasCommand, startRealEtcd, waitFor } from '../../test/support/index.js';
import { StateMachine, type RaftRequest, type WatchRequest, type WatchResponse } from './index.js';

const b = (s: string) => Buffer.from(s);

const WRITES_BEFORE: RaftRequest[] = [
  { put: { key: b('a1'), value: b('1') } }, // 2
  { put: { key: b('a2'), value: b('1') } }, // 3
  { put: { key: b('b'), value: b('1') } }, // 4
  { put: { key: b('a1'), value: b('2') } }, // 5
  { deleteRange: { key: b('a2') } }, // 6
  { compaction: { revision: 4 } },
];
const WATCHES: WatchRequest[] = [
  { key: b('a'), rangeEnd: b('b'), startRevision: 5, prevKv: true, watchId: 1 },
  { key: b('a1'), startRevision: 3, watchId: 2 }, // compacted
  { key: b('a'), rangeEnd: b('b'), startRevision: 4, watchId: 3 }, // at the compact revision
  { key: b('a'), rangeEnd: Buffer.from([0]), filters: [1], watchId: 4 }, // from key, NODELETE, from now
  { key: b('b'), rangeEnd: b('a'), watchId: 5 }, // empty range
  { key: b('b'), startRevision: 4, prevKv: true, watchId: 6 }, // the put at the compact revision survives
];
const WRITES_AFTER: RaftRequest[] = [
  { put: { key: b('a3'), value: b('x') } }, // 7
  {
    txn: {
      success: [
        { requestPut: { key: b('c'), value: b('y') } },
        { requestDeleteRange: { key: b('a1'), prevKv: true } },
      ],
    },
  }, // 8
  { put: { key: b('z'), value: b('end') } }, // 9
];

interface Seen {
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  events: string[];
}

function record(
  seen: Map<number, Seen>,
  watchId: number,
  r: { created?: boolean; canceled?: boolean; compactRevision?: number; events: string[] },
) {
  let s = seen.get(watchId);
  if (!s) seen.set(watchId, (s = { created: false, canceled: false, compactRevision: 0, events: [] }));
  s.created ||= !!r.created;
  s.canceled ||= !!r.canceled;
  s.compactRevision ||= r.compactRevision ?? 0;
  s.events.push(...r.events);
}

const evStr = (type: string, kv: any, prev: any) =>
  `${type} ${kv.key.toString()}=${kv.value?.toString() ?? ''}@${kv.mod_revision ?? kv.modRevision}` +
  (prev ? ` prev=${prev.value.toString()}` : '');

test('watchers see the same responses as on etcd 3.4', { skip: !hasCommand('etcd') }, async () => {
  // Ours.
  const sm = new StateMachine({ watch: { schedule: (fn) => queueMicrotask(fn) } });
  let index = 0;
  for (const w of WRITES_BEFORE) assert.equal(sm.apply(++index, w).kind, 'response');
  const ours = new Map<number, Seen>();
  const stream = sm.newWatchStream({
    onResponse: (r: WatchResponse) =>
      record(ours, r.watchId, {
        ...r,
        events: r.events.map((e) => evStr(e.type === 0 ? 'PUT' : 'DELETE', e.kv, e.prevKv)),
      }),
  });
  for (const w of WATCHES) stream.watch(w);
  await new Promise((r) => setImmediate(r));
  for (const w of WRITES_AFTER) assert.equal(sm.apply(++index, w).kind, 'response');
  await new Promise((r) => setImmediate(r));

  // etcd's.
  const etcd = await startRealEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    const snake = (v: any): any =>
      Buffer.isBuffer(v) || typeof v !== 'object' || v === null
        ? v
        : Array.isArray(v)
          ? v.map(snake)
          : Object.fromEntries(
              Object.entries(v).map(([k, x]) => [
                k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()),
                snake(x),
              ]),
            );
    const send = async (w: RaftRequest) => {
      if ('put' in w) await client.kv.put(snake(w.put));
      else if ('deleteRange' in w) await client.kv.deleteRange(snake(w.deleteRange));
      else if ('txn' in w) await client.kv.txn(snake(w.txn));
      else if ('compaction' in w) await client.kv.compact(snake(w.compaction));
    };
    for (const w of WRITES_BEFORE) await send(w);
    const theirs = new Map<number, Seen>();
    const duplex = await client.watchClient.watch();
    let created = 0;
    duplex.on('data', (r: any) => {
      if (r.created) created++;
      record(theirs, Number(r.watch_id), {
        created: r.created,
        canceled: r.canceled,
        compactRevision: Number(r.compact_revision),
        events: r.events.map((e: any) => evStr(String(e.type).toUpperCase(), e.kv, e.prev_kv)),
      });
    });
    for (const w of WATCHES) {
      const n = created;
      duplex.write({ create_request: snake(w) });
      // Wait for each create: writes go on another stream and must not overtake it.
      await waitFor('etcd watch created', () => created > n);
    }
    for (const w of WRITES_AFTER) await send(w);
    await waitFor('etcd to deliver the last put', () =>
      theirs.get(4)?.events.some((e) => e.startsWith('PUT z=')),
    );
    for (const id of [3, 6]) {
      await waitFor(
        `etcd catch-up for watcher ${id}`,
        () => (theirs.get(id)?.events.length ?? 0) >= (ours.get(id)?.events.length ?? 0),
      );
    }
    assert.deepEqual(ours.get(6)?.events, ['PUT b=1@4']);
    duplex.end();
    assert.deepEqual(Object.fromEntries(ours), Object.fromEntries(theirs));
  } finally {
    client.close();
    await etcd.stop();
  }
});
