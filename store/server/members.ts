// Cluster membership metadata: members (id, name, peer and client URLs, learner flag) and the ids etcd
// derives from them, so MemberList and every ResponseHeader carry the same ids a real etcd would.
import { createHash } from 'node:crypto';

export interface Member {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** etcd's member id: the first 8 bytes (big-endian) of sha1(sorted peer URLs ++ cluster token). */
export function memberId(peerURLs: string[], token: string): bigint {
  const h = createHash('sha1');
  for (const u of [...peerURLs].sort()) h.update(u);
  h.update(token);
  return h.digest().readBigUInt64BE(0);
}

/** etcd's cluster id: the first 8 bytes of sha1 over the sorted member ids, each 8 bytes big-endian. */
export function clusterId(memberIds: bigint[]): bigint {
  const h = createHash('sha1');
  for (const id of [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(id);
    h.update(b);
  }
  return h.digest().readBigUInt64BE(0);
}

/** Parses `--initial-cluster` (name=url,name=url,...); a name may appear with several URLs. */
export function parseInitialCluster(s: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) {
      throw new Error(`--initial-cluster: "${part}" is not of the form name=url`);
    }
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    checkURL(url, '--initial-cluster');
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  return out;
}

export function parseURLs(s: string, flag: string): string[] {
  const urls = s
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new Error(`${flag}: no URL given`);
  for (const u of urls) checkURL(u, flag);
  return urls;
}

function checkURL(u: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`${flag}: "${u}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'unix:') {
    throw new Error(`${flag}: URL scheme must be http, https or unix: "${u}"`);
  }
  return url;
}

/**
 * The membership a node serves: serialized into snapshots so MemberList survives restarts. `removed` holds
 * every member id ever removed (as etcd's membership store does): a removed member is refused for good, also
 * by a member that restarted or joined later, and an id once removed is never a member again.
 */
export class Membership {
  constructor(
    readonly clusterId: bigint,
    readonly members: Map<bigint, Member>,
    readonly removed: Set<bigint> = new Set(),
  ) {}

  static bootstrap(initialCluster: Map<string, string[]>, token: string): Membership {
    const members = new Map<bigint, Member>();
    for (const [name, peerURLs] of initialCluster) {
      const id = memberId(peerURLs, token);
      if (members.has(id)) throw new Error(`--initial-cluster: members ${name} share peer URLs`);
      members.set(id, { id, name, peerURLs: [...peerURLs].sort(), clientURLs: [], isLearner: false });
    }
    return new Membership(clusterId([...members.keys()]), members);
  }

  list(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  toJSON(): unknown {
    return {
      clusterId: this.clusterId.toString(),
      members: this.list().map((m) => ({ ...m, id: m.id.toString() })),
      removed: [...this.removed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((id) => id.toString()),
    };
  }

  /** Reads toJSON's form; `removed` is absent in data written before removed ids were kept. */
  static fromJSON(v: unknown): Membership {
    const o = v as {
      clusterId: string;
      members: (Omit<Member, 'id'> & { id: string })[];
      removed?: string[];
    };
    const members = new Map<bigint, Member>();
    for (const m of o.members) members.set(BigInt(m.id), { ...m, id: BigInt(m.id) });
    const removed = new Set((o.removed ?? []).map((id) => BigInt(id)));
    for (const id of removed) {
      if (members.has(id)) throw new Error(`corrupt membership: member ${id.toString(16)} is also removed`);
    }
    return new Membership(BigInt(o.clusterId), members, removed);
  }
}
