// etcd's JSON gateway (POST /v3/...) on bin/store's client URL: the same scripted calls against a real etcd
// 3.4 and against bin/store give the same HTTP statuses and the same JSON (cluster/member ids and raft term
// left out), including a watch streamed as {"result": ...} lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hasCommand, startRealEtcd, waitFor } from '../support/index.js';
import { startStore } from '../../store/server/testing.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const CALLS: [string, string][] = [
  ['kv/put', JSON.stringify({ key: b64('a'), value: b64('1') })],
  ['kv/put', JSON.stringify({ key: b64('a'), value: b64('2'), prev_kv: true })],
  ['kv/put', JSON.stringify({ key: b64('b'), value: b64('3') })],
  [
    'kv/range',
    JSON.stringify({ key: b64('a'), range_end: b64('c'), sort_order: 'DESCEND', sort_target: 'MOD' }),
  ],
  ['v3beta:kv/range', JSON.stringify({ key: b64('a'), rangeEnd: b64('c'), keysOnly: true })],
  ['kv/range', JSON.stringify({ key: b64('a'), range_end: b64('c'), count_only: true, revision: '2' })],
  [
    'kv/txn',
    JSON.stringify({
      compare: [{ key: b64('a'), target: 'VALUE', result: 'EQUAL', value: b64('2') }],
      success: [
        { request_put: { key: b64('c'), value: b64('4') } },
        { request_range: { key: b64('b') } },
        { request_txn: { success: [{ request_delete_range: { key: b64('zz') } }] } },
      ],
      failure: [{ request_range: { key: b64('a') } }],
    }),
  ],
  [
    'kv/txn',
    JSON.stringify({ compare: [{ key: b64('a'), target: 'VERSION', result: 'GREATER', version: '9' }] }),
  ],
  ['kv/deleterange', JSON.stringify({ key: b64('b'), prev_kv: true })],
  ['lease/grant', JSON.stringify({ TTL: 60, ID: 4660 })],
  ['kv/put', JSON.stringify({ key: b64('leased'), value: b64('x'), lease: '4660' })],
  ['lease/timetolive', JSON.stringify({ ID: 4660, keys: true })],
  ['lease/revoke', JSON.stringify({ ID: 4660 })],
  ['lease/revoke', JSON.stringify({ ID: 4660 })],
  ['kv/range', JSON.stringify({ key: b64('leased') })],
  ['kv/range', '{}'],
  ['kv/range', '{"key":'],
  ['kv/range', JSON.stringify({ key: b64('a'), revision: '100' })],
  ['kv/compaction', JSON.stringify({ revision: 3 })],
  ['kv/range', JSON.stringify({ key: b64('a'), revision: '2' })],
  ['GET:kv/range', ''],
  ['no/such', '{}'],
];

function post(
  endpoint: string,
  path: string,
  body: string,
  method = 'POST',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${endpoint}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Cluster and member ids and the raft term differ between two clusters; everything else must not. */
function normalize(text: string): unknown {
  try {
    return JSON.parse(text, (k, v) =>
      k === 'cluster_id' || k === 'member_id' || k === 'raft_term' ? undefined : v,
    );
  } catch {
    return text.trim();
  }
}

async function script(endpoint: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [spec, body] of CALLS) {
    const [prefix, path] = spec.includes(':') ? spec.split(':') : ['', spec];
    const base = prefix === 'v3beta' ? '/v3beta/' : '/v3/';
    const r = await post(endpoint, base + path!, body, prefix === 'GET' ? 'GET' : 'POST');
    const json = normalize(r.body) as Record<string, unknown>;
    // The TTL left counts down by the second: which second a call lands in is timing, not behaviour.
    if (spec === 'lease/timetolive') delete json['TTL'];
    out.push([spec, r.status, json]);
  }
  // A watch stays open and streams {"result": ...} lines: created, then the events.
  const lines: unknown[] = [];
  const req = http.request(`${endpoint}/v3/watch`, { method: 'POST' }, (res) => {
    let buf = '';
    res.on('data', (c) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(normalize(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ create_request: { key: b64('w'), prev_kv: true } }));
  await waitFor('the watch to be created', () => lines.length === 1);
  await post(endpoint, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64('1') }));
  await post(endpoint, '/v3/kv/deleterange', JSON.stringify({ key: b64('w') }));
  await waitFor('two events', () => lines.length === 3);
  req.destroy();
  out.push(['watch', lines]);
  return out;
}

test(
  'the JSON gateway answers as etcd 3.4 does',
  { skip: !hasCommand('etcd') && 'etcd is not installed', timeout: 60_000 },
  async () => {
    const etcd = await startRealEtcd();
    const store = await startStore();
    try {
      const want = await script(etcd.endpoint);
      const got = await script(store.endpoint);
      for (let i = 0; i < want.length; i++)
        assert.deepEqual(got[i], want[i], `call ${i}: ${JSON.stringify(want[i])}`);
    } finally {
      await store.destroy();
      await etcd.stop();
    }
  },
);

/** Users and auth through the gateway: the token from /v3/auth/authenticate goes in Authorization. */
async function authScript(endpoint: string): Promise<unknown[]> {
  const out: unknown[] = [];
  let token = '';
  const call = async (path: string, body: object, auth = false) => {
    const r = await post(
      endpoint,
      `/v3/${path}`,
      JSON.stringify(body),
      'POST',
      auth ? { authorization: token } : {},
    );
    const json = normalize(r.body) as Record<string, unknown>;
    if (typeof json === 'object' && json && typeof json['token'] === 'string') {
      token = json['token'] as string;
      json['token'] = 'TOKEN';
    }
    out.push([path, auth, r.status, json]);
  };
  await call('auth/user/add', { name: 'root', password: 'pw' });
  await call('auth/role/add', { name: 'root' });
  await call('auth/user/grant', { user: 'root', role: 'root' });
  await call('auth/enable', {});
  await call('kv/put', { key: b64('k'), value: b64('v') });
  await call('auth/authenticate', { name: 'root', password: 'nope' });
  await call('auth/authenticate', { name: 'root', password: 'pw' });
  await call('kv/put', { key: b64('k'), value: b64('v') }, true);
  await call('kv/range', { key: b64('k') }, true);
  await call('auth/user/list', {}, true);
  await call('auth/role/get', { role: 'root' }, true);
  await call('auth/disable', {}, true);
  await call('kv/range', { key: b64('k') });
  return out;
}

test(
  'users and auth through the JSON gateway answer as etcd 3.4 does',
  { skip: !hasCommand('etcd') && 'etcd is not installed', timeout: 60_000 },
  async () => {
    const etcd = await startRealEtcd(['--bcrypt-cost', '4']);
    const store = await startStore({ extraArgs: ['--bcrypt-cost', '4'] });
    try {
      const want = await authScript(etcd.endpoint);
      const got = await authScript(store.endpoint);
      for (let i = 0; i < want.length; i++)
        assert.deepEqual(got[i], want[i], `call ${i}: ${JSON.stringify(want[i])}`);
    } finally {
      await store.destroy();
      await etcd.stop();
    }
  },
);
