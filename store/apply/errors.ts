// etcd's server errors as values: the gRPC status code (numbers of @grpc/grpc-js `status`) and etcd's exact
// message (etcd 3.4 etcdserver/api/v3rpc/rpctypes/error.go), so clients that match on them keep working.
import { MvccError } from '../mvcc/index.js';
import { LeaseError } from '../lease/index.js';

/** gRPC status codes (the same numbers as @grpc/grpc-js `status`). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export class EtcdError extends Error {
  constructor(
    /** gRPC status code. */
    readonly code: number,
    /** etcd's message, sent to the client as the status details. */
    message: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
  /** The shape @grpc/grpc-js accepts as a call error. */
  toGrpc(): { code: number; details: string; message: string } {
    return { code: this.code, details: this.message, message: this.message };
  }
}

const e = (code: number, message: string) => () => new EtcdError(code, message);
const C = GrpcCode;

export const Errors = {
  emptyKey: e(C.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(C.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(C.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(C.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: e(C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  compacted: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: e(C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  leaseNotFound: e(C.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExist: e(C.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: e(C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  requestTooLarge: e(C.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  notLeader: e(C.UNAVAILABLE, 'etcdserver: not leader'),
  noLeader: e(C.UNAVAILABLE, 'etcdserver: no leader'),
  timeout: e(C.UNAVAILABLE, 'etcdserver: request timed out'),
  corrupt: e(C.DATA_LOSS, 'etcdserver: corrupt cluster'),
  unknownMethod: e(C.UNIMPLEMENTED, 'etcdserver: unknown method'),
} as const;

/** Maps an mvcc or lessor error (or an EtcdError) to the EtcdError a client sees; anything else is a bug. */
export function toEtcdError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  if (err instanceof MvccError) {
    switch (err.kind) {
      case 'compacted':
        return Errors.compacted();
      case 'future-rev':
        return Errors.futureRev();
      default:
        return new EtcdError(C.INVALID_ARGUMENT, err.message);
    }
  }
  if (err instanceof LeaseError) {
    switch (err.kind) {
      case 'not-found':
        return Errors.leaseNotFound();
      case 'exists':
        return Errors.leaseExist();
      case 'ttl-too-large':
        return Errors.leaseTTLTooLarge();
      case 'not-primary':
        return Errors.notLeader();
    }
  }
  throw err;
}
