// Shared plumbing for every process: a levelled logger, the node flags a bin/ executable asks for, and Go
// durations as flags spell them.
export { Logger, parseLogLevel, type LogLevel } from './log.js';
export { nodeFlagsOf } from './nodeflags.js';
export { parseGoDuration } from './duration.js';
