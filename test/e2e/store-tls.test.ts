// TLS with etcd's flags: https client URLs with --client-cert-auth (etcdctl --cacert/--cert/--key, the etcd3
// client, HTTP/1.1 endpoints and the JSON gateway over TLS, refusals), a client certificate's common name as
// the user once auth is on, https peer URLs with --peer-client-cert-auth for a 3-member cluster, the API
// server reaching such a store with kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile, and
// start-up errors for missing or mismatched files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startStore } from '../../store/server/testing.js';
import {
  BIN,
  freePorts,
  hasCommand,
  makeTestCerts,
  nodeFlagsOf,
  run,
  startProcess,
  tempDir,
  waitFor,
  type Proc,
} from '../support/index.js';

const skip = !hasCommand('etcdctl') || !hasCommand('openssl') ? 'etcdctl or openssl not installed' : false;

/** An HTTPS request with a client certificate; resolves with status and body. */
function get(
  url: string,
  dir: string,
  who: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        ca: readFileSync(join(dir, 'ca.crt')),
        cert: readFileSync(join(dir, `${who}.crt`)),
        key: readFileSync(join(dir, `${who}.key`)),
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(
  'https client URLs with client certificates: etcdctl, etcd3, HTTP/1.1 and the gateway, refusals, users by certificate',
  { skip, timeout: 120_000 },
  async () => {
    const certs = tempDir('store-tls-');
    await makeTestCerts(certs.path, ['server', 'root', 'alice']);
    const s = await startStore({ tlsDir: certs.path });
    const as = (who: string) => [
      ...['--cacert', join(certs.path, 'ca.crt')],
      ...['--cert', join(certs.path, `${who}.crt`), '--key', join(certs.path, `${who}.key`)],
    ];
    try {
      assert.match(s.endpoint, /^https:/);
      assert.equal((await s.etcdctl(['put', 'app/k', 'v'])).code, 0);
      assert.match((await s.etcdctl(['get', 'app/k'])).stdout, /app\/k\nv/);
      // The per-endpoint forms (their :authority is the whole URL) and the advertised https URL.
      const status = await s.etcdctl(['endpoint', 'status', '--cluster', '-w', 'json']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout)[0].Endpoint, s.endpoint);

      // No client certificate, one from another CA, or plain HTTP: no call gets through.
      const ep = ['--endpoints', s.endpoint, '--dial-timeout=2s', '--command-timeout=3s'];
      for (const args of [
        [...ep, '--cacert', join(certs.path, 'ca.crt'), 'get', 'app/k'],
        [...ep, ...as('stranger'), 'get', 'app/k'],
        ['--endpoints', s.endpoint.replace('https:', 'http:'), '--dial-timeout=2s', 'get', 'app/k'],
      ]) {
        const r = await run('etcdctl', args, { timeoutMs: 20_000 });
        assert.notEqual(r.code, 0, `etcdctl ${args.join(' ')} should fail`);
      }

      // HTTP/1.1 over TLS (ALPN), as curl speaks it: /version, /health and the JSON gateway.
      const version = await get(`${s.endpoint}/version`, certs.path, 'root');
      assert.deepEqual(JSON.parse(version.body), { etcdserver: '3.4.0', etcdcluster: '3.4.0' });
      assert.deepEqual(JSON.parse((await get(`${s.endpoint}/health`, certs.path, 'root')).body), {
        health: 'true',
      });
      const range = await get(
        `${s.endpoint}/v3/kv/range`,
        certs.path,
        'root',
        JSON.stringify({ key: 'YXBwL2s=' }),
      );
      assert.equal(JSON.parse(range.body).kvs[0].value, Buffer.from('v').toString('base64'));

      // The etcd3 npm client with a client certificate.
      const client = new Etcd3({
        hosts: s.endpoint,
        credentials: {
          rootCertificate: readFileSync(join(certs.path, 'ca.crt')),
          certChain: readFileSync(join(certs.path, 'alice.crt')),
          privateKey: readFileSync(join(certs.path, 'alice.key')),
        },
      });
      try {
        assert.equal(await client.get('app/k').string(), 'v');
      } finally {
        client.close();
      }

      // With auth on, a call without a token is made by its certificate's common name.
      for (const args of [
        ['user', 'add', 'root:rootpw'],
        ['user', 'add', 'alice:apw'],
        ['role', 'add', 'app'],
        ['role', 'grant-permission', '--prefix', 'app', 'readwrite', 'app/'],
        ['user', 'grant-role', 'alice', 'app'],
        ['auth', 'enable'],
      ]) {
        const r = await s.etcdctl(args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      }
      assert.equal((await s.etcdctl(['user', 'list'])).stdout, 'alice\nroot\n', 'root by its certificate');
      assert.equal((await s.etcdctl([...as('alice'), 'put', 'app/x', '1'])).code, 0);
      assert.match((await s.etcdctl([...as('alice'), 'put', 'other', '1'])).stderr, /permission denied/);
      assert.match((await s.etcdctl([...as('alice'), 'user', 'list'])).stderr, /permission denied/);
      // A token still wins over the certificate, and the gateway's calls name nobody.
      assert.equal((await s.etcdctl([...as('alice'), '--user', 'root:rootpw', 'put', 'other', '1'])).code, 0);
      const anon = await get(
        `${s.endpoint}/v3/kv/range`,
        certs.path,
        'root',
        JSON.stringify({ key: 'YQ==' }),
      );
      assert.match(anon.body, /user name is empty/);
    } finally {
      await s.destroy();
      certs.remove();
    }
  },
);

test(
  'a 3-member cluster over https peer URLs with peer client certificates',
  { skip, timeout: 120_000 },
  async () => {
    const certs = tempDir('store-tls-');
    await makeTestCerts(certs.path, ['server', 'root']);
    const c = (f: string) => join(certs.path, f);
    const ports = await freePorts(8);
    const names = ['t0', 't1', 't2'];
    const peer = (i: number) => `https://127.0.0.1:${ports[2 * i + 1]}`;
    const client = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
    const initial = names.map((n, i) => `${n}=${peer(i)}`).join(',');
    const procs: Proc[] = [];
    const ctl = (i: number, ...args: string[]) =>
      run('etcdctl', ['--endpoints', client(i), '--dial-timeout=3s', '--command-timeout=10s', ...args]);
    const member = (i: number, name: string, cluster: string, state: string) =>
      startProcess(process.execPath, [
        ...nodeFlagsOf(join(BIN, 'store')),
        join(BIN, 'store'),
        ...['--name', name, '--data-dir', join(certs.path, name)],
        ...['--listen-client-urls', client(i), '--advertise-client-urls', client(i)],
        ...['--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i)],
        ...['--initial-cluster', cluster, '--initial-cluster-state', state],
        ...['--peer-cert-file', c('server.crt'), '--peer-key-file', c('server.key')],
        ...['--peer-trusted-ca-file', c('ca.crt'), '--peer-client-cert-auth'],
      ]);
    try {
      names.forEach((name, i) => procs.push(member(i, name, initial, 'new')));
      await waitFor(
        'the TLS cluster to serve on every member',
        async () => {
          const rs = await Promise.all(names.map((_, i) => ctl(i, 'endpoint', 'health')));
          return rs.every((r) => r.code === 0);
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      assert.equal((await ctl(0, 'put', 'k', 'over-tls')).code, 0);
      for (const i of [1, 2]) assert.match((await ctl(i, 'get', 'k')).stdout, /over-tls/, `member ${i}`);
      const members = await ctl(1, 'member', 'list');
      assert.equal(members.stdout.match(/https:\/\/127\.0\.0\.1/g)?.length, 3, members.stdout);

      // A fourth member joins over TLS: it learns the membership from its peers, then catches up.
      const added = await ctl(0, 'member', 'add', 't3', '--peer-urls', peer(3));
      assert.equal(added.code, 0, added.stderr);
      procs.push(member(3, 't3', `${initial},t3=${peer(3)}`, 'existing'));
      await waitFor(
        'the joined member to serve the key',
        async () => /over-tls/.test((await ctl(3, 'get', 'k')).stdout),
        {
          timeoutMs: 30_000,
          intervalMs: 300,
        },
      );

      // A process holding a certificate from another CA cannot pass as a peer: the member ends the handshake
      // (with TLS 1.3 the client learns it on its first read) and logs why.
      const port0 = Number(new URL(peer(0)).port);
      const closed = await new Promise<string>((resolve) => {
        const sock = connectTls({
          host: '127.0.0.1',
          port: port0,
          ca: readFileSync(c('ca.crt')),
          cert: readFileSync(c('stranger.crt')),
          key: readFileSync(c('stranger.key')),
        });
        const timer = setTimeout(() => resolve('still open after 10 s'), 10_000);
        sock.on('secureConnect', () => sock.write('hello'));
        sock.on('data', () => undefined);
        sock.on('error', (e) => {
          clearTimeout(timer);
          resolve(`error: ${e.message}`);
        });
        sock.on('close', () => {
          clearTimeout(timer);
          resolve('closed');
        });
      });
      assert.notEqual(closed, 'still open after 10 s');
      await waitFor('the member to log the refused handshake', () =>
        /rejected a peer connection: TLS handshake failed/.test(procs[0]!.output()),
      );
    } finally {
      for (const p of procs) await p.kill('SIGKILL');
      certs.remove();
    }
  },
);

test(
  'the API server reaches a TLS store with --etcd-cafile, --etcd-certfile and --etcd-keyfile',
  { skip: skip || (!hasCommand('kubectl') && 'kubectl not installed'), timeout: 120_000 },
  async () => {
    const certs = tempDir('store-tls-');
    await makeTestCerts(certs.path, ['server', 'root', 'apiserver']);
    const s = await startStore({ tlsDir: certs.path });
    const [port] = await freePorts(1);
    const c = (f: string) => join(certs.path, f);
    const api = startProcess(process.execPath, [
      join(BIN, 'apiserver'),
      ...['--etcd-servers', s.endpoint, '--port', String(port)],
      ...[
        '--etcd-cafile',
        c('ca.crt'),
        '--etcd-certfile',
        c('apiserver.crt'),
        '--etcd-keyfile',
        c('apiserver.key'),
      ],
    ]);
    try {
      const server = `http://127.0.0.1:${port}`;
      await waitFor(
        'the API server to be ready',
        async () => (await fetch(`${server}/readyz`).catch(() => undefined))?.ok === true,
        { timeoutMs: 30_000 },
      );
      const r = await run('kubectl', ['--server', server, 'create', 'namespace', 'over-tls']);
      assert.equal(r.code, 0, r.stderr);
      const keys = await s.etcdctl(['get', '/registry/namespaces/over-tls', '--keys-only']);
      assert.match(keys.stdout, /over-tls/);
    } finally {
      await api.kill('SIGTERM');
      await s.destroy();
      certs.remove();
    }
  },
);

test(
  'TLS flags: an https URL without a certificate, a key that does not match, a missing file',
  { skip, timeout: 60_000 },
  async () => {
    const certs = tempDir('store-tls-');
    await makeTestCerts(certs.path, ['server', 'root']);
    const c = (f: string) => join(certs.path, f);
    const [p1, p2] = await freePorts(2);
    const base = [
      join(BIN, 'store'),
      ...['--data-dir', join(certs.path, 'd'), '--listen-client-urls', `https://127.0.0.1:${p1}`],
      ...['--advertise-client-urls', `https://127.0.0.1:${p1}`],
      ...[
        '--listen-peer-urls',
        `http://127.0.0.1:${p2}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${p2}`,
      ],
      ...['--initial-cluster', `default=http://127.0.0.1:${p2}`],
    ];
    try {
      const noCert = await run(process.execPath, base);
      assert.equal(noCert.code, 2);
      assert.match(
        noCert.stderr,
        /TLS key\/cert \(--cert-file, --key-file\) must be provided for --listen-client-urls https:/,
      );
      const mismatch = await run(process.execPath, [
        ...base,
        '--cert-file',
        c('server.crt'),
        '--key-file',
        c('root.key'),
      ]);
      assert.equal(mismatch.code, 1);
      assert.match(mismatch.stderr, /--cert-file\/--key-file: .*(key values mismatch|KEY_VALUES_MISMATCH)/i);
      const missing = await run(process.execPath, [
        ...base,
        '--cert-file',
        c('nope.crt'),
        '--key-file',
        c('root.key'),
      ]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /cannot read --cert-file .*nope\.crt/);
      const noCa = await run(process.execPath, [
        ...base,
        '--cert-file',
        c('server.crt'),
        '--key-file',
        c('server.key'),
        '--client-cert-auth',
      ]);
      assert.match(noCa.stderr, /--client-cert-auth needs --trusted-ca-file/);
    } finally {
      certs.remove();
    }
  },
);
