// etcd's v3 authentication and role-based access control as replicated state: users, roles, key-range
// permissions, the enabled flag and the auth revision. Every change arrives as an applied Raft entry, so
// each member holds the same AuthStore; the permission checks run on that state (at apply time for writes,
// as etcd does, so that a member never decides differently from another).
//
// Passwords are stored as bcrypt hashes, as etcd stores them; the hash is made by the member that takes
// the request, before it is proposed, so that no plaintext password reaches the WAL and applying stays
// cheap. Tokens (simple tokens, etcd's default) are member-local and live in tokens.ts.
import { BinaryReader, BinaryWriter } from '../mvcc/index.js';
import { AuthErrors } from './errors.js';

/** authpb.Permission.Type */
export const PermType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;

export interface Permission {
  permType: number;
  key: Buffer;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Buffer;
}

/** Who makes a request: the user behind its token and the auth revision when the token was read. */
export interface AuthInfo {
  username: string;
  revision: number;
}

interface User {
  /** bcrypt hash; empty for a user added with no_password (who cannot authenticate). */
  password: string;
  noPassword: boolean;
  /** Sorted, no duplicates. */
  roles: string[];
}

export const ROOT = 'root';

/** The state as plain values (snapshots, backups in etcd's format). */
export interface AuthDump {
  enabled: boolean;
  revision: number;
  users: { name: string; password: string; noPassword: boolean; roles: string[] }[];
  roles: { name: string; perms: Permission[] }[];
}

const INFINITY = Symbol('infinity');
type Bound = Buffer | typeof INFINITY;

export class AuthStore {
  private enabledFlag = false;
  /** Bumped by every change, as etcd's authRevision; requests made under an older one are refused. */
  private rev = 1;
  private readonly users = new Map<string, User>();
  /** Permissions sorted by key, then range end; at most one per (key, range end). */
  private readonly roles = new Map<string, Permission[]>();

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  // ---------------------------------------------------------------- changes (applied entries)

  enable(): void {
    if (this.enabledFlag) return;
    const root = this.users.get(ROOT);
    if (!root) throw AuthErrors.rootUserNotExist();
    if (!root.roles.includes(ROOT)) throw AuthErrors.rootRoleNotExist();
    // As etcd: turning auth on leaves the auth revision where it is (turning it off moves it).
    this.enabledFlag = true;
  }

  disable(): void {
    if (!this.enabledFlag) return;
    this.enabledFlag = false;
    this.rev++;
  }

  userAdd(name: string, passwordHash: string, noPassword: boolean): void {
    if (name === '') throw AuthErrors.userEmpty();
    if (this.users.has(name)) throw AuthErrors.userAlreadyExist();
    this.users.set(name, { password: noPassword ? '' : passwordHash, noPassword, roles: [] });
    this.rev++;
  }

  userDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw AuthErrors.invalidAuthMgmt();
    if (!this.users.delete(name)) throw AuthErrors.userNotFound();
    this.rev++;
  }

  userChangePassword(name: string, passwordHash: string): void {
    const u = this.users.get(name);
    if (!u) throw AuthErrors.userNotFound();
    u.password = passwordHash;
    u.noPassword = false;
    this.rev++;
  }

  userGrantRole(name: string, role: string): void {
    const u = this.users.get(name);
    if (!u) throw AuthErrors.userNotFound();
    if (role !== ROOT && !this.roles.has(role)) throw AuthErrors.roleNotFound();
    if (u.roles.includes(role)) return;
    u.roles = [...u.roles, role].sort();
    this.rev++;
  }

  userRevokeRole(name: string, role: string): void {
    if (this.enabledFlag && name === ROOT && role === ROOT) throw AuthErrors.invalidAuthMgmt();
    const u = this.users.get(name);
    if (!u) throw AuthErrors.userNotFound();
    if (!u.roles.includes(role)) throw AuthErrors.roleNotGranted();
    u.roles = u.roles.filter((r) => r !== role);
    this.rev++;
  }

  roleAdd(name: string): void {
    if (name === '') throw AuthErrors.roleEmpty();
    if (this.roles.has(name)) throw AuthErrors.roleAlreadyExist();
    this.roles.set(name, []);
    this.rev++;
  }

  /** Deletes a role and takes it from every user that had it. */
  roleDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw AuthErrors.invalidAuthMgmt();
    if (!this.roles.delete(name)) throw AuthErrors.roleNotFound();
    for (const u of this.users.values())
      if (u.roles.includes(name)) u.roles = u.roles.filter((r) => r !== name);
    this.rev++;
  }

  /** Adds a permission, or changes the type of the one with the same key and range end. */
  roleGrantPermission(name: string, perm: Permission): void {
    const perms = this.roles.get(name);
    if (!perms) throw AuthErrors.roleNotFound();
    const at = perms.findIndex((p) => p.key.equals(perm.key) && p.rangeEnd.equals(perm.rangeEnd));
    const copy = {
      permType: perm.permType,
      key: Buffer.from(perm.key),
      rangeEnd: Buffer.from(perm.rangeEnd),
    };
    if (at >= 0) perms[at] = copy;
    else {
      perms.push(copy);
      perms.sort((a, b) => Buffer.compare(a.key, b.key) || Buffer.compare(a.rangeEnd, b.rangeEnd));
    }
    this.rev++;
  }

  roleRevokePermission(name: string, key: Buffer, rangeEnd: Buffer): void {
    const perms = this.roles.get(name);
    if (!perms) throw AuthErrors.roleNotFound();
    const at = perms.findIndex((p) => p.key.equals(key) && p.rangeEnd.equals(rangeEnd));
    if (at < 0) throw AuthErrors.permissionNotGranted();
    perms.splice(at, 1);
    this.rev++;
  }

  // ---------------------------------------------------------------- reads

  /** The password hash to check a login against; throws etcd's errors for an unknown or password-less user. */
  passwordHash(name: string): string {
    const u = this.users.get(name);
    if (!u) throw AuthErrors.authFailed();
    if (u.noPassword) throw AuthErrors.noPasswordUser();
    return u.password;
  }

  hasUser(name: string): boolean {
    return this.users.has(name);
  }

  userRoles(name: string): string[] {
    const u = this.users.get(name);
    if (!u) throw AuthErrors.userNotFound();
    return [...u.roles];
  }

  userList(): string[] {
    return [...this.users.keys()].sort();
  }

  rolePermissions(name: string): Permission[] {
    const perms = this.roles.get(name);
    if (!perms) throw AuthErrors.roleNotFound();
    return perms.map((p) => ({ ...p }));
  }

  roleList(): string[] {
    return [...this.roles.keys()].sort();
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // ---------------------------------------------------------------- checks

  /** Admin operations (users, roles, enabling auth): a user with the root role, when auth is on. */
  checkAdmin(info: AuthInfo | undefined): void {
    if (!this.enabledFlag) return;
    if (!info || info.username === '') throw AuthErrors.userEmpty();
    const u = this.users.get(info.username);
    if (!u) throw AuthErrors.userNotFound();
    if (!u.roles.includes(ROOT)) throw AuthErrors.permissionDenied();
  }

  checkRead(info: AuthInfo | undefined, key: Buffer, rangeEnd?: Buffer): void {
    this.checkOp(info, key, rangeEnd, PermType.READ);
  }

  checkWrite(info: AuthInfo | undefined, key: Buffer, rangeEnd?: Buffer): void {
    this.checkOp(info, key, rangeEnd, PermType.WRITE);
  }

  private checkOp(info: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer | undefined, type: number): void {
    if (!this.enabledFlag) return;
    if (!info || info.username === '') throw AuthErrors.userEmpty();
    if (info.revision < this.rev) throw AuthErrors.authOldRevision();
    const u = this.users.get(info.username);
    if (!u) throw AuthErrors.permissionDenied();
    if (u.roles.includes(ROOT)) return;
    if (!this.covered(u, key, rangeEnd, type)) throw AuthErrors.permissionDenied();
  }

  /** True if the user's roles together grant `type` on every key of the request's range. */
  private covered(u: User, key: Buffer, rangeEnd: Buffer | undefined, type: number): boolean {
    const spans: [Buffer, Bound][] = [];
    for (const role of u.roles) {
      for (const p of this.roles.get(role) ?? []) {
        if (p.permType === PermType.READWRITE || p.permType === type)
          spans.push([p.key, spanEnd(p.key, p.rangeEnd)]);
      }
    }
    const want = spanEnd(key, rangeEnd ?? Buffer.alloc(0));
    spans.sort((a, b) => Buffer.compare(a[0], b[0]));
    // Sweep from the request's first key: each span that starts at or before the uncovered point extends it.
    let from: Bound = key;
    for (const [start, end] of spans) {
      if (from === INFINITY) break;
      if (Buffer.compare(start, from) > 0) break;
      if (end === INFINITY || Buffer.compare(end, from) > 0) from = end;
    }
    return from === INFINITY || (want !== INFINITY && Buffer.compare(from, want) >= 0);
  }

  // ---------------------------------------------------------------- snapshots

  dump(): AuthDump {
    return {
      enabled: this.enabledFlag,
      revision: this.rev,
      users: [...this.users].map(([name, u]) => ({ name, ...u, roles: [...u.roles] })),
      roles: [...this.roles].map(([name, perms]) => ({ name, perms: perms.map((p) => ({ ...p })) })),
    };
  }

  /** Replaces the whole state (a snapshot or a backup being restored). */
  load(d: AuthDump): void {
    this.enabledFlag = d.enabled;
    this.rev = d.revision;
    this.users.clear();
    this.roles.clear();
    for (const u of d.users)
      this.users.set(u.name, { password: u.password, noPassword: u.noPassword, roles: [...u.roles].sort() });
    for (const r of d.roles) {
      const perms = r.perms.map((p) => ({ ...p }));
      perms.sort((a, b) => Buffer.compare(a.key, b.key) || Buffer.compare(a.rangeEnd, b.rangeEnd));
      this.roles.set(r.name, perms);
    }
  }

  /** True while there is nothing to save (no user, no role, auth off): snapshots then carry no auth section. */
  isEmpty(): boolean {
    return !this.enabledFlag && this.users.size === 0 && this.roles.size === 0 && this.rev === 1;
  }

  static write(w: BinaryWriter, d: AuthDump): void {
    w.bool(d.enabled).uvarint(d.revision).uvarint(d.users.length);
    for (const u of d.users) {
      w.bytes(Buffer.from(u.name)).bytes(Buffer.from(u.password)).bool(u.noPassword).uvarint(u.roles.length);
      for (const r of u.roles) w.bytes(Buffer.from(r));
    }
    w.uvarint(d.roles.length);
    for (const r of d.roles) {
      w.bytes(Buffer.from(r.name)).uvarint(r.perms.length);
      for (const p of r.perms) w.uvarint(p.permType).bytes(p.key).bytes(p.rangeEnd);
    }
  }

  static read(r: BinaryReader): AuthDump {
    const d: AuthDump = { enabled: r.bool(), revision: r.uvarint(), users: [], roles: [] };
    for (let n = r.uvarint(), i = 0; i < n; i++) {
      const name = r.bytes().toString();
      const password = r.bytes().toString();
      const noPassword = r.bool();
      const roles: string[] = [];
      for (let k = r.uvarint(), j = 0; j < k; j++) roles.push(r.bytes().toString());
      d.users.push({ name, password, noPassword, roles });
    }
    for (let n = r.uvarint(), i = 0; i < n; i++) {
      const name = r.bytes().toString();
      const perms: Permission[] = [];
      for (let k = r.uvarint(), j = 0; j < k; j++)
        perms.push({ permType: r.uvarint(), key: Buffer.from(r.bytes()), rangeEnd: Buffer.from(r.bytes()) });
      d.roles.push({ name, perms });
    }
    return d;
  }
}

/** Where a permission's or a request's range ends: the key after a single key, or no end for "\0". */
function spanEnd(key: Buffer, rangeEnd: Buffer): Bound {
  if (rangeEnd.length === 0) return Buffer.concat([key, Buffer.from([0])]);
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return INFINITY;
  return rangeEnd;
}
