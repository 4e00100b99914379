// Bad input gets the Kubernetes Status it would get from kube-apiserver, and writes nothing to the store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand } from '../support/index.js';
import { startCluster, storeKeys, type Cluster } from '../../apiserver/testing.js';

const skip = (!hasCommand('etcd') || !hasCommand('kubectl')) && 'etcd or kubectl is not installed';
let c: Cluster;

before(async () => {
  if (skip) return;
  c = await startCluster();
});
after(async () => {
  if (c) await c.stop();
});

interface Sent {
  code: number;
  body: Record<string, any>;
  headers: Headers;
}

async function send(
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = 'application/json',
): Promise<Sent> {
  const r = await fetch(c.url + path, {
    method,
    body,
    headers: body !== undefined ? { 'Content-Type': contentType } : {},
  });
  const text = await r.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`response to ${method} ${path} is not JSON (${r.status}): ${text.slice(0, 200)}`);
  }
  return { code: r.status, body: parsed, headers: r.headers };
}

/** Runs `fn`, then checks it got a Failure Status with `code`/`reason` and that no key was written. */
async function rejects(code: number, reason: string, fn: () => Promise<Sent>): Promise<Sent> {
  const before = await storeKeys(c.store.endpoint);
  const r = await fn();
  assert.equal(r.code, code, JSON.stringify(r.body));
  assert.equal(r.body.kind, 'Status');
  assert.equal(r.body.apiVersion, 'v1');
  assert.equal(r.body.status, 'Failure');
  assert.equal(r.body.code, code);
  assert.equal(r.body.reason, reason);
  assert.equal(typeof r.body.message, 'string');
  assert.deepEqual(await storeKeys(c.store.endpoint), before, 'a rejected request changed the store');
  return r;
}

const POD = (name: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
    ...extra,
  });

