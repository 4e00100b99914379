// The etcd v3 request/response messages the state machine applies, shaped as @grpc/proto-loader
// (keepCase=false) produces them: camelCase fields, Buffer keys/values, number revisions, bigint IDs.
import type { KeyValue } from '../mvcc/index.js';
import type { AuthInfo, Permission } from '../auth/index.js';

export type { Event, KeyValue } from '../mvcc/index.js';
export { EventType } from '../mvcc/index.js';

export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

/** RangeRequest.SortOrder */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
/** RangeRequest.SortTarget */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

export interface RangeRequest {
  key: Buffer;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd?: Buffer;
  limit?: number;
  revision?: number;
  sortOrder?: number;
  sortTarget?: number;
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Buffer;
  value?: Buffer;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv: KeyValue | null;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd?: Buffer;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

/** One op of a txn: exactly one field is set (the proto's `request` oneof). */
export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest };

export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse };

/** Compare.CompareResult */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
/** Compare.CompareTarget */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

export interface Compare {
  result: number;
  target: number;
  key: Buffer;
  /** The proto's target_union: the field that matches `target` is read. */
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Buffer;
  lease?: bigint;
  rangeEnd?: Buffer;
}

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

export interface LeaseGrantRequest {
  /** Seconds. */
  TTL: number;
  /** Chosen by the server before proposing (never 0 in a Raft entry). */
  ID: bigint;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: bigint;
  TTL: number;
  error: string;
}

export interface LeaseRevokeRequest {
  ID: bigint;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseKeepAliveRequest {
  ID: bigint;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: bigint;
  TTL: number;
}

export interface LeaseTimeToLiveRequest {
  ID: bigint;
  keys?: boolean;
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  ID: bigint;
  /** Remaining seconds; -1 when the lease does not exist. */
  TTL: number;
  grantedTTL: number;
  keys: Buffer[];
}

export type LeaseLeasesRequest = Record<string, never>;

export interface LeaseStatus {
  ID: bigint;
}

export interface LeaseLeasesResponse {
  header: ResponseHeader;
  leases: LeaseStatus[];
}

/** LeaseCheckpoint (not used by etcd 3.4 unless enabled; kept for the remaining-TTL after leader change). */
export interface LeaseCheckpoint {
  ID: bigint;
  remainingTTL: number;
}

export interface LeaseCheckpointRequest {
  checkpoints: LeaseCheckpoint[];
}

/** AlarmRequest.AlarmAction */
export const AlarmAction = { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } as const;
/** AlarmType */
export const AlarmType = { NONE: 0, NOSPACE: 1, CORRUPT: 2 } as const;

export interface AlarmRequest {
  action: number;
  /** 0 with GET/DEACTIVATE means every member. */
  memberID: bigint;
  alarm: number;
}

export interface AlarmMember {
  memberID: bigint;
  alarm: number;
}

export interface AlarmResponse {
  header: ResponseHeader;
  alarms: AlarmMember[];
}

export interface HashKVResponse {
  header: ResponseHeader;
  hash: number;
  compactRevision: number;
}

/** Watch create request (WatchCreateRequest). */
export const WatchFilterType = { NOPUT: 0, NODELETE: 1 } as const;

export interface WatchCreateRequest {
  key: Buffer;
  rangeEnd?: Buffer;
  /** 0 = current revision + 1. */
  startRevision?: number;
  progressNotify?: boolean;
  filters?: number[];
  prevKv?: boolean;
  /** 0 = let the stream pick one. */
  watchId?: number;
  fragment?: boolean;
}

/**
 * A mutating request as it travels through Raft (etcd's InternalRaftRequest): exactly one field set.
 * `id` lets the proposing server match the applied result to the waiting client.
 */
export type RaftRequest = {
  id?: bigint;
  /** Who asked, when authentication is on (etcd's RequestHeader username and auth revision). */
  requester?: AuthInfo;
} & (
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest }
  | { compaction: CompactionRequest }
  | { leaseGrant: LeaseGrantRequest }
  | { leaseRevoke: LeaseRevokeRequest }
  | { leaseCheckpoint: LeaseCheckpointRequest }
  | { alarm: AlarmRequest }
  /** A no-op entry kind the server may use (e.g. to carry only a consistent-index advance). */
  | { noop: true }
  | { authEnable: true }
  | { authDisable: true }
  /** A login whose password the proposing member has checked; the token is `${simpleToken}.${index}`. */
  | { authenticate: { name: string; simpleToken: string } }
  | { authUserAdd: { name: string; hashedPassword?: string; noPassword?: boolean } }
  | { authUserDelete: { name: string } }
  | { authUserChangePassword: { name: string; hashedPassword: string } }
  | { authUserGrantRole: { user: string; role: string } }
  | { authUserRevokeRole: { user: string; role: string } }
  | { authRoleAdd: { name: string } }
  | { authRoleDelete: { name: string } }
  | { authRoleGrantPermission: { name: string; perm: Permission } }
  | { authRoleRevokePermission: { role: string; key: Buffer; rangeEnd?: Buffer } }
);

export type RaftResponse =
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | CompactionResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | AlarmResponse
  /** An applied login. */
  | { token: string }
  | Record<string, never>;
