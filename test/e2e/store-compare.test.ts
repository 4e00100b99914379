// One scripted request sequence against a real etcd 3.4 and against bin/store: the same revisions,
// key-values, counts, errors and watch events (cluster/member ids and raft term normalized away).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, startRealEtcd, waitFor } from '../support/index.js';
import { rawClient, type RawEtcdClient } from '../../store/api/index.js';
import { startStore } from '../../store/server/testing.js';

const B = (s: string) => Buffer.from(s);
const EQUAL = 0;
const GREATER = 1;
const TARGET = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 };

type Step = [string, (c: RawEtcdClient) => Promise<unknown>];

const put = (key: string, value: string, extra: Record<string, unknown> = {}) => ({
  key: B(key),
  value: B(value),
  ...extra,
});
const op = {
  put: (key: string, value: string) => ({ requestPut: put(key, value) }),
  get: (key: string, extra: Record<string, unknown> = {}) => ({ requestRange: { key: B(key), ...extra } }),
  del: (key: string, extra: Record<string, unknown> = {}) => ({
    requestDeleteRange: { key: B(key), ...extra },
  }),
};

const SCENARIO: Step[] = [
  ['put a', (c) => c.kv.Put(put('a', '1'))],
  ['put b', (c) => c.kv.Put(put('b', '2'))],
  ['put a again with prev_kv', (c) => c.kv.Put(put('a', '3', { prevKv: true }))],
  [
    'put c/x, c/y, c/z',
    async (c) => [
      await c.kv.Put(put('c/x', 'x')),
      await c.kv.Put(put('c/y', 'y')),
      await c.kv.Put(put('c/z', 'z')),
    ],
  ],
  ['get a', (c) => c.kv.Range({ key: B('a') })],
  ['get missing', (c) => c.kv.Range({ key: B('nope') })],
  ['get prefix c/ limit 2', (c) => c.kv.Range({ key: B('c/'), rangeEnd: B('c0'), limit: 2 })],
  [
    'get from-key a, keys only, descending by key',
    (c) =>
      c.kv.Range({ key: B('a'), rangeEnd: Buffer.from([0]), keysOnly: true, sortOrder: 2, sortTarget: 0 }),
  ],
  [
    'get all by mod revision',
    (c) => c.kv.Range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), sortOrder: 1, sortTarget: 3 }),
  ],
  ['get count only', (c) => c.kv.Range({ key: B('c/'), rangeEnd: B('c0'), countOnly: true })],
  ['get a at revision 2', (c) => c.kv.Range({ key: B('a'), revision: 2 })],
  [
    'get with min_mod_revision',
    (c) => c.kv.Range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), minModRevision: 5 }),
  ],
  ['get future revision', (c) => c.kv.Range({ key: B('a'), revision: 1000 })],
  ['get without a key', (c) => c.kv.Range({ key: Buffer.alloc(0) })],
  [
    'txn success: compare value, put + get + delete',
    (c) =>
      c.kv.Txn({
        compare: [{ result: EQUAL, target: TARGET.VALUE, key: B('a'), value: B('3'), targetUnion: 'value' }],
        success: [op.put('t', '1'), op.get('a'), op.del('b', { prevKv: true })],
        failure: [op.put('t', 'failed')],
      }),
  ],
  [
    'txn failure: compare version',
    (c) =>
      c.kv.Txn({
        compare: [
          { result: GREATER, target: TARGET.VERSION, key: B('a'), version: 5, targetUnion: 'version' },
        ],
        success: [op.put('t', 'no')],
        failure: [op.get('t'), op.get('c/', { rangeEnd: B('c0'), countOnly: true })],
      }),
  ],
  [
    'txn with a nested txn',
    (c) =>
      c.kv.Txn({
        compare: [],
        success: [
          {
            requestTxn: {
              compare: [
                {
                  result: EQUAL,
                  target: TARGET.CREATE,
                  key: B('n'),
                  createRevision: 0,
                  targetUnion: 'createRevision',
                },
              ],
              success: [op.put('n', 'nested')],
              failure: [],
            },
          },
        ],
        failure: [],
      }),
  ],
  [
    'txn with a duplicate key',
    (c) => c.kv.Txn({ compare: [], success: [op.put('d', '1'), op.put('d', '2')], failure: [] }),
  ],
  ['read-only txn', (c) => c.kv.Txn({ compare: [], success: [op.get('a'), op.get('n')], failure: [] })],
  [
    'delete range c/ with prev_kv',
    (c) => c.kv.DeleteRange({ key: B('c/'), rangeEnd: B('c0'), prevKv: true }),
  ],
  ['delete a missing key', (c) => c.kv.DeleteRange({ key: B('zzz') })],
  ['put with ignore_value on a missing key', (c) => c.kv.Put({ key: B('missing'), ignoreValue: true })],
  ['put with ignore_value and a value', (c) => c.kv.Put({ key: B('a'), value: B('x'), ignoreValue: true })],
  ['lease grant with id', (c) => c.lease.LeaseGrant({ TTL: 100, ID: '4242' })],
  ['lease grant duplicate id', (c) => c.lease.LeaseGrant({ TTL: 100, ID: '4242' })],
  ['put with lease', (c) => c.kv.Put(put('leased', 'v', { lease: '4242' }))],
  ['put with unknown lease', (c) => c.kv.Put(put('leased2', 'v', { lease: '999' }))],
  [
    'put ignore_lease keeps the lease',
    (c) => c.kv.Put({ key: B('leased'), value: B('w'), ignoreLease: true }),
  ],
  [
    'compare lease',
    (c) =>
      c.kv.Txn({
        compare: [
          { result: EQUAL, target: TARGET.LEASE, key: B('leased'), lease: '4242', targetUnion: 'lease' },
        ],
        success: [op.get('leased')],
        failure: [],
      }),
  ],
  [
    'lease timetolive with keys',
    async (c) => {
      const r = await c.lease.LeaseTimeToLive({ ID: '4242', keys: true });
      return { ...r, TTL: Number(r.TTL) > 90 ? 'ok' : r.TTL };
    },
  ],
  ['lease revoke deletes its keys in one revision', (c) => c.lease.LeaseRevoke({ ID: '4242' })],
  ['get leased after revoke', (c) => c.kv.Range({ key: B('leased') })],
  ['lease timetolive of a revoked lease', (c) => c.lease.LeaseTimeToLive({ ID: '4242' })],
  ['lease revoke unknown', (c) => c.lease.LeaseRevoke({ ID: '4242' })],
  ['compact to 5', (c) => c.kv.Compact({ revision: 5 })],
  ['compact to 4 again', (c) => c.kv.Compact({ revision: 4 })],
  ['get at compacted revision', (c) => c.kv.Range({ key: B('a'), revision: 3 })],
  ['get at the compaction revision', (c) => c.kv.Range({ key: B('a'), revision: 5 })],
  ['compact beyond the head', (c) => c.kv.Compact({ revision: 1000 })],
  ['alarm list', (c) => c.maintenance.Alarm({ action: 0 })],
  ['final full range', (c) => c.kv.Range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) })],
];

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (Buffer.isBuffer(v)) return `buf:${v.toString()}`;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'clusterId' || k === 'memberId' || k === 'raftTerm' || k === 'memberID') out[k] = '*';
      else out[k] = normalize(x);
    }
    return out;
  }
  return v;
}

