// Public surface of the revisioned, watchable key space.
export * from './types.js';
export {
  MvccStore,
  WriteTxn,
  keyString,
  VERSION_OVERHEAD_BYTES,
  type RangeEnd,
  type RevisionEvents,
  type MvccStoreOptions,
  type StoredVersion,
} from './kv.js';
export {
  WatchableStore,
  WatchStream,
  type WatchRequest,
  type WatchResponse,
  type WatchStreamOptions,
  type WatchableStoreOptions,
} from './watch.js';
export { BinaryReader, BinaryWriter } from './binary.js';
export {
  encodeStoredKeyValue,
  parseRevisionKey,
  revisionKey,
  storedVersionSize,
  varintField,
  bytesField,
  writeStoredVersion,
} from './etcd-format.js';
