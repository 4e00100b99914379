// What the server and gRPC layer need from mvcc and lease, re-exported so they import one component.
export { LeaseIdGenerator, MAX_LEASE_TTL } from '../lease/index.js';
export type { WatchRequest, WatchResponse, WatchStream, WatchStreamOptions } from '../mvcc/index.js';
