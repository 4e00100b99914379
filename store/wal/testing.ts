// Helpers shared by this folder's tests and its crash-test child: a seeded PRNG, entry makers, a logger
// that remembers what it was told.
import type { Entry } from '../raft/index.js';
import type { WALLogger } from './wal.js';

/** mulberry32: small, fast, good enough to drive randomized tests from a printed seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The payload of entry `index` at `term`: derived from both, so a reader can check it without a copy. */
export function entryData(index: number, term: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function makeEntries(first: number, count: number, term: number, size = 32): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ index: first + i, term, type: 0, data: entryData(first + i, term, size) });
  }
  return out;
}

export class RecordingLogger implements WALLogger {
  readonly lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  info(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => `${l.msg} ${JSON.stringify(l.fields)}`);
  }
}
