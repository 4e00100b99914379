// What the gRPC services need from a store node. store/server's StoreNode implements it; the services
// never touch Raft, the WAL or the state machine directly.
//
// Messages are the camelCase shapes of rpc.proto (the state machine's own types), after the edge
// conversion in convert.ts: Buffers for bytes, numbers for revisions, bigints for lease and member ids.

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

  range(req: Msg): Promise<Msg>;
  put(req: Msg): Promise<Msg>;
  deleteRange(req: Msg): Promise<Msg>;
  txn(req: Msg): Promise<Msg>;
  compact(req: Msg): Promise<Msg>;

  leaseGrant(req: Msg): Promise<Msg>;
  leaseRevoke(req: Msg): Promise<Msg>;
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

  /** Called per finished RPC for metrics. */
  observeRpc?(service: string, method: string, code: number, seconds: number, type: string): void;
}
