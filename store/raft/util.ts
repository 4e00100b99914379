// Small helpers shared by the log, the storage and the node: entry sizes, size limits, assertions.
import type { Entry } from './types.js';

/** Approximate encoded size: payload plus a fixed header (term, index, type). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}

/** Payload bytes only: what counts against maxUncommittedEntriesSize (an empty no-op is free). */
export function payloadSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.byteLength;
  return n;
}

/** The longest prefix of ents within maxSize bytes, but always at least one entry so that progress is made. */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0]!);
  let i = 1;
  for (; i < ents.length; i++) {
    size += entrySize(ents[i]!);
    if (size > maxSize) break;
  }
  return i === ents.length ? ents : ents.slice(0, i);
}

/** Invariant violations crash loudly: continuing would risk serving wrong data. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) fail(msg);
}

/** As assert(false, msg); for messages built from values, so that they are built only on failure. */
export function fail(msg: string): never {
  throw new Error(`raft invariant violated: ${msg}`);
}

export const NO_LIMIT = Number.MAX_SAFE_INTEGER;
