// A backup in etcd 3.4's own file format: the bbolt database etcd keeps its state in (and streams for
// `etcdctl snapshot save`), with etcd's buckets and encodings, so that `etcdctl snapshot status` and
// `etcdctl snapshot restore` read this store's backups, and this store restores etcd's.
//
// What etcd keeps where (its mvcc, lease, alarm and membership stores):
// - "key": one entry per stored version. The key is the revision: main and sub as 8-byte big-endian
//   integers around a '_' (17 bytes), plus a 't' for a tombstone. The value is an mvccpb.KeyValue; a
//   tombstone's holds only the key.
// - "meta": "consistent_index" (8 bytes, big endian), and after a compaction "scheduledCompactRev" and
//   "finishedCompactRev" (a revision as above, sub 0).
// - "lease": the lease id (8 bytes, big endian) -> leasepb.Lease {ID, TTL, RemainingTTL}.
// - "alarm": an etcdserverpb.AlarmMember {MemberID, Alarm} as the key, no value.
// - "members": the member id in hex -> its JSON; "members_removed": id in hex -> "removed";
//   "cluster": "clusterVersion" -> "3.4.0". A restore (etcd's or ours) takes the membership from its flags.
// - "auth": "authEnabled" -> one byte (1 = on), "authRevision" -> 8 bytes, big endian.
// - "authUsers": name -> authpb.User {name, password (a bcrypt hash), roles, options {no_password}};
//   "authRoles": name -> authpb.Role {name, keyPermission: Permission {permType, key, range_end}}.
import type { StateDump } from '../apply/index.js';
import type { AuthDump } from '../auth/index.js';
import {
  bytesField,
  parseRevisionKey,
  revisionKey,
  storedVersionSize,
  varintField,
  writeStoredVersion,
  type StoredVersion,
} from '../mvcc/index.js';
import { readBolt, writeBoltSteps, type BoltBucket } from './bolt.js';

