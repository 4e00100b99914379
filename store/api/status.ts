// Maps errors to gRPC statuses. An etcd error value carries its gRPC code and etcd's exact message, so
// etcdctl and client libraries print and classify it as they would for a real etcd.
import { status } from '@grpc/grpc-js';

/** An error with a gRPC status code: EtcdError from the state machine, or one made here. */
export interface CodedError {
  code: number;
  message: string;
}

export function isCodedError(e: unknown): e is CodedError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as CodedError).code === 'number' &&
    (e as CodedError).code > 0 &&
    (e as CodedError).code <= 16 &&
    typeof (e as CodedError).message === 'string'
  );
}

export class RpcError extends Error implements CodedError {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** Errors etcd's server layer returns (etcdserver/api/v3rpc/rpctypes), with their codes. */
export const ServerErrors = {
  requestTooLarge: () => new RpcError(status.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  timeout: () => new RpcError(status.UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: () =>
    new RpcError(
      status.UNAVAILABLE,
      'etcdserver: request timed out, possibly due to previous leader failure',
    ),
  noLeader: () => new RpcError(status.UNAVAILABLE, 'etcdserver: no leader'),
  stopped: () => new RpcError(status.UNAVAILABLE, 'etcdserver: server stopped'),
  tooManyRequests: () => new RpcError(status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  memberNotFound: () => new RpcError(status.NOT_FOUND, 'etcdserver: member not found'),
  peerURLExist: () => new RpcError(status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  notEnoughStartedMembers: () =>
    new RpcError(
      status.FAILED_PRECONDITION,
      'etcdserver: re-configuration failed due to not enough started members',
    ),
  memberNotLearner: () =>
    new RpcError(status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  badLeaderTransferee: () => new RpcError(status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
};

/** The status a call ends with: the error's own code and message, or UNKNOWN with its text. */
export function toServiceError(err: unknown): { code: number; details: string } {
  if (isCodedError(err)) return { code: err.code, details: err.message };
  const msg = err instanceof Error ? err.message : String(err);
  return { code: status.UNKNOWN, details: msg };
}
