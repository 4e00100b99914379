// Public surface of the store's state machine: request/response types, errors, the applier and the
// Raft entry encoding.
export * from './types.js';
export * from './errors.js';
export { StateMachine, type StateDump, type StateMachineOptions, type ApplyResult } from './state-machine.js';
export { encodeRequest, decodeRequest } from './codec.js';
export {
  LeaseIdGenerator,
  MAX_LEASE_TTL,
  type WatchRequest,
  type WatchResponse,
  type WatchStream,
  type WatchStreamOptions,
} from './reexports.js';
