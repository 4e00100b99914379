// Authentication, as users of etcd meet it: the same etcdctl session (users, roles, permissions, auth
// enable/disable, logins and refusals) against a real etcd 3.4 and against bin/store prints the same
// thing; the auth state survives a crash, snapshots and backups in etcd's format both ways; the etcd3 npm
// client logs in; a token from one member works on another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { credentials, Metadata, type Client } from '@grpc/grpc-js';
import { loadProtos } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';
import { StoreCluster } from '../../store/server/cluster-testing.js';
import {
  BIN,
  freePorts,
  hasCommand,
  run,
  startProcess,
  startRealEtcd,
  tempDir,
  waitFor,
  type Proc,
} from '../support/index.js';

const skip = !hasCommand('etcd') || !hasCommand('etcdctl') ? 'etcd/etcdctl not installed' : false;
/** bcrypt's cheapest cost, on both sides: each login and password change then takes ~2 ms, not ~70. */
const FAST = ['--bcrypt-cost', '4'];
const url = (port: number) => `http://127.0.0.1:${port}`;

/** One etcdctl command line (after --endpoints) and its standard input. */
type Cmd = [string[], string?];

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:apw'];
const SESSION: Cmd[] = [
  [['auth', 'enable']],
  [['user', 'add', 'root:rootpw']],
  [['auth', 'enable']],
  [['user', 'get', 'root']],
  [['put', 'foo', 'bar']],
  [['get', 'foo', '--user', 'root:wrong']],
  [[...ROOT, 'put', 'foo', 'bar']],
  [[...ROOT, 'user', 'add', 'alice:apw']],
  [[...ROOT, 'user', 'add', 'alice:apw']],
  [[...ROOT, 'role', 'add', 'reader']],
  [[...ROOT, 'role', 'add', 'reader']],
  [[...ROOT, 'role', 'grant-permission', 'reader', 'read', 'foo']],
  [[...ROOT, 'role', 'grant-permission', '--prefix', 'reader', 'readwrite', 'app/']],
  [[...ROOT, 'role', 'grant-permission', '--from-key', 'reader', 'write', 'z']],
  [[...ROOT, 'role', 'get', 'reader']],
  [[...ROOT, 'user', 'grant-role', 'alice', 'reader']],
  [[...ROOT, 'user', 'grant-role', 'alice', 'nope']],
  [[...ROOT, 'user', 'get', 'alice', '--detail']],
  [[...ALICE, 'get', 'foo']],
  [[...ALICE, 'put', 'foo', 'x']],
  [[...ALICE, 'put', 'app/1', 'v']],
  [[...ALICE, 'get', 'app/', '--prefix']],
  [[...ALICE, 'get', 'a', '--prefix']],
  [[...ALICE, 'del', 'app/1', '--prev-kv']],
  [[...ALICE, 'txn'], 'value("foo") = "bar"\n\nput app/2 y\n\n'],
  [[...ALICE, 'txn'], 'value("bar") = "bar"\n\nput app/2 y\n\n'],
  [[...ALICE, 'user', 'list']],
  [[...ALICE, 'user', 'get', 'alice']],
  [[...ALICE, 'user', 'get', 'root']],
  [[...ALICE, 'role', 'get', 'reader']],
  [[...ALICE, 'role', 'get', 'root']],
  [[...ALICE, 'endpoint', 'hashkv']],
  [[...ALICE, 'defrag']],
  [[...ALICE, 'alarm', 'list']],
  [[...ALICE, 'compaction', '1']],
  [[...ALICE, 'lock', 'app/lock', 'echo', 'locked']],
  [[...ALICE, 'lock', 'other', 'echo', 'locked']],
  [[...ROOT, 'role', 'revoke-permission', 'reader', 'foo']],
  [[...ROOT, 'role', 'revoke-permission', 'reader', 'foo']],
  [[...ALICE, 'get', 'foo']],
  [[...ROOT, 'user', 'revoke-role', 'alice', 'nope']],
  [[...ROOT, 'user', 'revoke-role', 'root', 'root']],
  [[...ROOT, 'role', 'delete', 'root']],
  [[...ROOT, 'user', 'delete', 'root']],
  [[...ROOT, 'user', 'passwd', 'alice', '--interactive=false'], 'newpw\n'],
  [[...ALICE, 'get', 'app/x']],
  [['--user', 'alice:newpw', 'get', 'app/x']],
  [[...ROOT, 'user', 'add', 'bob', '--no-password']],
  [['--user', 'bob:x', 'get', 'foo']],
  [[...ROOT, 'role', 'add', '']],
  [[...ROOT, 'role', 'delete', 'reader']],
  [[...ROOT, 'user', 'get', 'alice']],
  [[...ROOT, 'user', 'delete', 'alice']],
  [[...ROOT, 'user', 'delete', 'alice']],
  [[...ROOT, 'user', 'list']],
  [[...ROOT, 'role', 'list']],
  [[...ROOT, 'auth', 'disable']],
  [['get', 'foo']],
  [['user', 'list']],
  [['auth', 'disable']],
];

