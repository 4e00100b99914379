// Auth tokens, handed out by Authenticate and sent by clients in the "token" metadata of every call, in
// etcd's two kinds (--auth-token):
// - simple (the default): an opaque string. The Authenticate entry carries its random part through Raft and
//   each member registers it when applying, so it works on every member. Not saved: after a restart clients
//   authenticate again (etcd clients do so by themselves on "invalid auth token"). Unused for
//   --auth-token-ttl seconds, it expires.
// - jwt: a JSON Web Token signed with the configured private key, claims {exp, revision, username} as etcd's;
//   any member with the public key checks it, so it survives restarts, and it expires at `exp`. Its
//   revision is the auth revision it was made at: after any change to users or roles it is refused with
//   "revision of auth store is old", and clients log in again.
import {
  createPrivateKey,
  createPublicKey,
  randomInt,
  sign,
  verify,
  constants,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a token stands for. */
export interface TokenInfo {
  user: string;
  /** The auth revision it was made at (JWT), or undefined: the current one (simple). */
  revision?: number;
}

/** A token kind: how tokens are made when a login is applied, and read back on calls. */
export interface TokenProvider {
  /** The token for a login applied at `index` (`prefix`: the random part the proposing member chose). */
  assign(prefix: string, index: number, user: string, revision: number): string;
  info(token: string): TokenInfo | undefined;
  invalidateUser(user: string): void;
  clear(): void;
  sweep(): void;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The random part of a new token (etcd: 16 letters); the applied entry's index is appended to it. */
export function tokenPrefix(): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += LETTERS[randomInt(LETTERS.length)];
  return s;
}

export class SimpleTokens implements TokenProvider {
  private readonly tokens = new Map<string, { user: string; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  assign(prefix: string, index: number, user: string): string {
    const token = `${prefix}.${index}`;
    this.tokens.set(token, { user, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The user a live token belongs to (and its lifetime starts again), or undefined. */
  info(token: string): TokenInfo | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    const now = this.now();
    if (t.expires <= now) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expires = now + this.ttlMs;
    return { user: t.user };
  }

  /** Drops a user's tokens (deleted, or the password changed). */
  invalidateUser(user: string): void {
    for (const [k, t] of this.tokens) if (t.user === user) this.tokens.delete(k);
  }

  clear(): void {
    this.tokens.clear();
  }

  /** Drops expired tokens (called now and then, so unused ones do not pile up). */
  sweep(): void {
    const now = this.now();
    for (const [k, t] of this.tokens) if (t.expires <= now) this.tokens.delete(k);
  }
}

/** etcd's --auth-token value: `simple`, or `jwt,pub-key=P,priv-key=K,sign-method=M,ttl=D`. */
export interface TokenOptions {
  kind: 'simple' | 'jwt';
  pubKey?: string;
  privKey?: string;
  signMethod?: string;
  /** JWT lifetime in ms (etcd's default 5 minutes). */
  ttlMs?: number;
}

const JWT_METHODS: Record<string, { hash: string; kind: 'rsa' | 'ecdsa' | 'pss' }> = {
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ecdsa' },
  ES384: { hash: 'sha384', kind: 'ecdsa' },
  ES512: { hash: 'sha512', kind: 'ecdsa' },
};

/** Parses --auth-token; throws a one-line error naming what is wrong. */
export function parseTokenOptions(v: string, parseDuration: (s: string) => number | undefined): TokenOptions {
  const [kind, ...opts] = v.split(',').map((x) => x.trim());
  if (kind === 'simple' && opts.length === 0) return { kind: 'simple' };
  if (kind !== 'jwt') throw new Error(`--auth-token: unknown token type "${kind}" (simple or jwt)`);
  const o: TokenOptions = { kind: 'jwt', ttlMs: 5 * 60_000 };
  for (const kv of opts) {
    const [k, val = ''] = kv.split('=');
    if (k === 'pub-key') o.pubKey = val;
    else if (k === 'priv-key') o.privKey = val;
    else if (k === 'sign-method') o.signMethod = val;
    else if (k === 'ttl') {
      const ms = parseDuration(val);
      if (!ms) throw new Error(`--auth-token: bad ttl "${val}" (a duration like 10m)`);
      o.ttlMs = ms;
    } else throw new Error(`--auth-token: unknown jwt option "${k}"`);
  }
  if (!o.signMethod || !JWT_METHODS[o.signMethod])
    throw new Error(`--auth-token: jwt needs sign-method= one of ${Object.keys(JWT_METHODS).join(', ')}`);
  if (!o.pubKey) throw new Error('--auth-token: jwt needs pub-key=');
  return o;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class JwtTokens implements TokenProvider {
  private readonly pub: KeyObject;
  private readonly priv: KeyObject | undefined;
  private readonly method: { hash: string; kind: 'rsa' | 'ecdsa' | 'pss' };
  private readonly header: string;

  constructor(
    private readonly o: TokenOptions,
    private readonly now: () => number = Date.now,
  ) {
    const read = (what: string, path: string) => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`--auth-token: cannot read ${what} ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    };
    this.pub = createPublicKey(read('pub-key', o.pubKey!));
    // A member with only the public key checks tokens but cannot make them (as etcd).
    this.priv = o.privKey ? createPrivateKey(read('priv-key', o.privKey)) : undefined;
    this.method = JWT_METHODS[o.signMethod!]!;
    this.header = b64url(JSON.stringify({ alg: o.signMethod, typ: 'JWT' }));
  }

  private keyOpts(key: KeyObject) {
    if (this.method.kind === 'ecdsa') return { key, dsaEncoding: 'ieee-p1363' as const };
    if (this.method.kind === 'pss')
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
    return { key };
  }

  assign(_prefix: string, _index: number, user: string, revision: number): string {
    if (!this.priv) throw new Error('auth: this member has no jwt priv-key to sign tokens with');
    const exp = Math.floor((this.now() + this.o.ttlMs!) / 1000);
    const body = `${this.header}.${b64url(JSON.stringify({ exp, revision, username: user }))}`;
    const sig = sign(this.method.hash, Buffer.from(body), this.keyOpts(this.priv));
    return `${body}.${b64url(sig)}`;
  }

  info(token: string): TokenInfo | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString());
      if (header.alg !== this.o.signMethod) return undefined;
      const ok = verify(
        this.method.hash,
        Buffer.from(`${parts[0]}.${parts[1]}`),
        this.keyOpts(this.pub),
        Buffer.from(parts[2]!, 'base64url'),
      );
      if (!ok) return undefined;
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
      if (typeof claims.username !== 'string' || typeof claims.revision !== 'number') return undefined;
      if (typeof claims.exp === 'number' && claims.exp * 1000 <= this.now()) return undefined;
      return { user: claims.username, revision: claims.revision };
    } catch {
      return undefined;
    }
  }

  // A JWT cannot be taken back; a change to users or roles makes it stale through its revision.
  invalidateUser(): void {}
  clear(): void {}
  sweep(): void {}
}