async function runScenario(endpoint: string): Promise<{ results: unknown[]; events: unknown[] }> {
  const c = rawClient(endpoint);
  const results: unknown[] = [];
  // Watch everything from revision 1 so the event history is compared too.
  const stream = c.watch();
  const events: unknown[] = [];
  stream.on('data', (r: any) => {
    for (const e of r.events ?? []) events.push(normalize(e));
  });
  stream.on('error', () => undefined);
  stream.write({
    createRequest: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: '1', prevKv: true },
  });
  try {
    for (const [name, step] of SCENARIO) {
      try {
        results.push([name, normalize(await step(c))]);
      } catch (err: any) {
        results.push([name, { error: { code: err.code, details: err.details } }]);
      }
    }
    const head = Number((await c.kv.Range({ key: B('a') })).header.revision);
    await waitFor(
      'watch events up to the head revision',
      () => {
        const last = events[events.length - 1] as any;
        return last && Number(last.kv.modRevision) >= head - 0;
      },
      { timeoutMs: 15_000 },
    );
  } finally {
    stream.cancel();
    c.close();
  }
  return { results, events };
}

test(
  'bin/store answers a scripted sequence exactly as etcd 3.4 does',
  { skip: !hasCommand('etcd') && 'etcd is not installed' },
  async () => {
    const etcd = await startRealEtcd();
    const store = await startStore();
    try {
      const want = await runScenario(etcd.endpoint);
      const got = await runScenario(store.endpoint);
      for (let i = 0; i < want.results.length; i++) {
        assert.deepEqual(
          got.results[i],
          want.results[i],
          `step ${JSON.stringify((want.results[i] as any)[0])}`,
        );
      }
      assert.deepEqual(got.events, want.events, 'watch history');
    } finally {
      await store.destroy();
      await etcd.stop();
    }
  },
);
