// The apiserver rides out a store restart: requests fail with 503/504 Status while the store is down,
// then work again, and a client watch opened before the outage sees changes made after it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePorts, hasCommand, run, startProcess, tempDir, waitFor, type Proc } from '../support/index.js';
import { startApiServer, type ApiServerProc } from '../../apiserver/testing.js';

const skip = !hasCommand('etcd') && 'etcd is not installed';
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function startEtcd(dir: string, client: number, peer: number): Promise<Proc> {
  const endpoint = `http://127.0.0.1:${client}`;
  const proc = startProcess('etcd', [
    '--name', 'r', '--data-dir', dir,
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `r=http://127.0.0.1:${peer}`,
  ]); // prettier-ignore
  await waitFor(
    'etcd to serve',
    async () =>
      (await run('etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'], { timeoutMs: 5000 })).code === 0,
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  return proc;
}

test(
  'a store restart: 503 while down, then service resumes and open watches continue',
  { skip: skip || process.env.EKL_STORE === 'ours' },
  async () => {
    const dir = tempDir('etcd-restart-');
    cleanups.push(() => dir.remove());
    const [client, peer] = await freePorts(2);
    let etcd = await startEtcd(dir.path, client, peer);
    cleanups.push(() => void etcd.kill());
    const api: ApiServerProc = await startApiServer(`http://127.0.0.1:${client}`);
    cleanups.push(() => api.stop());
    const C = `${api.url}/api/v1/namespaces/default/configmaps`;
    const post = (name: string): Promise<Response> =>
      fetch(C, {
        method: 'POST',
        body: JSON.stringify({ metadata: { name } }),
        headers: { 'Content-Type': 'application/json' },
      });
    assert.equal((await post('before')).status, 201);

    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    const list = (await (await fetch(C)).json()) as { metadata: { resourceVersion: string } };
    const w = await fetch(`${C}?watch=true&resourceVersion=${list.metadata.resourceVersion}`, {
      signal: ac.signal,
    });
    const seen: string[] = [];
    void (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of w.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const ev = JSON.parse(buf.slice(0, i)) as {
              type: string;
              object: { metadata: { name: string } };
            };
            buf = buf.slice(i + 1);
            seen.push(`${ev.type} ${ev.object.metadata.name}`);
          }
        }
      } catch {
        /* aborted */
      }
    })();

    await etcd.kill('SIGTERM');
    const down = await fetch(`${C}/before`);
    assert.ok([503, 504, 429].includes(down.status), `status ${down.status}`);
    const st = (await down.json()) as { kind: string };
    assert.equal(st.kind, 'Status');

    etcd = await startEtcd(dir.path, client, peer);
    await waitFor('writes to work again', async () => (await post('after')).status === 201, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    await waitFor(
      'the open watch to see the write made after the restart',
      () => seen.includes('ADDED after'),
      { timeoutMs: 30_000 },
    );
    assert.ok(!seen.includes('ADDED before'), 'no replay of what the client already had');
  },
);
