// What every Kubernetes-side component shares: API object types, label and field selectors, name
// validation, and Status constructors. The HTTP API client lives beside it in client.ts.
export * from './types.js';
export * from './labels.js';
export * from './fields.js';
export * from './status.js';
export * from './validation.js';
export * from './meta.js';
