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
  // etcd's HashKV covers the whole stored history; the same requests must give the same hash.
  ['hashkv', (c) => c.maintenance.HashKV({ revision: 0 })],
  ['hashkv at the compaction revision', (c) => c.maintenance.HashKV({ revision: 5 })],
  ['hashkv at a past revision', (c) => c.maintenance.HashKV({ revision: 7 })],
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
  // Watch everything from the next revision (synced before the first write) so the event history is
  // compared too.
  const stream = c.watch();
  const events: unknown[] = [];
  let created = false;
  stream.on('data', (r: any) => {
    if (r.created) created = true;
    for (const e of r.events ?? []) events.push(normalize(e));
  });
  stream.on('error', () => undefined);
  stream.write({ createRequest: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]), prevKv: true } });
  await waitFor('the history watch to be created', () => created);
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

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** A seeded random sequence of KV requests over a small key space, so keys collide, get deleted, revive. */
function randomScenario(seed: number, n: number): Step[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = ['a', 'b', 'c', 'd', 'e/1', 'e/2', 'e/3', 'f'];
  const key = () => pick(keys);
  const val = () => String(Math.floor(r() * 5));
  const range = () =>
    pick([
      () => ({ key: B(key()) }),
      () => ({ key: B('e/'), rangeEnd: B('e0') }),
      () => ({ key: B(key()), rangeEnd: Buffer.from([0]), limit: Math.floor(r() * 3) }),
      () => ({
        key: B('a'),
        rangeEnd: B('f'),
        sortOrder: Math.floor(r() * 3),
        sortTarget: Math.floor(r() * 5),
      }),
      () => ({ key: B('a'), rangeEnd: Buffer.from([0]), countOnly: true }),
    ])();
  const steps: Step[] = [];
  let head = 1;
  for (let i = 0; i < n; i++) {
    const kind = r();
    if (kind < 0.35) {
      const k = key();
      const v = val();
      const prevKv = r() < 0.5;
      steps.push([`put ${k}=${v}`, (c) => c.kv.Put(put(k, v, { prevKv }))]);
      head++;
    } else if (kind < 0.5) {
      const k = key();
      const prefix = r() < 0.3;
      steps.push([
        `delete ${k}${prefix ? ' prefix' : ''}`,
        (c) => c.kv.DeleteRange({ key: B(k), ...(prefix ? { rangeEnd: B('f') } : {}), prevKv: true }),
      ]);
      head++;
    } else if (kind < 0.7) {
      const req = range();
      const rev = r() < 0.3 ? Math.floor(r() * (head + 2)) : 0;
      steps.push([`range ${JSON.stringify(req)} @${rev}`, (c) => c.kv.Range({ ...req, revision: rev })]);
    } else if (kind < 0.9) {
      const k = key();
      const target = pick(['VERSION', 'CREATE', 'MOD', 'VALUE'] as const);
      const result = Math.floor(r() * 4);
      const cmp: Record<string, unknown> = { result, target: TARGET[target], key: B(k) };
      if (target === 'VALUE') Object.assign(cmp, { value: B(val()), targetUnion: 'value' });
      else if (target === 'VERSION')
        Object.assign(cmp, { version: Math.floor(r() * 3), targetUnion: 'version' });
      else if (target === 'CREATE')
        Object.assign(cmp, { createRevision: Math.floor(r() * head), targetUnion: 'createRevision' });
      else Object.assign(cmp, { modRevision: Math.floor(r() * head), targetUnion: 'modRevision' });
      const k2 = key();
      const v2 = val();
      const k3 = pick(keys.filter((x) => x !== k2));
      steps.push([
        `txn ${target} ${k}`,
        (c) =>
          c.kv.Txn({
            compare: [cmp],
            success: [op.put(k2, v2), op.get(k)],
            failure: [op.get(k2), op.del(k3)],
          }),
      ]);
      head++;
    } else if (kind < 0.95) {
      const rev = Math.max(1, Math.floor(r() * head));
      steps.push([`compact ${rev}`, (c) => c.kv.Compact({ revision: rev })]);
    } else if (kind < 0.97) {
      const rev = r() < 0.5 ? 0 : Math.floor(r() * (head + 1));
      steps.push([`hashkv @${rev}`, (c) => c.maintenance.HashKV({ revision: rev })]);
    } else {
      // Leases with fixed ids (so both stores agree on them): grant, attach, revoke.
      const id = String(100 + Math.floor(r() * 3));
      const what = Math.floor(r() * 4);
      const k = key();
      const v = val();
      if (what === 0) steps.push([`lease grant ${id}`, (c) => c.lease.LeaseGrant({ TTL: 3600, ID: id })]);
      else if (what === 1) {
        steps.push([`lease revoke ${id}`, (c) => c.lease.LeaseRevoke({ ID: id })]);
        head++;
      } else if (what === 2) {
        steps.push([`put ${k}=${v} lease ${id}`, (c) => c.kv.Put(put(k, v, { lease: id }))]);
        head++;
      } else {
        steps.push([`put ${k} ignore_lease`, (c) => c.kv.Put({ key: B(k), value: B(v), ignoreLease: true })]);
        head++;
      }
    }
  }
  return steps;
}