/**
 * What a session printed, comparable across servers: exit codes, stdout, and of etcdctl's log lines on
 * stderr the gRPC error each retry warning carries (its code included), without times and client ids.
 */
async function session(endpoint: string, cmds: Cmd[]): Promise<string[]> {
  const out: string[] = [];
  for (const [args, input] of cmds) {
    const r = await run('etcdctl', ['--endpoints', endpoint, ...args], { input, timeoutMs: 20_000 });
    const err = r.stderr
      .split('\n')
      .filter((l) => l && !l.includes('"level":"info"'))
      .map((l) => (l.startsWith('{') ? `warn: ${JSON.parse(l).error}` : l));
    const lines = [...r.stdout.trimEnd().split('\n'), ...err].map((l) => l.replaceAll(endpoint, 'ENDPOINT'));
    out.push(`$ etcdctl ${args.join(' ')}`, ...lines, `[exit ${r.code}]`);
  }
  return out;
}

test('etcdctl auth session: bin/store prints what etcd 3.4 prints', { skip, timeout: 240_000 }, async () => {
  const etcd = await startRealEtcd(FAST);
  let ref: string[];
  try {
    ref = await session(etcd.endpoint, SESSION);
  } finally {
    await etcd.stop();
  }
  const s = await startStore({ extraArgs: FAST });
  try {
    const ours = await session(s.endpoint, SESSION);
    for (let i = 0; i < Math.max(ref.length, ours.length); i++) {
      assert.equal(
        ours[i],
        ref[i],
        `line ${i}; etcd printed:\n${ref.slice(Math.max(0, i - 8), i + 4).join('\n')}`,
      );
    }
  } finally {
    await s.destroy();
  }
});

/** Users, a role and auth on, through etcdctl. */
async function setUp(s: { etcdctl: StoreProcess['etcdctl'] }): Promise<void> {
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
}

/**
 * `bin/store snapshot restore` of a backup into a new data dir, and that bin/store started; resolves once it
 * serves root, with etcdctl against it.
 */
