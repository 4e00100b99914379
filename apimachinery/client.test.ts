// Tests for the API client: kubeconfig parsing, --server/--kubeconfig handling, paths, error mapping to
// Status values, and the newline-delimited watch stream (split chunks, ERROR events, close).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  configFromFlags,
  isNotFound,
  KubeClient,
  parseKubeconfig,
  resourceForOwner,
  Resources,
} from './client.js';

const KUBECONFIG = `apiVersion: v1
kind: Config
current-context: b
clusters:
- name: ca
  cluster: {server: "http://a:1"}
- name: cb
  cluster: {server: "https://b:6443", insecure-skip-tls-verify: true}
contexts:
- name: a
  context: {cluster: ca, user: ua}
- name: b
  context: {cluster: cb, user: ub}
users:
- name: ua
  user: {}
- name: ub
  user: {token: s3cret}
`;

test('kubeconfig: current-context picks the cluster server and user', () => {
  const c = parseKubeconfig(KUBECONFIG);
  assert.equal(c.server, 'https://b:6443');
  assert.equal(c.token, 's3cret');
  assert.equal(c.insecureSkipTLSVerify, true);
  assert.equal(parseKubeconfig(KUBECONFIG, '.', 'a').server, 'http://a:1');
  assert.throws(() => parseKubeconfig('current-context: x\nclusters: []\n'), /no cluster server/);
});

test('--server / --kubeconfig: exactly one, validated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  try {
    writeFileSync(join(dir, 'config'), KUBECONFIG);
    assert.equal(configFromFlags({ kubeconfig: join(dir, 'config') }).server, 'https://b:6443');
    assert.equal(configFromFlags({ server: 'http://127.0.0.1:8080' }).server, 'http://127.0.0.1:8080');
    assert.throws(() => configFromFlags({}), /--kubeconfig FILE or --server URL is required/);
    assert.throws(() => configFromFlags({ server: 'nope' }), /not a URL/);
    assert.throws(() => configFromFlags({ server: 'http://x', kubeconfig: 'y' }), /not both/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('paths for core, grouped, namespaced and cluster-scoped resources', () => {
  const c = new KubeClient({ server: 'http://127.0.0.1:1' });
  assert.equal(c.path(Resources.pods, 'ns', 'p', 'binding'), '/api/v1/namespaces/ns/pods/p/binding');
  assert.equal(c.path(Resources.nodes, 'ignored', 'n1'), '/api/v1/nodes/n1');
  assert.equal(c.path(Resources.deployments), '/apis/apps/v1/deployments');
  assert.equal(
    c.path(Resources.leases, 'kube-node-lease'),
    '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
  );
  assert.equal(resourceForOwner('apps/v1', 'ReplicaSet'), Resources.replicasets);
  assert.equal(resourceForOwner('v1', 'Widget'), undefined);
  c.close();
});

test('errors: a Status body is kept, a non-Status body gets a Status with the right reason', async () => {
  const server = http.createServer((req, res) => {
    if (req.url!.includes('/pods/missing')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: 'pods "missing" not found',
        }),
      );
      return;
    }
    if (req.url!.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      // One event split across chunks, then an ERROR event.
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}\n{"type":"MODI');
      setTimeout(() => {
        res.write('FIED","object":{"metadata":{"name":"a","resourceVersion":"6"}}}\n');
        res.end(
          '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"Expired","code":410}}\n',
        );
      }, 20);
      return;
    }
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>bad gateway</html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new KubeClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  try {
    const nf = await c.get(Resources.pods, 'missing', 'default');
    assert.ok(!nf.ok && isNotFound(nf) && nf.status.message === 'pods "missing" not found');
    const bad = await c.get(Resources.pods, 'other', 'default');
    assert.ok(!bad.ok && bad.status.code === 502 && bad.status.kind === 'Status');
    const w = await c.watch(Resources.pods, { namespace: 'default' });
    assert.ok(w.ok);
    const seen: string[] = [];
    for await (const ev of w.value)
      seen.push(
        `${ev.type}:${(ev.object as { metadata?: { resourceVersion?: string }; code?: number }).metadata?.resourceVersion ?? ''}`,
      );
    assert.deepEqual(seen, ['ADDED:5', 'MODIFIED:6', 'ERROR:']);
  } finally {
    c.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
