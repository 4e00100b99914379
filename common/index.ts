// Shared plumbing for every process: a levelled logger.
export { Logger, parseLogLevel, type LogLevel } from './log.js';