async function restoreInto(
  file: string,
  dataDir: string,
): Promise<{ proc: Proc; ctl: (args: string[]) => ReturnType<typeof run> }> {
  const [client, peer] = await freePorts(2);
  const member = [
    '--name',
    'r',
    '--initial-cluster',
    `r=${url(peer!)}`,
    '--initial-advertise-peer-urls',
    url(peer!),
  ];
  const r = await run(process.execPath, [
    join(BIN, 'store'),
    'snapshot',
    'restore',
    file,
    '--data-dir',
    dataDir,
    ...member,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const proc = startProcess(process.execPath, [
    join(BIN, 'store'),
    ...['--data-dir', dataDir, '--listen-client-urls', url(client!), '--advertise-client-urls', url(client!)],
    ...['--listen-peer-urls', url(peer!), ...member, ...FAST],
  ]);
  const ctl = (args: string[]) => run('etcdctl', ['--endpoints', url(client!), ...args]);
  await waitFor(
    'the restored bin/store to serve',
    async () => (await ctl([...ROOT, 'get', 'x'])).code === 0,
    {
      timeoutMs: 20_000,
    },
  );
  return { proc, ctl };
}

async function expectAuthWorks(ctl: StoreProcess['etcdctl']): Promise<void> {
  const put = await ctl([...ALICE, 'put', 'app/k', 'v']);
  assert.equal(put.code, 0, put.stderr);
  const denied = await ctl([...ALICE, 'put', 'other', 'v']);
  assert.match(denied.stderr, /etcdserver: permission denied/);
  const anonymous = await ctl(['get', 'app/k']);
  assert.match(anonymous.stderr, /etcdserver: user name is empty/);
  const wrong = await ctl(['--user', 'alice:nope', 'get', 'app/k']);
  assert.match(wrong.stderr, /authentication failed, invalid user ID or password/);
}

test(
  'users, roles and auth survive kill -9, restarts from a snapshot, and a backup restored by bin/store',
  { skip, timeout: 120_000 },
  async () => {
    const tmp = tempDir('store-auth-');
    // A snapshot every 10 entries: after the restarts below the state comes from a snapshot, not a replay.
    const s = await startStore({ extraArgs: [...FAST, '--snapshot-count', '10'] });
    let restored: Proc | undefined;
    try {
      await setUp(s);
      await expectAuthWorks(s.etcdctl);
      for (let i = 0; i < 12; i++) await s.etcdctl([...ROOT, 'put', `filler${i}`, 'x']);
      await s.kill9();
      await s.restart();
      await waitFor(
        'auth to be back after the crash',
        async () => (await s.etcdctl([...ALICE, 'get', 'app/k'])).code === 0,
        {
          timeoutMs: 20_000,
        },
      );
      await expectAuthWorks(s.etcdctl);
      const roles = await s.etcdctl([...ROOT, 'user', 'get', 'alice']);
      assert.match(roles.stdout, /Roles: app/);

      // A backup (etcd's format) restored by bin/store keeps users, passwords and permissions.
      const file = join(tmp.path, 'auth.db');
      assert.match((await s.etcdctl(['snapshot', 'save', file])).stderr, /user name is empty/);
      const saved = await s.etcdctl([...ROOT, 'snapshot', 'save', file]);
      assert.equal(saved.code, 0, saved.stderr);
      const back = await restoreInto(file, join(tmp.path, 'restored'));
      restored = back.proc;
      const ctl = back.ctl;
      await expectAuthWorks(ctl);
    } finally {
      await restored?.kill('SIGTERM');
      await s.destroy();
      tmp.remove();
    }
  },
);

test(
  "a real etcd's users log in to bin/store after a restore, and bin/store's to a real etcd",
  { skip, timeout: 120_000 },
  async () => {
    const tmp = tempDir('store-auth-');
    const etcd = await startRealEtcd(FAST);
    let store: Proc | undefined;
    let back: Awaited<ReturnType<typeof startRealEtcd>> | undefined;
    try {
      await setUp({ etcdctl: (args, o) => run('etcdctl', ['--endpoints', etcd.endpoint, ...args], o) });
      const file = join(tmp.path, 'etcd.db');
      assert.equal(
        (await run('etcdctl', ['--endpoints', etcd.endpoint, ...ROOT, 'snapshot', 'save', file])).code,
        0,
      );
      const ourStore = await restoreInto(file, join(tmp.path, 'store'));
      store = ourStore.proc;
      const ours = ourStore.ctl;
      const [peer2] = await freePorts(1);
      // etcd's bcrypt hashes check here, and the role's permissions hold.
      await expectAuthWorks(ours);

      // And back: bin/store's backup, restored by etcdctl, serves the same users on a real etcd.
      await ours([...ROOT, 'user', 'add', 'carol:cpw']);
      const file2 = join(tmp.path, 'ours.db');
      assert.equal((await ours([...ROOT, 'snapshot', 'save', file2])).code, 0);
      const etcdDir = join(tmp.path, 'etcd2');
      const restored = await run('etcdctl', [
        ...['snapshot', 'restore', file2, '--name', 'b', '--data-dir', etcdDir],
        ...['--initial-cluster', `b=${url(peer2!)}`, '--initial-advertise-peer-urls', url(peer2!)],
      ]);
      assert.equal(restored.code, 0, restored.stderr);
      back = await startRealEtcd(FAST, {
        dataDir: etcdDir,
        name: 'b',
        peerPort: peer2!,
        user: 'root:rootpw',
      });
      const theirs = (args: string[]) => run('etcdctl', ['--endpoints', back!.endpoint, ...args]);
      await expectAuthWorks(theirs);
      assert.equal((await theirs(['--user', 'carol:cpw', 'user', 'get', 'carol'])).code, 0);
    } finally {
      await back?.stop();
      await store?.kill('SIGTERM');
      await etcd.stop();
      tmp.remove();
    }
  },
);

/** Calls a unary method of a grpc-js client with metadata. */
function call(client: Client, method: string, req: object, md: Metadata): Promise<any> {
  return new Promise((resolve, reject) =>
    (client as any)[method](req, md, (err: Error | null, resp: unknown) =>
      err ? reject(err) : resolve(resp),
    ),
  );
}

test(
  'the etcd3 npm client logs in; a token from one member works on another',
  { skip, timeout: 120_000 },
  async () => {
    const c = await StoreCluster.start(3, { extraArgs: FAST });
    const p = loadProtos();
    const target = (i: number) => c.members[i]!.hostPort;
    const auth = new p.Auth(target(0), credentials.createInsecure());
    const kv = new p.KV(target(1), credentials.createInsecure());
    try {
      const ctl = (args: string[], o?: { input?: string }) =>
        run('etcdctl', ['--endpoints', c.members[0]!.hostPort, ...args], o);
      await setUp({ etcdctl: ctl });
      const client = new Etcd3({
        hosts: c.members.map((m) => m.endpoint),
        auth: { username: 'alice', password: 'apw' },
      });
      try {
        await client.put('app/x').value('1');
        assert.equal(await client.get('app/x').string(), '1');
        await assert.rejects(client.put('secret').value('1').exec(), /permission denied/);
      } finally {
        client.close();
      }
      // Log in on one member, write and read through another with the same token.
      const { token } = await call(auth, 'Authenticate', { name: 'alice', password: 'apw' }, new Metadata());
      const md = new Metadata();
      md.set('token', token);
      await call(kv, 'Put', { key: Buffer.from('app/y'), value: Buffer.from('2') }, md);
      const got = await call(kv, 'Range', { key: Buffer.from('app/y') }, md);
      assert.equal(got.kvs[0].value.toString(), '2');
      const forged = new Metadata();
      forged.set('token', 'forged.1');
      await assert.rejects(call(kv, 'Range', { key: Buffer.from('app/y') }, forged), /invalid auth token/);
    } finally {
      auth.close();
      kv.close();
      await c.destroy();
    }
  },
);

test(
  "JWT tokens: etcd's claims, valid on any member and after a restart, stale after a change, and etcd's own accepted",
  { skip, timeout: 120_000 },
  async () => {
    const dir = tempDir('store-jwt-');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(join(dir.path, 'pub.pem'), publicKey);
    writeFileSync(join(dir.path, 'priv.pem'), privateKey);
    const jwt = [
      '--auth-token',
      `jwt,pub-key=${join(dir.path, 'pub.pem')},priv-key=${join(dir.path, 'priv.pem')},sign-method=RS256,ttl=10m`,
    ];
    const etcd = await startRealEtcd([...FAST, ...jwt]);
    const s = await startStore({ extraArgs: [...FAST, ...jwt] });
    const p = loadProtos();
    const login = async (target: string) => {
      const auth = new p.Auth(target.replace('http://', ''), credentials.createInsecure());
      try {
        return (await call(auth, 'Authenticate', { name: 'alice', password: 'apw' }, new Metadata()))
          .token as string;
      } finally {
        auth.close();
      }
    };
    const kv = new p.KV(s.endpoint.replace('http://', ''), credentials.createInsecure());
    const put = (token: string, key: string) => {
      const md = new Metadata();
      md.set('token', token);
      return call(kv, 'Put', { key: Buffer.from(key), value: Buffer.from('v') }, md);
    };
    try {
      await setUp(s);
      await setUp({ etcdctl: (args, o) => run('etcdctl', ['--endpoints', etcd.endpoint, ...args], o) });
      const ours = await login(s.endpoint);
      const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());
      const theirs = await login(etcd.endpoint);
      assert.deepEqual(Object.keys(claims(ours)), Object.keys(claims(theirs)));
      assert.equal(claims(ours).username, 'alice');
      assert.equal(
        claims(ours).revision,
        claims(theirs).revision,
        'the same auth revision after the same steps',
      );
      assert.ok(Math.abs(claims(ours).exp - (Date.now() / 1000 + 600)) < 60);

      await put(ours, 'app/1');
      // Made by a real etcd with the same keys: bin/store checks it as its own.
      await put(theirs, 'app/2');
      // A JWT is checked by its signature, not looked up: it outlives a restart.
      await s.kill9();
      await s.restart();
      await waitFor('the token to be accepted after the restart', async () => {
        try {
          await put(ours, 'app/3');
          return true;
        } catch (err) {
          if (/invalid auth token|revision/.test(String(err))) throw err;
          return false;
        }
      });
      // Any change to users or roles makes earlier tokens stale; clients then log in again.
      assert.equal((await s.etcdctl([...ROOT, 'user', 'add', 'carol:cpw'])).code, 0);
      await assert.rejects(put(ours, 'app/4'), /revision of auth store is old/);
      await put(await login(s.endpoint), 'app/4');
      await assert.rejects(put(`${ours.slice(0, -4)}AAAA`, 'app/5'), /invalid auth token/);
    } finally {
      kv.close();
      await s.destroy();
      await etcd.stop();
      dir.remove();
    }
  },
);
