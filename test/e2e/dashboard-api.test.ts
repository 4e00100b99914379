// bin/dashboard's HTTP and WebSocket API against a real cluster, without a browser: the snapshot a page
// starts from, the batches that follow a write, apply errors, time-travel errors, and bad requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startTestCluster, type TestCluster } from '../../dashboard/testing.js';
import { run, waitFor } from '../support/index.js';

describe('dashboard API', () => {
  let cluster: TestCluster;
  let ws: WebSocket;
  const messages: any[] = [];

  before(async () => {
    cluster = await startTestCluster({ nodes: 1 });
    ws = new WebSocket(cluster.dashboardURL.replace(/^http/, 'ws') + '/ws');
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
    });
  });

  after(async () => {
    ws?.close();
    await cluster?.stop();
  });

  const api = async (path: string, init?: RequestInit) => {
    const r = await fetch(cluster.dashboardURL + path, init);
    return { status: r.status, body: (await r.json()) as any };
  };

  it('starts each page with a snapshot of members, keys and workloads', async () => {
    const snap = await waitFor('a snapshot', () => messages.find((m) => m.type === 'snapshot'));
    assert.equal(snap.info.apiserver, cluster.apiserverURL);
    assert.deepEqual(snap.info.etcdServers, cluster.storeEndpoints);
    assert.equal(snap.members.length, 1);
    assert.equal(snap.members[0].endpoint, cluster.storeEndpoints[0]);
    // The supervisor's name for the member comes from the control API, matched by client URL.
    await waitFor(
      'the member named s1 and shown leader',
      () => {
        const last = [...messages].reverse().find((m) => m.members)?.members[0];
        return (
          last?.component === 's1' && last.role === 'leader' && last.state === 'running' && last.term >= 1
        );
      },
      { timeoutMs: 20_000 },
    );
    assert.ok(Array.isArray(snap.keys));
    // The key index is ready once the feed's first Range is done and its watch is open.
    await waitFor('the store feed to watch', async () => (await api('/api/stats')).body.watching === true, {
      timeoutMs: 20_000,
    });
  });

  it('sends the store events and key changes of a write in a batch', async () => {
    const r = await api('/api/apply', {
      method: 'POST',
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {a: "1"}\n',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.results, [
      { doc: 1, kind: 'ConfigMap', name: 'probe', namespace: 'default', action: 'created' },
    ]);
    const key = '/registry/configmaps/default/probe';
    const batch = await waitFor(
      'a batch with the ConfigMap',
      () => messages.find((m) => m.type === 'batch' && m.events?.some((e: any) => e.key === key)),
      { timeoutMs: 15_000 },
    );
    const ev = batch.events.find((e: any) => e.key === key);
    assert.equal(ev.type, 'PUT');
    assert.equal(ev.v, 1);
    assert.equal(ev.c, ev.rev);
    // A batch carries key changes as a delta, or as the whole index when the feed re-read it in the same
    // interval (its first Range can finish just as the write arrives).
    const rows: any[][] = batch.keys?.put ?? batch.keysReset;
    assert.ok(
      rows.some((k) => k[0] === key && k[3] === 1),
      JSON.stringify(batch),
    );
    // Applying again with a change updates in place: version 2, same create revision.
    const again = await api('/api/apply', {
      method: 'POST',
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {a: "2"}\n',
    });
    assert.equal(again.body.results[0].action, 'configured');
    const hist = await api(`/api/key?key=${encodeURIComponent(key)}`);
    assert.equal(hist.body.exists, true);
    assert.deepEqual(
      hist.body.versions.map((v: any) => v.version),
      [2, 1],
    );
    assert.equal(hist.body.versions[0].create, ev.rev);
    assert.match(hist.body.versions[0].value, /"a": "2"/);
    assert.match(hist.body.versions[1].value, /"a": "1"/);
  });

  it('answers manifest errors as the page shows them', async () => {
    const yaml = await api('/api/apply', { method: 'POST', body: 'kind: [' });
    assert.equal(yaml.status, 400);
    assert.match(yaml.body.message, /^YAML: /);
    const unknown = await api('/api/apply', {
      method: 'POST',
      body: 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n',
    });
    assert.equal(unknown.body.results[0].error.code, 404);
    assert.match(unknown.body.results[0].error.message, /no kind "Widget"/);
    const invalid = await api('/api/apply', {
      method: 'POST',
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "Not_A_Name"}\n',
    });
    const st = invalid.body.results[0].error;
    assert.equal(st.code, 422);
    assert.equal(st.details.causes[0].field, 'metadata.name');
  });

  it('explains time travel to a future or compacted revision', async () => {
    const snapRev = (await api('/api/stats')).body.revision as number;
    const ok = await api(`/api/timetravel?rev=${snapRev}`);
    assert.equal(ok.body.ok, true);
    assert.ok(ok.body.keys.some((k: any[]) => k[0] === '/registry/configmaps/default/probe'));
    const future = await api(`/api/timetravel?rev=${snapRev + 1_000_000}`);
    assert.equal(future.body.code, 'future');
    assert.equal(future.body.message, 'etcdserver: mvcc: required revision is a future revision');
    const c = await run('etcdctl', ['--endpoints', cluster.storeEndpoints[0]!, 'compact', String(snapRev)], {
      env: { ETCDCTL_API: '3' },
    });
    assert.equal(c.code, 0, c.stderr);
    const old = await api('/api/timetravel?rev=2');
    assert.equal(old.body.code, 'compacted');
    assert.equal(old.body.message, 'etcdserver: mvcc: required revision has been compacted');
    assert.equal(old.body.compactRevision, snapRev);
    assert.equal((await api('/api/compact-revision')).body.compactRevision, snapRev);
    // Key history stops at the compaction and says so.
    const hist = await api(`/api/key?key=${encodeURIComponent('/registry/configmaps/default/probe')}`);
    assert.equal(hist.body.versions.length, 1);
    assert.ok(hist.body.compactedBefore < snapRev);
  });

  it('refuses bad requests with a message', async () => {
    assert.equal((await api('/api/timetravel?rev=abc')).status, 400);
    assert.equal((await api('/api/key')).status, 400);
    assert.equal((await api('/api/manifest?name=..%2Fpackage.json')).status, 404);
    assert.equal((await api('/api/manifest?name=%2Fetc%2Fpasswd')).status, 404);
    const act = await api('/api/components/s1/explode', { method: 'POST' });
    assert.equal(act.status, 400);
    assert.match(act.body.message, /unknown action/);
    const missing = await api('/api/components/nope/stop', { method: 'POST' });
    assert.equal(missing.status, 404);
    assert.equal((await api('/api/nothing')).status, 404);
  });
});
