import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthStore, JwtTokens, PermType, SimpleTokens, parseTokenOptions, type AuthInfo } from './index.js';
import { BinaryReader, BinaryWriter } from '../mvcc/index.js';
import { StateMachine, decodeRequest, encodeRequest, type RaftRequest } from '../apply/index.js';

const B = (s: string) => Buffer.from(s);
const ZERO = Buffer.from([0]);

/** An AuthStore with root (root role) and alice (role `r` holding `perms`), auth on. */
function store(perms: [number, string, string | Buffer][]): AuthStore {
  const a = new AuthStore();
  a.userAdd('root', 'h', false);
  a.userGrantRole('root', 'root');
  a.userAdd('alice', 'h', false);
  a.roleAdd('r');
  for (const [t, k, e] of perms)
    a.roleGrantPermission('r', { permType: t, key: B(k), rangeEnd: Buffer.from(e) });
  a.userGrantRole('alice', 'r');
  a.enable();
  return a;
}

const alice = (a: AuthStore): AuthInfo => ({ username: 'alice', revision: a.revision });
const message = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

test('a request is allowed only when the union of its permissions covers its whole range', () => {
  const a = store([
    [PermType.READ, 'foo', ''],
    [PermType.READWRITE, 'app/', 'app0'],
    [PermType.READ, 'b', 'c'],
    [PermType.READ, 'c', 'd'],
    [PermType.WRITE, 'z', ZERO],
  ]);
  const ok = (type: 'r' | 'w', key: string, end?: string | Buffer) =>
    message(() =>
      type === 'r'
        ? a.checkRead(alice(a), B(key), end === undefined ? undefined : Buffer.from(end))
        : a.checkWrite(alice(a), B(key), end === undefined ? undefined : Buffer.from(end)),
    ) === undefined;
  assert.ok(ok('r', 'foo'), 'a single key');
  assert.ok(!ok('w', 'foo'), 'read is not write');
  assert.ok(!ok('r', 'foo0'), 'the next key');
  assert.ok(!ok('r', 'foo', 'fop'), 'a range beyond a single-key permission');
  assert.ok(ok('r', 'app/x') && ok('w', 'app/x'), 'readwrite grants both');
  assert.ok(ok('r', 'app/', 'app0'), 'the exact prefix range');
  assert.ok(!ok('r', 'app', 'app0'), 'a range starting before the permission');
  assert.ok(ok('r', 'b', 'd'), 'two adjacent ranges together');
  assert.ok(ok('r', 'bb', 'cc'), 'across the boundary of two ranges');
  assert.ok(!ok('r', 'b', 'e'), 'past the second range');
  assert.ok(ok('w', 'z', ZERO) && ok('w', 'zzz'), 'an open-ended permission covers every key after it');
  assert.ok(!ok('w', 'y', ZERO), 'an open-ended request starting before it');
  assert.ok(!ok('r', 'z'), 'write-only');
  assert.equal(
    message(() => a.checkRead(alice(a), B('q'))),
    'etcdserver: permission denied',
  );
});

test('the root role allows everything; no user, an unknown user or an old auth revision are refused', () => {
  const a = store([]);
  a.checkWrite({ username: 'root', revision: a.revision }, ZERO, ZERO);
  a.checkAdmin({ username: 'root', revision: a.revision });
  assert.equal(
    message(() => a.checkRead(undefined, B('k'))),
    'etcdserver: user name is empty',
  );
  assert.equal(
    message(() => a.checkRead({ username: 'nobody', revision: a.revision }, B('k'))),
    'etcdserver: permission denied',
  );
  assert.equal(
    message(() => a.checkRead({ username: 'root', revision: a.revision - 1 }, B('k'))),
    'etcdserver: revision of auth store is old',
  );
  assert.equal(
    message(() => a.checkAdmin(alice(a))),
    'etcdserver: permission denied',
  );
  assert.equal(
    message(() => a.checkAdmin({ username: 'gone', revision: 9 })),
    'etcdserver: user name not found',
  );
  a.disable();
  a.checkWrite(undefined, B('anything'));
  a.checkAdmin(undefined);
});

