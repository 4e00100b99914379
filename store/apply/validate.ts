// The request checks etcd's API layer makes before proposing (etcd 3.4 v3rpc/key.go): empty keys,
// ignore_* misuse, txn op counts and the duplicate-key rule across nested txns.
import { EtcdError, Errors } from './errors.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './types.js';

export function checkRange(r: RangeRequest): EtcdError | undefined {
  if (!r.key || r.key.length === 0) return Errors.emptyKey();
  return undefined;
}

export function checkPut(r: PutRequest): EtcdError | undefined {
  if (!r.key || r.key.length === 0) return Errors.emptyKey();
  if (r.ignoreValue && r.value && r.value.length !== 0) return Errors.valueProvided();
  if (r.ignoreLease && r.lease && r.lease !== 0n) return Errors.leaseProvided();
  return undefined;
}

export function checkDelete(r: DeleteRangeRequest): EtcdError | undefined {
  if (!r.key || r.key.length === 0) return Errors.emptyKey();
  return undefined;
}

/** checkTxnRequest then the duplicate-key rule on both branches, in etcd's order. */
export function checkTxn(r: TxnRequest, maxTxnOps: number): EtcdError | undefined {
  return (
    checkTxnOps(r, maxTxnOps) ?? checkIntervals(r.success ?? []).err ?? checkIntervals(r.failure ?? []).err
  );
}

function checkTxnOps(r: TxnRequest, maxTxnOps: number): EtcdError | undefined {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps) return Errors.tooManyOps();
  for (const c of compare) if (!c.key || c.key.length === 0) return Errors.emptyKey();
  // A nested txn gets what is left of the budget, as etcd does.
  for (const u of success) {
    const err = checkOp(u, maxTxnOps - opc);
    if (err) return err;
  }
  for (const u of failure) {
    const err = checkOp(u, maxTxnOps - opc);
    if (err) return err;
  }
  return undefined;
}

function checkOp(u: RequestOp, maxTxnOps: number): EtcdError | undefined {
  if ('requestRange' in u && u.requestRange) return checkRange(u.requestRange);
  if ('requestPut' in u && u.requestPut) return checkPut(u.requestPut);
  if ('requestDeleteRange' in u && u.requestDeleteRange) return checkDelete(u.requestDeleteRange);
  if ('requestTxn' in u && u.requestTxn) return checkTxnOps(u.requestTxn, maxTxnOps);
  // An empty op: etcd answers "key not found".
  return Errors.keyNotFound();
}

/**
 * A [begin, end) interval of keys as latin1 strings; end '' means unbounded (only from merged children).
 * A delete with range_end "\0" makes the interval ["k", "\0"), which is empty: etcd 3.4 does not treat
 * from-key deletes as conflicting, and neither do we.
 */
interface Interval {
  begin: string;
  end: string;
}

function pointIn(k: string, iv: Interval): boolean {
  return k >= iv.begin && (iv.end === '' || k < iv.end);
}

function intersects(dels: Interval[], k: string): boolean {
  for (const iv of dels) if (pointIn(k, iv)) return true;
  return false;
}

/**
 * No key may be put twice, or put and deleted, on one execution path of a txn (nested txns included;
 * the then/else branches of one nested txn may each put the same key). Deletes may overlap each other.
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[]; err?: EtcdError } {
  const dels: Interval[] = [];
  for (const u of reqs) {
    if (!('requestDeleteRange' in u) || !u.requestDeleteRange) continue;
    const d = u.requestDeleteRange;
    const begin = d.key.toString('latin1');
    if (d.rangeEnd && d.rangeEnd.length !== 0) dels.push({ begin, end: d.rangeEnd.toString('latin1') });
    else dels.push({ begin, end: begin + '\0' });
  }
  const puts = new Set<string>();
  const dup = () => ({ puts, dels, err: Errors.duplicateKey() });
  for (const u of reqs) {
    if (!('requestTxn' in u) || !u.requestTxn) continue;
    const then = checkIntervals(u.requestTxn.success ?? []);
    if (then.err) return { puts, dels, err: then.err };
    const els = checkIntervals(u.requestTxn.failure ?? []);
    if (els.err) return { puts, dels, err: els.err };
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) return dup();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) return dup();
      if (intersects(dels, k)) return dup();
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const u of reqs) {
    if (!('requestPut' in u) || !u.requestPut) continue;
    const k = u.requestPut.key.toString('latin1');
    if (puts.has(k) || intersects(dels, k)) return dup();
    puts.add(k);
  }
  return { puts, dels };
}
