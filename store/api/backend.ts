// What the gRPC services need from a store node. store/server's StoreNode implements it; the services
// never touch Raft, the WAL or the state machine directly.
//
// Messages are the camelCase shapes of rpc.proto (the state machine's own types), after the edge
// conversion in convert.ts: Buffers for bytes, numbers for revisions, bigints for lease and member ids.

import type { AuthInfo, Permission } from '../auth/index.js';

export type Msg = Record<string, any>;

export interface Header {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

/** A WatchStream as the state machine provides it: many watchers, one ordered response callback. */
export interface WatchStreamLike {
  /** Creates a watcher; the created/canceled responses arrive through the stream's callback. */
  watch(req: Msg): void;
  cancel(watchId: number): void;
  requestProgress(): void;
  /** Backpressure: the gRPC stream's buffer is full / has drained. */
  pause(): void;
  resume(): void;
  close(): void;
}

export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface NodeStatus {
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  isLearner: boolean;
}

export interface EtcdBackend {
  readonly maxRequestBytes: number;
  header(revision?: number): Header;

  // `who`: the caller, when authentication is on (see authInfo); its permissions are checked.
  range(req: Msg, who?: AuthInfo): Promise<Msg>;
  put(req: Msg, who?: AuthInfo): Promise<Msg>;
  deleteRange(req: Msg, who?: AuthInfo): Promise<Msg>;
  txn(req: Msg, who?: AuthInfo): Promise<Msg>;
  compact(req: Msg): Promise<Msg>;

  leaseGrant(req: Msg): Promise<Msg>;
  leaseRevoke(req: Msg, who?: AuthInfo): Promise<Msg>;
  /** Renews on the leader; resolves with the TTL, or 0 when the lease is gone (as etcd answers). */
  leaseKeepAlive(id: bigint): Promise<number>;
  leaseTimeToLive(req: Msg): Promise<Msg>;
  leaseLeases(): Promise<Msg>;

  /** Opens a watch stream whose responses (header filled) go to `send`. */
  watchStream(send: (resp: Msg) => void): WatchStreamLike;

  alarm(req: Msg): Promise<Msg>;
  status(): Promise<NodeStatus>;
  hash(): Promise<number>;
  hashKV(
    revision: number,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; currentRevision: number }>;
  /** A consistent backup of the whole state; the revision it was taken at. */
  snapshot(): Promise<{ revision: number; chunks: AsyncIterable<Buffer> | Iterable<Buffer>; size: number }>;
  defragment(): Promise<void>;
  moveLeader(targetId: bigint): Promise<void>;

  members(): MemberInfo[];
  memberAdd(peerURLs: string[], isLearner: boolean): Promise<MemberInfo>;
  memberRemove(id: bigint): Promise<void>;
  memberUpdate(id: bigint, peerURLs: string[]): Promise<void>;
  memberPromote(id: bigint): Promise<void>;

  // Authentication (etcd's Auth service). Changes go through Raft; reads are linearizable.
  /**
   * The caller behind a token (or, without one, the common name of its verified client certificate):
   * undefined while auth is off; throws "invalid auth token".
   */
  authInfo(token: string | undefined, commonName?: () => string | undefined): AuthInfo | undefined;
  /** Throws unless the caller has the root role (when auth is on), as Maintenance's admin calls need. */
  checkAdmin(who: AuthInfo | undefined): void;
  watchPermitted(who: AuthInfo | undefined, key: Buffer, rangeEnd?: Buffer): boolean;
  authenticate(name: string, password: string): Promise<string>;
  authStatus(): { enabled: boolean; authRevision: number };
  authEnable(who?: AuthInfo): Promise<void>;
  authDisable(who?: AuthInfo): Promise<void>;
  userAdd(name: string, password: string, noPassword: boolean, who?: AuthInfo): Promise<void>;
  userGet(name: string, who?: AuthInfo): Promise<string[]>;
  userList(who?: AuthInfo): Promise<string[]>;
  userDelete(name: string, who?: AuthInfo): Promise<void>;
  userChangePassword(name: string, password: string, who?: AuthInfo): Promise<void>;
  userGrantRole(user: string, role: string, who?: AuthInfo): Promise<void>;
  userRevokeRole(user: string, role: string, who?: AuthInfo): Promise<void>;
  roleAdd(name: string, who?: AuthInfo): Promise<void>;
  roleGet(name: string, who?: AuthInfo): Promise<Permission[]>;
  roleList(who?: AuthInfo): Promise<string[]>;
  roleDelete(name: string, who?: AuthInfo): Promise<void>;
  roleGrantPermission(name: string, perm: Permission, who?: AuthInfo): Promise<void>;
  roleRevokePermission(role: string, key: Buffer, rangeEnd: Buffer, who?: AuthInfo): Promise<void>;

  /** Called per finished RPC for metrics. */
  observeRpc?(service: string, method: string, code: number, seconds: number, type: string): void;
}
