// Shared plumbing for every process: a levelled logger, and the node flags a bin/ executable asks for.
export { Logger, parseLogLevel, type LogLevel } from './log.js';
export { nodeFlagsOf } from './nodeflags.js';
