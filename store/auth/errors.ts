// etcd 3.4's authentication errors, with the gRPC codes and messages etcdctl prints
// (etcdserver/api/v3rpc/rpctypes). Two are passed through by etcd unmapped, as UNKNOWN with the auth
// package's own text, and are kept that way: etcdctl shows them as such.
import { EtcdError, GrpcCode as C } from '../apply/errors.js';

const e = (code: number, message: string) => () => new EtcdError(code, message);

export const AuthErrors = {
  userEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  authFailed: e(C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  noPasswordUser: e(C.UNKNOWN, 'auth: authentication failed, password was given for no password user'),
  invalidAuthToken: e(C.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  permissionDenied: e(C.PERMISSION_DENIED, 'etcdserver: permission denied'),
  /** What Maintenance calls (snapshot, defragment, hash, move-leader) answer a user without the root role. */
  adminPermissionDenied: e(C.UNKNOWN, 'auth: permission denied'),
  userAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  rootUserNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  rootRoleNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  permissionNotGranted: e(C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  roleNotGranted: e(C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  invalidAuthMgmt: e(C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  authNotEnabled: e(C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  authOldRevision: e(C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),
} as const;
