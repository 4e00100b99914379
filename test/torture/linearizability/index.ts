// Public surface of the linearizability checker: the key-value model and the Wing-Gong/Porcupine search.
export {
  checkHistory,
  partitionByKey,
  type Operation,
  type CheckResult,
  type PartitionResult,
  type Verdict,
  type CheckOptions,
} from './checker.js';
export { step, describe, ABSENT, type Input, type Output, type KeyState } from './model.js';
