// Public surface of the lessor.
export * from './lessor.js';
