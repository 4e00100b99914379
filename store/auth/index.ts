// Public surface of etcd-style authentication: the replicated AuthStore and the member-local tokens.
export * from './store.js';
export * from './tokens.js';
export * from './errors.js';