async function runSteps(endpoint: string, steps: Step[]): Promise<{ results: unknown[]; events: unknown[] }> {
  const c = rawClient(endpoint);
  const out: unknown[] = [];
  const events: any[] = [];
  let canceled = '';
  let created = false;
  const stream = c.watch();
  stream.on('data', (r: any) => {
    if (r.created) created = true;
    if (r.canceled) canceled = `${r.cancelReason} compact_revision=${r.compactRevision}`;
    for (const e of r.events ?? []) events.push(normalize(e));
  });
  stream.on('error', () => undefined);
  stream.write({
    createRequest: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]), prevKv: true },
  });
  // From the next revision (the store is empty), and created before any write: a synced watcher that no
  // compaction in the script can cancel. (A start at revision 1 would begin unsynced, and an early
  // compaction may legitimately cancel it, in etcd as here.)
  await waitFor('the history watch to be created', () => created);
  try {
    for (const [name, step] of steps) {
      try {
        out.push([name, normalize(await step(c))]);
      } catch (err: any) {
        out.push([name, { error: { code: err.code, details: err.details } }]);
      }
    }
    const head = Number((await c.kv.Range({ key: B('a') })).header.revision);
    if (head > 1) {
      await waitFor(
        `the watch on ${endpoint} to reach revision ${head} (at ${events[events.length - 1]?.kv.modRevision}, canceled: ${canceled})`,
        () => Number(events[events.length - 1]?.kv.modRevision) >= head,
        {
          timeoutMs: 15_000,
        },
      );
    }
  } finally {
    stream.cancel();
    c.close();
  }
  return { results: out, events };
}

test(
  'a seeded random request sequence gets the same answers from bin/store and etcd 3.4',
  { skip: !hasCommand('etcd') && 'etcd is not installed' },
  async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    console.log(`store random comparison seed=${seed} (replay with SEED=${seed})`);
    const steps = randomScenario(seed, Number(process.env.STEPS ?? 300));
    const etcd = await startRealEtcd();
    const store = await startStore();
    try {
      const want = await runSteps(etcd.endpoint, steps);
      const got = await runSteps(store.endpoint, steps);
      for (let i = 0; i < want.results.length; i++) {
        const script = steps
          .slice(0, i + 1)
          .map(([name], j) => `  ${j}: ${name}`)
          .join('\n');
        assert.deepEqual(
          got.results[i],
          want.results[i],
          `seed ${seed}, step ${i}; the sequence so far:\n${script}\n`,
        );
      }
      assert.deepEqual(got.events, want.events, `seed ${seed}: watch history`);
    } finally {
      await store.destroy();
      await etcd.stop();
    }
  },
);
