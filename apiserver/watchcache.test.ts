// Unit tests for the watch cache with a scripted store feed: replay windows, 410 for old revisions,
// selector projection with prev_kv, several events per revision, and start-revision filtering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WatchCache, type WatchSink } from './watchcache.js';
import type { Storage, StoreEvent, StoredKV, WatchHandlers } from './storage.js';
import { Logger } from '../common/index.js';
import { parseSelector, type KubeObject, type Status, type WatchEventType } from '../apimachinery/index.js';

const log = new Logger('test', 'error');

/** A scripted stand-in for the store: a fixed initial list, then events pushed by the test. */
function feed(
  initial: StoredKV[],
  revision: number,
): { storage: Storage; push(evs: StoreEvent[], header: number): void } {
  let handlers: WatchHandlers | null = null;
  const storage = {
    async list() {
      return { kvs: initial, revision, more: false, remaining: 0 };
    },
    async watchPrefix(_p: string, _from: number, h: WatchHandlers) {
      if (handlers) {
        // A second watch is a catch-up read of old history: this store has compacted it.
        setImmediate(() => h.onLost('etcdserver: mvcc: required revision has been compacted', true));
      } else handlers = h;
      return async () => undefined;
    },
  } as unknown as Storage;
  return { storage, push: (evs, header) => handlers!.onEvents(evs, header) };
}

function kv(name: string, rev: number, created: number, labels: Record<string, string> = {}): StoredKV {
  const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', labels } };
  return {
    key: `/registry/configmaps/ns/${name}`,
    value: Buffer.from(JSON.stringify(obj)),
    modRevision: rev,
    createRevision: created,
  };
}

function sink(): WatchSink & { got: string[]; closed: boolean } {
  const s = {
    got: [] as string[],
    closed: false,
    send(type: WatchEventType, o: KubeObject | Status) {
      s.got.push(
        type === 'ERROR'
          ? `ERROR ${(o as Status).code}`
          : `${type} ${(o as KubeObject).metadata.name ?? ''}@${(o as KubeObject).metadata.resourceVersion}`,
      );
      return true;
    },
    close() {
      s.closed = true;
    },
  };
  return s;
}

test('replay from a revision, then live events; older than the window is 410', async () => {
  const f = feed([kv('a', 5, 5)], 5);
  const c = new WatchCache(f.storage, '/registry/configmaps/', 'ConfigMap', 'v1', log, 100, 0);
  await c.start();
  f.push([{ type: 'PUT', kv: kv('b', 6, 6), prev: null }], 6);
  f.push([{ type: 'PUT', kv: kv('a', 7, 5), prev: kv('a', 5, 5) }], 7);
  const s = sink();
  c.watch({ filter: {}, sink: s, fromRevision: 6, bookmarks: false });
  assert.deepEqual(s.got, ['MODIFIED a@7']);
  f.push([{ type: 'DELETE', kv: { ...kv('b', 8, 0), value: Buffer.alloc(0) }, prev: kv('b', 6, 6) }], 8);
  assert.deepEqual(s.got, ['MODIFIED a@7', 'DELETED b@8']);
  // Older than the window: read from the store, which has compacted it, so 410.
  const old = sink();
  c.watch({ filter: {}, sink: old, fromRevision: 4, bookmarks: false });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(old.got, ['ERROR 410']);
  assert.equal(old.closed, true);
});

test('a bounded window: evicted history is 410, the rest replays', async () => {
  const f = feed([], 1);
  const c = new WatchCache(f.storage, '/registry/configmaps/', 'ConfigMap', 'v1', log, 100, 0);
  await c.start();
  for (let r = 2; r < 160; r++) f.push([{ type: 'PUT', kv: kv(`o${r}`, r, r), prev: null }], r);
  const evicted = sink();
  c.watch({ filter: {}, sink: evicted, fromRevision: 10, bookmarks: false });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(evicted.got, ['ERROR 410']);
  const s = sink();
  c.watch({ filter: {}, sink: s, fromRevision: 150, bookmarks: false });
  assert.equal(s.got.length, 9);
});

test('selectors: leaving is DELETED, entering is ADDED, unrelated changes are not sent', async () => {
  const f = feed([kv('x', 3, 3, { team: 'blue' })], 3);
  const c = new WatchCache(f.storage, '/registry/configmaps/', 'ConfigMap', 'v1', log, 100, 0);
  await c.start();
  const s = sink();
  c.watch({ filter: { labels: parseSelector('team=blue') }, sink: s, fromRevision: 3, bookmarks: false });
  f.push([{ type: 'PUT', kv: kv('x', 4, 3, { team: 'red' }), prev: kv('x', 3, 3, { team: 'blue' }) }], 4);
  f.push(
    [{ type: 'PUT', kv: kv('x', 5, 3, { team: 'red', v: '2' }), prev: kv('x', 4, 3, { team: 'red' }) }],
    5,
  );
  f.push([{ type: 'PUT', kv: kv('x', 6, 3, { team: 'blue' }), prev: kv('x', 5, 3, { team: 'red' }) }], 6);
  assert.deepEqual(s.got, ['DELETED x@4', 'ADDED x@6']);
});

test('several events in one revision are all delivered, once, and never before the start revision', async () => {
  const f = feed([], 10);
  const c = new WatchCache(f.storage, '/registry/configmaps/', 'ConfigMap', 'v1', log, 100, 0);
  await c.start();
  const s = sink();
  // The client listed elsewhere at revision 12: events up to 12 are in its state already.
  c.watch({ filter: {}, sink: s, fromRevision: 12, bookmarks: false });
  f.push([{ type: 'PUT', kv: kv('early', 12, 12), prev: null }], 12);
  f.push(
    [
      { type: 'PUT', kv: kv('m1', 13, 13), prev: null },
      { type: 'PUT', kv: kv('m2', 13, 13), prev: null },
    ],
    13,
  );
  assert.deepEqual(s.got, ['ADDED m1@13', 'ADDED m2@13']);
  const late = sink();
  c.watch({ filter: {}, sink: late, fromRevision: 12, bookmarks: false });
  assert.deepEqual(late.got, ['ADDED m1@13', 'ADDED m2@13']);
  // A store that went backwards would be corruption: the cache refuses to serve it.
  assert.throws(() => f.push([{ type: 'PUT', kv: kv('bad', 11, 11), prev: null }], 11), /revision/);
});