test('malformed JSON and YAML are 400 BadRequest', { skip }, async () => {
  await rejects(400, 'BadRequest', () =>
    send('POST', '/api/v1/namespaces/default/pods', '{"apiVersion": "v1", "kind": '),
  );
  await rejects(400, 'BadRequest', () =>
    send(
      'POST',
      '/api/v1/namespaces/default/pods',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec: [',
      'application/yaml',
    ),
  );
  await rejects(400, 'BadRequest', () => send('POST', '/api/v1/namespaces/default/pods', '[1,2]'));
});

test(
  'wrong types are 400 with the field path; missing required fields and bad enums are 422 with one cause per field',
  { skip },
  async () => {
    const t = await rejects(400, 'BadRequest', () =>
      send(
        'POST',
        '/apis/apps/v1/namespaces/default/deployments',
        JSON.stringify({
          metadata: { name: 'd' },
          spec: {
            replicas: 'three',
            selector: { matchLabels: { a: 'b' } },
            template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
          },
        }),
      ),
    );
    assert.equal(t.body.details.causes[0].field, 'spec.replicas');
    const inv = await rejects(422, 'Invalid', () =>
      send(
        'POST',
        '/api/v1/namespaces/default/pods',
        JSON.stringify({
          metadata: { name: 'Bad_Name' },
          spec: { restartPolicy: 'Sometimes', containers: [{ name: 'c' }] },
        }),
      ),
    );
    const fields = inv.body.details.causes.map((x: { field: string }) => x.field).sort();
    assert.deepEqual(fields, ['metadata.name', 'spec.containers[0].image', 'spec.restartPolicy']);
    assert.match(inv.body.message, /^Pod "Bad_Name" is invalid: \[/);
    assert.equal(inv.body.details.kind, 'Pod');
    const missing = await rejects(422, 'Invalid', () =>
      send('POST', '/api/v1/namespaces/default/pods', JSON.stringify({ metadata: { name: 'p' }, spec: {} })),
    );
    assert.deepEqual(
      missing.body.details.causes.map((x: { field: string; reason: string }) => [x.field, x.reason]),
      [['spec.containers', 'FieldValueRequired']],
    );
    const sel = await rejects(422, 'Invalid', () =>
      send(
        'POST',
        '/apis/apps/v1/namespaces/default/deployments',
        JSON.stringify({
          metadata: { name: 'd' },
          spec: {
            selector: { matchLabels: { a: 'b' } },
            template: { metadata: { labels: { a: 'c' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
          },
        }),
      ),
    );
    assert.match(sel.body.message, /`selector` does not match template `labels`/);
    await rejects(422, 'Invalid', () =>
      send('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'Not.A.Label' } })),
    );
    await rejects(422, 'Invalid', () =>
      send(
        'POST',
        '/api/v1/namespaces/default/configmaps',
        JSON.stringify({ metadata: { name: 'x', labels: { 'bad key!': 'v' } } }),
      ),
    );
  },
);

test('unknown fields: 400 under fieldValidation=Strict, else a warning and dropped', { skip }, async () => {
  const r = await rejects(400, 'BadRequest', () =>
    send(
      'POST',
      '/api/v1/namespaces/default/configmaps?fieldValidation=Strict',
      JSON.stringify({ metadata: { name: 'c' }, dta: {} }),
    ),
  );
  assert.match(r.body.message, /strict decoding error: unknown field "dta"/);
  const ok = await send(
    'POST',
    '/api/v1/namespaces/default/configmaps',
    JSON.stringify({ metadata: { name: 'c' }, dta: {} }),
  );
  assert.equal(ok.code, 201);
  assert.match(ok.headers.get('warning') ?? '', /unknown field \\"dta\\"/);
  assert.equal(ok.body.dta, undefined);
  // kubectl's default validation is Strict.
  const k = await c.kubectl(['create', '-f', '-'], {
    input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\ndta: {}\n',
  });
  assert.notEqual(k.code, 0);
  assert.match(k.stderr, /unknown field "dta"/);
});

test('unknown kinds and resources, kind/endpoint mismatch', { skip }, async () => {
  await rejects(404, 'NotFound', () => send('POST', '/api/v1/namespaces/default/widgets', '{}'));
  const job = await rejects(404, 'NotFound', () =>
    send('POST', '/apis/batch/v1/namespaces/default/jobs', '{"kind":"Job","apiVersion":"batch/v1"}'),
  );
  // What kubectl prints after "Error from server (NotFound): ", as Kubernetes says it.
  assert.equal(job.body.message, 'the server could not find the requested resource');
  await rejects(404, 'NotFound', () => send('GET', '/apis/example.com/v1/things'));
  await rejects(404, 'NotFound', () => send('GET', '/api/v1/namespaces/default/pods/p/frobnicate'));
  // Logs: the pod must exist, and then the answer says why there are none.
  await rejects(404, 'NotFound', () => send('GET', '/api/v1/namespaces/default/pods/nosuchpod/log'));
  await send('POST', '/api/v1/namespaces/default/pods', POD('logs'));
  const logs = await rejects(400, 'BadRequest', () =>
    send('GET', '/api/v1/namespaces/default/pods/logs/log'),
  );
  assert.match(logs.body.message, /^pod "logs": no logs: its containers are simulated/);
  const exec = await rejects(400, 'BadRequest', () =>
    send('POST', '/api/v1/namespaces/default/pods/logs/exec?command=ls&stdout=true'),
  );
  assert.match(exec.body.message, /^pod "logs": no exec: its containers are simulated/);
  await rejects(400, 'BadRequest', () =>
    send(
      'POST',
      '/api/v1/namespaces/default/pods',
      JSON.stringify({ apiVersion: 'v1', kind: 'Widget', metadata: { name: 'w' } }),
    ),
  );
  await rejects(400, 'BadRequest', () =>
    send(
      'POST',
      '/api/v1/namespaces/default/pods',
      JSON.stringify({ apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'w' } }),
    ),
  );
  const k = await c.kubectl(['apply', '-f', '-'], {
    input: 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n',
  });
  assert.notEqual(k.code, 0);
  assert.match(k.stderr, /no matches for kind "Widget"/);
});

test('missing or terminating namespace', { skip }, async () => {
  const r = await rejects(404, 'NotFound', () => send('POST', '/api/v1/namespaces/nope/pods', POD('p')));
  assert.equal(r.body.message, 'namespaces "nope" not found');
  assert.equal(
    (await send('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'doomed' } }))).code,
    201,
  );
  const del = await send('DELETE', '/api/v1/namespaces/doomed');
  assert.equal(del.code, 200);
  assert.equal(del.body.status.phase, 'Terminating');
  assert.ok(del.body.metadata.deletionTimestamp);
  const f = await rejects(403, 'Forbidden', () =>
    send('POST', '/api/v1/namespaces/doomed/configmaps', JSON.stringify({ metadata: { name: 'x' } })),
  );
  assert.match(f.body.message, /because it is being terminated/);
  // The namespace controller's last step: finalize with no finalizers removes it.
  const fin = await send(
    'PUT',
    '/api/v1/namespaces/doomed/finalize',
    JSON.stringify({ metadata: { name: 'doomed' }, spec: { finalizers: [] } }),
  );
  assert.equal(fin.code, 200, JSON.stringify(fin.body));
  assert.equal((await send('GET', '/api/v1/namespaces/doomed')).code, 404);
});

test(
  'oversized bodies are 413, protobuf bodies 415, bad patch types 415, wrong methods 405',
  { skip },
  async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'a');
    await rejects(413, 'RequestEntityTooLarge', () =>
      send('POST', '/api/v1/namespaces/default/configmaps', big),
    );
    await rejects(415, 'UnsupportedMediaType', () =>
      send('POST', '/api/v1/namespaces/default/configmaps', 'x', 'application/vnd.kubernetes.protobuf'),
    );
    await rejects(415, 'UnsupportedMediaType', () =>
      send('PATCH', '/api/v1/namespaces/default/configmaps/c', '{}', 'text/plain'),
    );
    await rejects(405, 'MethodNotAllowed', () => send('PUT', '/api/v1/namespaces/default/configmaps', '{}'));
    const acc = await fetch(c.url + '/api/v1/namespaces/default/configmaps', {
      headers: { Accept: 'application/vnd.kubernetes.protobuf' },
    });
    assert.equal(acc.status, 406);
  },
);

test(
  'stale resourceVersion is 409 Conflict; duplicates 409 AlreadyExists; missing objects 404',
  { skip },
  async () => {
    const created = await send(
      'POST',
      '/api/v1/namespaces/default/configmaps',
      JSON.stringify({ metadata: { name: 'v' }, data: { a: '1' } }),
    );
    const rv = created.body.metadata.resourceVersion;
    const upd = await send(
      'PUT',
      '/api/v1/namespaces/default/configmaps/v',
      JSON.stringify({ metadata: { name: 'v', resourceVersion: rv }, data: { a: '2' } }),
    );
    assert.equal(upd.code, 200);
    assert.notEqual(upd.body.metadata.resourceVersion, rv);
    const stale = await rejects(409, 'Conflict', () =>
      send(
        'PUT',
        '/api/v1/namespaces/default/configmaps/v',
        JSON.stringify({ metadata: { name: 'v', resourceVersion: rv }, data: { a: '3' } }),
      ),
    );
    assert.match(stale.body.message, /the object has been modified/);
    await rejects(409, 'Conflict', () =>
      send(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/v',
        JSON.stringify({ metadata: { resourceVersion: rv }, data: { a: '4' } }),
        'application/merge-patch+json',
      ),
    );
    await rejects(409, 'AlreadyExists', () =>
      send('POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'v' } })),
    );
    await rejects(404, 'NotFound', () =>
      send(
        'PUT',
        '/api/v1/namespaces/default/configmaps/none',
        JSON.stringify({ metadata: { name: 'none' } }),
      ),
    );
    await rejects(404, 'NotFound', () => send('DELETE', '/api/v1/namespaces/default/configmaps/none'));
    await rejects(400, 'BadRequest', () => send('GET', '/api/v1/pods?labelSelector=a%20in%20(b'));
    await rejects(400, 'BadRequest', () => send('GET', '/api/v1/pods?fieldSelector=spec.bogus%3D1'));
    await rejects(400, 'BadRequest', () => send('GET', '/api/v1/pods?limit=2&continue=garbage'));
  },
);

test('a store outage is 503 with a Status, never a stack trace', { skip }, async () => {
  await c.store.stop();
  const r = await send('GET', '/api/v1/namespaces/default/configmaps/v');
  assert.ok(r.code === 503 || r.code === 504 || r.code === 429, `code ${r.code}`);
  assert.equal(r.body.kind, 'Status');
  assert.doesNotMatch(JSON.stringify(r.body), /at .*\.js:\d+/);
});