test('user and role changes follow etcd: its errors, its guards on root, and grants that update', () => {
  const a = new AuthStore();
  assert.equal(
    message(() => a.enable()),
    'etcdserver: root user does not exist',
  );
  a.userAdd('root', 'h', false);
  assert.equal(
    message(() => a.enable()),
    'etcdserver: root user does not have root role',
  );
  a.roleAdd('root');
  a.userGrantRole('root', 'root');
  const before = a.revision;
  a.enable();
  a.enable(); // already on: no change
  assert.equal(a.revision, before, 'as etcd: enabling does not move the auth revision');
  assert.equal(
    message(() => a.userAdd('root', 'h', false)),
    'etcdserver: user name already exists',
  );
  assert.equal(
    message(() => a.userAdd('', 'h', false)),
    'etcdserver: user name is empty',
  );
  assert.equal(
    message(() => a.roleAdd('')),
    'etcdserver: role name is empty',
  );
  assert.equal(
    message(() => a.userDelete('root')),
    'etcdserver: invalid auth management',
  );
  assert.equal(
    message(() => a.roleDelete('root')),
    'etcdserver: invalid auth management',
  );
  assert.equal(
    message(() => a.userRevokeRole('root', 'root')),
    'etcdserver: invalid auth management',
  );
  assert.equal(
    message(() => a.userGrantRole('root', 'nope')),
    'etcdserver: role name not found',
  );
  assert.equal(
    message(() => a.userRevokeRole('root', 'nope')),
    'etcdserver: role is not granted to the user',
  );
  assert.equal(
    message(() => a.userDelete('nobody')),
    'etcdserver: user name not found',
  );

  a.roleAdd('r');
  a.roleGrantPermission('r', { permType: PermType.READ, key: B('k'), rangeEnd: B('') });
  a.roleGrantPermission('r', { permType: PermType.WRITE, key: B('a'), rangeEnd: B('b') });
  a.roleGrantPermission('r', { permType: PermType.READWRITE, key: B('k'), rangeEnd: B('') });
  assert.deepEqual(
    a.rolePermissions('r').map((p) => [p.permType, p.key.toString(), p.rangeEnd.toString()]),
    [
      [PermType.WRITE, 'a', 'b'],
      [PermType.READWRITE, 'k', ''],
    ],
    'sorted by key; a second grant of the same range changes its type',
  );
  assert.equal(
    message(() => a.roleRevokePermission('r', B('k'), B('l'))),
    'etcdserver: permission is not granted to the role',
  );
  a.userAdd('bob', '', true);
  assert.equal(
    message(() => a.passwordHash('bob')),
    'auth: authentication failed, password was given for no password user',
  );
  assert.equal(
    message(() => a.passwordHash('carol')),
    'etcdserver: authentication failed, invalid user ID or password',
  );
  a.userGrantRole('bob', 'r');
  a.roleDelete('r');
  assert.deepEqual(a.userRoles('bob'), [], 'a deleted role is taken from its users');
  a.disable();
  a.userDelete('root');
});

