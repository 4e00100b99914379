// kubectl-lite's reusable pieces: argument parsing, the three-way merge behind apply, and the printers.
export { parseArgs, type Args } from './args.js';
export { threeWayMergePatch, LAST_APPLIED } from './apply.js';
export { humanDuration, formatTable } from './printer.js';
export { rolloutMessage } from './rollout.js';
