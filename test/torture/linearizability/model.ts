// The key-value model the torture histories are checked against: one key's value, mod revision and lease,
// with etcd's operations projected onto that key. Steps return every state the operation may lead to, so
// unknown outcomes (a time-out: "may or may not have happened") fork the state instead of guessing.

/** The state of one key. `rev` is the key's mod_revision: 0 when absent, -1 when present but not yet known. */
export interface KeyState {
  v: string | null;
  rev: number;
  /** The lease the key is attached to ('0' for none). */
  lease: string;
}

export const ABSENT: KeyState = Object.freeze({ v: null, rev: 0, lease: '0' });

/** What a client asked for, projected onto one key. */
export type Input =
  | { f: 'put'; key: string; value: string; lease?: string }
  | { f: 'get'; key: string }
  /** The Kubernetes update: Txn(If mod_revision(key) == expect, Then put, Else range). expect 0 = create. */
  | { f: 'cas'; key: string; expect: number; value: string }
  | { f: 'del'; key: string }
  /** A lease revoke, seen from one key: it deletes the key if the key is attached to the lease. */
  | { f: 'revoke'; key: string; lease: string };

/** What the store answered; `undefined` = unknown (the request timed out or the connection was lost). */
export type Output =
  | { f: 'put'; rev: number }
  | { f: 'get'; v: string | null; rev: number }
  | { f: 'cas'; ok: true; rev: number }
  | { f: 'cas'; ok: false; v: string | null; rev: number }
  | { f: 'del'; deleted: number }
  | { f: 'revoke' };

/** Does the key's mod_revision equal `expect`? true, false, or 'maybe' when the state's revision is unknown. */
function compareModRevision(s: KeyState, expect: number): boolean | 'maybe' {
  if (expect === 0) return s.v === null;
  if (s.v === null) return false;
  if (s.rev === -1) return 'maybe';
  return s.rev === expect;
}

/** A read observed (v, rev): consistent with the state? Returns the refined state or undefined. */
function observe(s: KeyState, v: string | null, rev: number): KeyState | undefined {
  if (s.v !== v) return undefined;
  if (v === null) return rev === 0 ? s : undefined;
  if (s.rev !== -1 && s.rev !== rev) return undefined;
  return s.rev === rev ? s : { ...s, rev };
}

/** A write made the key's mod_revision `rev`: it must be later than the revision it replaced. */
function newer(s: KeyState, rev: number): boolean {
  return s.rev === -1 || rev > s.rev;
}

export function step(s: KeyState, input: Input, out: Output | undefined): KeyState[] {
  switch (input.f) {
    case 'put': {
      const lease = input.lease ?? '0';
      if (!out) return [{ v: input.value, rev: -1, lease }];
      if (out.f !== 'put' || !newer(s, out.rev)) return [];
      return [{ v: input.value, rev: out.rev, lease }];
    }
    case 'get': {
      if (!out) return [s];
      if (out.f !== 'get') return [];
      const r = observe(s, out.v, out.rev);
      return r ? [r] : [];
    }
    case 'cas': {
      const cmp = compareModRevision(s, input.expect);
      const applied: KeyState = { v: input.value, rev: -1, lease: '0' };
      if (!out) {
        if (cmp === true) return [applied];
        if (cmp === false) return [s];
        return [applied, s];
      }
      if (out.f !== 'cas') return [];
      if (out.ok) {
        if (cmp === false || !newer(s, out.rev)) return [];
        return [{ ...applied, rev: out.rev }];
      }
      if (cmp === true) return [];
      const r = observe(s, out.v, out.rev);
      return r ? [r] : [];
    }
    case 'del': {
      if (!out) return [ABSENT];
      if (out.f !== 'del') return [];
      if (out.deleted === 1) return s.v !== null ? [ABSENT] : [];
      return s.v === null ? [s] : [];
    }
    case 'revoke': {
      if (s.lease !== input.lease) return [s];
      return out ? [ABSENT] : [ABSENT, s];
    }
  }
}

export function stateKey(s: KeyState): string {
  return `${s.rev}/${s.lease}/${s.v === null ? '-' : JSON.stringify(s.v)}`;
}

export function describe(input: Input, out: Output | undefined): string {
  const o = out === undefined ? '?' : JSON.stringify(out);
  switch (input.f) {
    case 'put':
      return `put(${input.key}, ${input.value}${input.lease ? `, lease ${input.lease}` : ''}) -> ${o}`;
    case 'get':
      return `get(${input.key}) -> ${o}`;
    case 'cas':
      return `cas(${input.key}, mod_revision == ${input.expect}, ${input.value}) -> ${o}`;
    case 'del':
      return `del(${input.key}) -> ${o}`;
    case 'revoke':
      return `revoke(lease ${input.lease}) on ${input.key} -> ${o}`;
  }
}
