// Public surface of the etcd v3 gRPC layer: the services, the backend contract they need, the protos.
export { EtcdGrpcServer } from './services.js';
export type { EtcdBackend, WatchStreamLike, Header, MemberInfo, NodeStatus, Msg } from './backend.js';
export { loadProtos, protoDir, LOADER_OPTIONS, type EtcdProtos } from './proto.js';
export { fromWire, toWire } from './convert.js';
export { RpcError, ServerErrors, isCodedError, toServiceError, type CodedError } from './status.js';
export { prefixEnd } from './concurrency.js';
export { rawClient, type RawEtcdClient } from './client.js';