test('the auth state survives its binary form, a state machine snapshot and an applied log', () => {
  const a = store([
    [PermType.READ, 'foo', ''],
    [PermType.WRITE, 'z', ZERO],
  ]);
  const w = new BinaryWriter();
  AuthStore.write(w, a.dump());
  const back = new AuthStore();
  back.load(AuthStore.read(new BinaryReader(w.finish())));
  assert.deepEqual(back.dump(), a.dump());

  // Through Raft entries (encoded as in the WAL) into a state machine, then its snapshot into another.
  const sm = new StateMachine();
  const root = { username: 'root', revision: 0 };
  const entries: RaftRequest[] = [
    { authUserAdd: { name: 'root', hashedPassword: '$2a$04$x', noPassword: false } },
    { authRoleAdd: { name: 'root' } },
    { authUserGrantRole: { user: 'root', role: 'root' } },
    { authEnable: true },
    { authRoleAdd: { name: 'r' }, requester: root },
    {
      authRoleGrantPermission: { name: 'r', perm: { permType: 0, key: B('k'), rangeEnd: B('') } },
      requester: root,
    },
  ];
  let index = 0;
  for (const e of entries) {
    root.revision = sm.auth.revision;
    const r = sm.apply(++index, decodeRequest(encodeRequest(e)));
    assert.equal(r.kind, 'response', JSON.stringify(r));
  }
  // A write without a user is refused when applied, and so is one by a user lacking the permission.
  const denied = sm.apply(++index, decodeRequest(encodeRequest({ put: { key: B('k'), value: B('v') } })));
  assert.equal(denied.kind === 'error' && denied.error.message, 'etcdserver: user name is empty');
  const asRoot = { username: 'root', revision: sm.auth.revision };
  const put = sm.apply(
    index + 1,
    decodeRequest(encodeRequest({ put: { key: B('k'), value: B('v') }, requester: asRoot })),
  );
  assert.equal(put.kind, 'response');

  const copy = new StateMachine();
  copy.restore(Buffer.concat([...sm.snapshot()]));
  assert.deepEqual(copy.auth.dump(), sm.auth.dump());
  assert.ok(copy.auth.enabled);
  assert.deepEqual(copy.auth.userRoles('root'), ['root']);
});

test('simple tokens expire when unused for their TTL, and go with their user', () => {
  let now = 0;
  const t = new SimpleTokens(1000, () => now);
  assert.equal(t.assign('abc', 7, 'alice'), 'abc.7');
  t.assign('b', 2, 'bob');
  now = 900;
  assert.equal(t.info('abc.7')?.user, 'alice', 'a use extends the lifetime');
  now = 1500;
  assert.equal(t.info('abc.7')?.user, 'alice');
  assert.equal(t.info('b.2'), undefined, 'unused for longer than the TTL');
  t.invalidateUser('alice');
  assert.equal(t.info('abc.7'), undefined);
});

test("JWT tokens carry etcd's claims, are checked by signature and expiry, for RS256, PS256 and ES256", () => {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-'));
  try {
    for (const [method, type, opts] of [
      ['RS256', 'rsa', { modulusLength: 2048 }],
      ['PS256', 'rsa', { modulusLength: 2048 }],
      ['ES256', 'ec', { namedCurve: 'P-256' }],
    ] as const) {
      const { publicKey, privateKey } = generateKeyPairSync(type as 'rsa', {
        ...(opts as { modulusLength: number }),
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      writeFileSync(join(dir, 'pub.pem'), publicKey);
      writeFileSync(join(dir, 'priv.pem'), privateKey);
      let now = 1_000_000;
      const o = parseTokenOptions(
        `jwt,pub-key=${join(dir, 'pub.pem')},priv-key=${join(dir, 'priv.pem')},sign-method=${method},ttl=10s`,
        (v) => (v === '10s' ? 10_000 : undefined),
      );
      const t = new JwtTokens(o, () => now);
      const token = t.assign('ignored', 9, 'alice', 4);
      const [h, p] = token
        .split('.')
        .slice(0, 2)
        .map((x) => JSON.parse(Buffer.from(x, 'base64url').toString() || 'null'));
      assert.deepEqual(h, { alg: method, typ: 'JWT' });
      assert.deepEqual(p, { exp: 1010, revision: 4, username: 'alice' });
      assert.deepEqual(t.info(token), { user: 'alice', revision: 4 });
      // Another member with only the public key checks it too.
      const verifier = new JwtTokens({ ...o, privKey: undefined }, () => now);
      assert.deepEqual(verifier.info(token), { user: 'alice', revision: 4 });
      const forged = token.replace(
        /\.[^.]+\./,
        `.${Buffer.from(JSON.stringify({ ...p, username: 'root' })).toString('base64url')}.`,
      );
      assert.equal(t.info(forged), undefined, `${method}: a changed claim breaks the signature`);
      assert.equal(t.info('abc.1'), undefined);
      now += 10_000;
      assert.equal(t.info(token), undefined, `${method}: expired`);
    }
    assert.throws(() => parseTokenOptions('jwt,pub-key=x', () => 1), /sign-method/);
    assert.throws(() => parseTokenOptions('oauth', () => 1), /unknown token type "oauth"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
