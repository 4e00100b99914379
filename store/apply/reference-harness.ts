// Test support: sends one request to real etcd (etcd3 client) or to a StateMachine and reduces both
// answers to the same canonical form (plain strings, proto defaults dropped), so they can be compared.
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { decodeRequest, encodeRequest, type RaftRequest, type RangeRequest } from './index.js';
import type { StateMachine } from './state-machine.js';

export type Step = { name: string } & (RaftRequest | { range: RangeRequest });

// --- canonical forms: both sides reduced to plain strings, proto defaults dropped ---

export function canon(v: unknown, key = ''): unknown {
  if (v === null || v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v.length === 0 ? undefined : v.toString('latin1');
  if (typeof v === 'bigint' || typeof v === 'number') return v === 0 || v === 0n ? undefined : String(v);
  if (typeof v === 'string') {
    if (key === 'response' || key === 'request') return undefined; // oneof discriminators of the etcd3 client
    return v === '0' || v === '' ? undefined : v;
  }
  if (typeof v === 'boolean') return v ? true : undefined;
  if (Array.isArray(v)) {
    const out = v.map((x) => canon(x));
    return out.length === 0 ? undefined : out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const ck = snake(k);
    if (ck === 'cluster_id' || ck === 'member_id' || ck === 'raft_term') continue;
    const c = canon(x, ck);
    if (c !== undefined) out[ck] = c;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function snake(k: string): string {
  return /^[A-Z]+$/.test(k) ? k : k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** Our request shape to the etcd3 client's (snake_case, int64 as strings). */
export function toClient(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(toClient);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[snake(k)] = toClient(x);
    return out;
  }
  return v;
}

export function errText(err: any): string {
  const m = /etcdserver: [^\n]*/.exec(String(err?.details ?? err?.message ?? err));
  // The etcd3 client appends its own words to the lease error.
  return m ? m[0].replace(/ is expired or revoked$/, '') : String(err);
}

/** Our answer: through validate, the entry encoding and apply (or range for reads), canonicalized. */
export function askOurs(sm: StateMachine, nextIndex: () => number, step: Step): unknown {
  if ('range' in step) {
    try {
      return { ok: canon(sm.range(step.range)) };
    } catch (err) {
      return { error: errText(err) };
    }
  }
  const req = Object.fromEntries(Object.entries(step).filter(([k]) => k !== 'name')) as RaftRequest;
  const err = sm.validate(req);
  if (err) return { error: err.message };
  // Through the Raft entry encoding, as the server does.
  const res = sm.apply(nextIndex(), decodeRequest(encodeRequest(req)));
  if (res.kind === 'error') return { error: res.error.message };
  assert.equal(res.kind, 'response');
  return { ok: canon(res.response) };
}

/** etcd's answer to the same step, canonicalized. */
export async function askEtcd(client: Etcd3, step: Step): Promise<unknown> {
  try {
    let resp: unknown;
    if ('range' in step) resp = await client.kv.range(toClient(step.range) as any);
    else if ('put' in step) resp = await client.kv.put(toClient(step.put) as any);
    else if ('deleteRange' in step) resp = await client.kv.deleteRange(toClient(step.deleteRange) as any);
    else if ('txn' in step) resp = await client.kv.txn(toClient(step.txn) as any);
    else if ('compaction' in step) resp = await client.kv.compact(toClient(step.compaction) as any);
    else if ('leaseGrant' in step)
      resp = await client.leaseClient.leaseGrant(toClient(step.leaseGrant) as any);
    else if ('leaseRevoke' in step)
      resp = await client.leaseClient.leaseRevoke(toClient(step.leaseRevoke) as any);
    else throw new Error(`no client call for ${step.name}`);
    return { ok: canon(resp) };
  } catch (err) {
    return { error: errText(err) };
  }
}
