// Public surface of the Raft consensus core.
export * from './types.js';