/** A member as the membership store lists it. */
export interface DbMember {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

const BOLT_MAGIC = 0xed0cdaed;
const CLUSTER_VERSION = '3.4.0';
const b = (s: string) => Buffer.from(s, 'latin1');

/** True when `file` starts like a bbolt database (its first meta page's magic number). */
export function isBoltFile(file: Buffer): boolean {
  return file.length >= 24 && file.readUInt32LE(16) === BOLT_MAGIC;
}

/** The bbolt file of a state dump and a membership (without the sha256 a snapshot stream appends). */
export function toEtcdDb(d: StateDump, members: DbMember[], removed: bigint[]): Buffer {
  const steps = etcdDbSteps(d, members, removed);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * toEtcdDb without holding the event loop for long: the work runs in slices of about `sliceMs`, with a
 * turn of the event loop between them (a big key space takes seconds; Raft heartbeats must not wait).
 * The state is the dump's, taken when it was made.
 */
export async function toEtcdDbAsync(
  d: StateDump,
  members: DbMember[],
  removed: bigint[],
  sliceMs = 10,
): Promise<Buffer> {
  const steps = etcdDbSteps(d, members, removed);
  for (;;) {
    const until = performance.now() + sliceMs;
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() >= until) break;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** toEtcdDb as steps: yields every so often, returns the file. */
export function* etcdDbSteps(d: StateDump, members: DbMember[], removed: bigint[]): Generator<void, Buffer> {
  // In revision order, the bucket's key order (the writer would otherwise sort the encoded keys, slowly).
  const versions: StoredVersion[] = [];
  for (const v of d.versions) if (versions.push(v) % 20_000 === 0) yield;
  versions.sort((a, b) => a.kv.modRevision - b.kv.modRevision || a.sub - b.sub);
  yield;
  // Every version's revision key and value written one after the other into large blocks: a Buffer
  // each would cost more in allocation and garbage collection than the encoding itself.
  const keys: [Buffer, Buffer][] = [];
  let block = Buffer.allocUnsafe(0);
  let used = 0;
  for (const v of versions) {
    const need = storedVersionSize(v.kv);
    if (used + need > block.length) {
      block = Buffer.allocUnsafe(Math.max(need, 4 << 20));
      used = 0;
    }
    const start = used;
    const keyEnd = start + (v.kv.version > 0 ? 17 : 18);
    used = writeStoredVersion(block, used, v.kv, v.sub);
    keys.push([block.subarray(start, keyEnd), block.subarray(keyEnd, used)]);
    if (keys.length % 2000 === 0) yield;
  }
  const meta: [Buffer, Buffer][] = [[b('consistent_index'), u64(BigInt(d.consistentIndex))]];
  if (d.compactRev > 0) {
    meta.push([b('finishedCompactRev'), revisionKey(d.compactRev, 0, false)]);
    meta.push([b('scheduledCompactRev'), revisionKey(d.compactRev, 0, false)]);
  }
  const buckets: BoltBucket[] = [
    {
      name: b('alarm'),
      entries: d.alarms.map((a) => [
        Buffer.concat([varintField(1, a.memberID), varintField(2, BigInt(a.alarm))]),
        Buffer.alloc(0),
      ]),
    },
    ...authBuckets(d.auth),
    { name: b('cluster'), entries: [[b('clusterVersion'), b(CLUSTER_VERSION)]] },
    { name: b('key'), entries: keys },
    {
      name: b('lease'),
      entries: d.leases.map((l) => [
        u64(BigInt.asUintN(64, l.id)),
        Buffer.concat([
          varintField(1, l.id),
          varintField(2, BigInt(l.ttl)),
          varintField(3, BigInt(l.remainingTtl)),
        ]),
      ]),
    },
    {
      name: b('members'),
      entries: members.map((m) => [b(m.id.toString(16)), Buffer.from(memberJSON(m))]),
    },
    { name: b('members_removed'), entries: removed.map((id) => [b(id.toString(16)), b('removed')]) },
    { name: b('meta'), entries: meta },
  ];
  return yield* writeBoltSteps(buckets);
}

/**
 * The state held by an etcd backup or data file (a trailing sha256 is ignored: check it first). Revisions
 * are taken as etcd's restore takes them: the current revision is the newest stored one, or the compaction
 * revision if that is newer.
 */
export function fromEtcdDb(file: Buffer): StateDump {
  const buckets = readBolt(file);
  const keyBucket = buckets.get('key');
  if (!keyBucket) throw new Error('not an etcd backup: no "key" bucket');
  const versions: StoredVersion[] = [];
  let currentRev = 0;
  for (const [k, v] of keyBucket) {
    const { main, sub, tombstone } = parseRevisionKey(k);
    const kv = decodeKeyValue(v);
    if (kv.key.length === 0) throw new Error(`etcd backup: revision ${main}_${sub} has no key`);
    if (tombstone) {
      versions.push({
        kv: {
          key: kv.key,
          createRevision: 0,
          modRevision: main,
          version: 0,
          value: Buffer.alloc(0),
          lease: 0n,
        },
        sub,
      });
    } else {
      if (kv.modRevision !== main)
        throw new Error(`etcd backup: revision ${main}_${sub} holds a value of revision ${kv.modRevision}`);
      versions.push({ kv, sub });
    }
    if (main > currentRev) currentRev = main;
  }
  const meta = new Map((buckets.get('meta') ?? []).map(([k, v]) => [k.toString('latin1'), v]));
  const ci = meta.get('consistent_index');
  const finished = meta.get('finishedCompactRev');
  const compactRev = finished ? parseRevisionKey(finished).main : -1;
  if (compactRev > currentRev) currentRev = compactRev;
  const leases = (buckets.get('lease') ?? []).map(([, v]) => {
    const f = pbFields(v);
    return {
      id: BigInt.asIntN(64, (f.get(1) as bigint) ?? 0n),
      ttl: Number(f.get(2) ?? 0n),
      remainingTtl: Number(f.get(3) ?? 0n),
    };
  });
  const alarms = (buckets.get('alarm') ?? []).map(([k]) => {
    const f = pbFields(k);
    return { memberID: BigInt.asUintN(64, (f.get(1) as bigint) ?? 0n), alarm: Number(f.get(2) ?? 0n) };
  });
  return {
    consistentIndex: ci && ci.length === 8 ? Number(ci.readBigUInt64BE(0)) : 0,
    alarms,
    leases,
    currentRev,
    compactRev,
    versions,
    auth: readAuth(buckets),
  };
}

/** The three auth buckets (empty ones when there is no auth state, as etcd creates them regardless). */
function authBuckets(a: AuthDump | undefined): BoltBucket[] {
  const auth: [Buffer, Buffer][] = a
    ? [
        [b('authEnabled'), Buffer.from([a.enabled ? 1 : 0])],
        [b('authRevision'), u64(BigInt(a.revision))],
      ]
    : [];
  const users: [Buffer, Buffer][] = (a?.users ?? []).map((u) => [
    Buffer.from(u.name),
    Buffer.concat([
      bytesField(1, Buffer.from(u.name)),
      bytesField(2, Buffer.from(u.password)),
      ...u.roles.map((r) => bytesField(3, Buffer.from(r))),
      bytesField(4, u.noPassword ? varintField(1, 1n) : Buffer.alloc(0)),
    ]),
  ]);
  const roles: [Buffer, Buffer][] = (a?.roles ?? []).map((r) => [
    Buffer.from(r.name),
    Buffer.concat([
      bytesField(1, Buffer.from(r.name)),
      ...r.perms.map((p) =>
        bytesField(
          2,
          Buffer.concat([
            varintField(1, BigInt(p.permType)),
            bytesField(2, p.key),
            bytesField(3, p.rangeEnd),
          ]),
        ),
      ),
    ]),
  ]);
  const byKey = (x: [Buffer, Buffer], y: [Buffer, Buffer]) => Buffer.compare(x[0], y[0]);
  return [
    { name: b('auth'), entries: auth },
    { name: b('authRoles'), entries: roles.sort(byKey) },
    { name: b('authUsers'), entries: users.sort(byKey) },
  ];
}

/** The auth state of an etcd backup; undefined when it has none (no users, no roles, auth never enabled). */
function readAuth(buckets: Map<string, [Buffer, Buffer][]>): AuthDump | undefined {
  const auth = new Map((buckets.get('auth') ?? []).map(([k, v]) => [k.toString('latin1'), v]));
  const users = (buckets.get('authUsers') ?? []).map(([, v]) => {
    const f = pbList(v);
    const opts = f.find(([n]) => n === 4)?.[1] as Buffer | undefined;
    return {
      name: String(f.find(([n]) => n === 1)?.[1] ?? ''),
      password: String(f.find(([n]) => n === 2)?.[1] ?? ''),
      roles: f.filter(([n]) => n === 3).map(([, r]) => String(r)),
      noPassword: opts ? pbFields(opts).get(1) === 1n : false,
    };
  });
  const roles = (buckets.get('authRoles') ?? []).map(([, v]) => {
    const f = pbList(v);
    return {
      name: String(f.find(([n]) => n === 1)?.[1] ?? ''),
      perms: f
        .filter(([n]) => n === 2)
        .map(([, p]) => {
          const pf = pbFields(p as Buffer);
          return {
            permType: Number(pf.get(1) ?? 0n),
            key: Buffer.from((pf.get(2) as Buffer | undefined) ?? Buffer.alloc(0)),
            rangeEnd: Buffer.from((pf.get(3) as Buffer | undefined) ?? Buffer.alloc(0)),
          };
        }),
    };
  });
  const enabled = auth.get('authEnabled');
  const rev = auth.get('authRevision');
  if (users.length === 0 && roles.length === 0 && !enabled?.[0]) return undefined;
  return {
    enabled: enabled?.[0] === 1,
    revision: rev && rev.length === 8 ? Math.max(1, Number(rev.readBigUInt64BE(0))) : 1,
    users,
    roles,
  };
}

function memberJSON(m: DbMember): string {
  // etcd writes the id as a JSON number (a uint64, so beyond 2^53: written out by hand).
  const rest = JSON.stringify({
    peerURLs: m.peerURLs,
    ...(m.isLearner ? { isLearner: true } : {}),
    ...(m.name ? { name: m.name } : {}),
    ...(m.clientURLs.length ? { clientURLs: m.clientURLs } : {}),
  });
  return `{"id":${m.id.toString()},${rest.slice(1)}`;
}

function u64(v: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(v);
  return out;
}

// --- reading the few protobuf messages involved, by hand ---

function decodeKeyValue(buf: Buffer): StoredVersion['kv'] {
  const f = pbFields(buf);
  const n = (i: number) => Number((f.get(i) as bigint | undefined) ?? 0n);
  return {
    key: Buffer.from((f.get(1) as Buffer | undefined) ?? Buffer.alloc(0)),
    createRevision: n(2),
    modRevision: n(3),
    version: n(4),
    value: Buffer.from((f.get(5) as Buffer | undefined) ?? Buffer.alloc(0)),
    lease: BigInt.asIntN(64, (f.get(6) as bigint | undefined) ?? 0n),
  };
}

/** A flat protobuf message's varint (wire type 0) and length-delimited (2) fields; the last one of a number wins. */
function pbFields(buf: Buffer): Map<number, bigint | Buffer> {
  return new Map(pbList(buf));
}

/** A protobuf message's varint and length-delimited fields in order, repeated ones included. */
function pbList(buf: Buffer): [number, bigint | Buffer][] {
  const out: [number, bigint | Buffer][] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length || shift > 63n) throw new Error('etcd backup: a malformed protobuf value');
      const byte = buf[pos++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return v;
    }
  };
  while (pos < buf.length) {
    const tag = Number(readVarint());
    const field = tag >>> 3;
    const type = tag & 7;
    if (type === 0) out.push([field, readVarint()]);
    else if (type === 2) {
      const len = Number(readVarint());
      if (pos + len > buf.length) throw new Error('etcd backup: a truncated protobuf value');
      out.push([field, buf.subarray(pos, pos + len)]);
      pos += len;
    } else if (type === 1) pos += 8;
    else if (type === 5) pos += 4;
    else throw new Error(`etcd backup: protobuf wire type ${type} is not expected here`);
  }
  return out;
}
