// Unit tests of the linearizability checker: histories it must reject (stale read, lost write, read of a
// value never written, CAS anomalies, revisions going back), ones it must accept, and a 10,000-operation
// history generated from a real atomic register, checked within seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, type Operation, type Input, type Output } from './index.js';
import { Rng } from '../rng.js';

let nextId = 0;
function op(client: number, call: number, ret: number | undefined, input: Input, output?: Output): Operation {
  return {
    id: nextId++,
    client,
    input,
    output: ret === undefined ? undefined : output,
    call,
    ret: ret ?? Infinity,
  };
}
const put = (key: string, value: string, lease?: string): Input => ({ f: 'put', key, value, lease });
const get = (key: string): Input => ({ f: 'get', key });
const cas = (key: string, expect: number, value: string): Input => ({ f: 'cas', key, expect, value });
const del = (key: string): Input => ({ f: 'del', key });
const verdict = (ops: Operation[]) => checkHistory(ops, { timeoutMs: 10_000 }).verdict;

test('accepts a sequential history', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(1, 2, 3, get('k'), { f: 'get', v: 'a', rev: 2 }),
    op(1, 4, 5, cas('k', 2, 'b'), { f: 'cas', ok: true, rev: 3 }),
    op(1, 6, 7, cas('k', 2, 'c'), { f: 'cas', ok: false, v: 'b', rev: 3 }),
    op(1, 8, 9, del('k'), { f: 'del', deleted: 1 }),
    op(1, 10, 11, get('k'), { f: 'get', v: null, rev: 0 }),
    op(1, 12, 13, del('k'), { f: 'del', deleted: 0 }),
    op(1, 14, 15, cas('k', 0, 'd'), { f: 'cas', ok: true, rev: 5 }),
  ];
  assert.equal(verdict(h), 'ok');
});

test('accepts a read concurrent with a write seeing either value', () => {
  for (const seen of [null, 'a']) {
    const h = [
      op(1, 0, 10, put('k', 'a'), { f: 'put', rev: 2 }),
      op(2, 1, 2, get('k'), { f: 'get', v: seen, rev: seen ? 2 : 0 }),
    ];
    assert.equal(verdict(h), 'ok');
  }
});

test('accepts reads that order concurrent writes differently than their invocations', () => {
  const h = [
    op(1, 0, 10, put('k', 'a'), { f: 'put', rev: 3 }),
    op(2, 1, 10, put('k', 'b'), { f: 'put', rev: 2 }),
    op(3, 11, 12, get('k'), { f: 'get', v: 'a', rev: 3 }),
  ];
  assert.equal(verdict(h), 'ok');
});

test('rejects a stale read', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(1, 2, 3, put('k', 'b'), { f: 'put', rev: 3 }),
    op(2, 4, 5, get('k'), { f: 'get', v: 'a', rev: 2 }),
  ];
  const r = checkHistory(h);
  assert.equal(r.verdict, 'illegal');
  const p = r.partitions[0]!;
  assert.ok(
    p.stuckAt!.some((s) => s.includes('get(k)')),
    JSON.stringify(p),
  );
});

test('rejects a read that goes back after another client saw the newer value', () => {
  const h = [
    op(1, 0, 100, put('k', 'b'), { f: 'put', rev: 3 }),
    op(2, 1, 2, get('k'), { f: 'get', v: 'b', rev: 3 }),
    op(3, 3, 4, get('k'), { f: 'get', v: null, rev: 0 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a lost write', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 5, 6, get('k'), { f: 'get', v: null, rev: 0 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a read of a value never written', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 0, 6, get('k'), { f: 'get', v: 'zzz', rev: 2 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a read with the right value but a wrong mod revision', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, 3, get('k'), { f: 'get', v: 'a', rev: 7 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects two compare-and-swaps that both succeed on the same mod revision', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, 10, cas('k', 2, 'b'), { f: 'cas', ok: true, rev: 3 }),
    op(3, 2, 10, cas('k', 2, 'c'), { f: 'cas', ok: true, rev: 4 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a compare-and-swap that fails although the revision matched', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, 3, cas('k', 2, 'b'), { f: 'cas', ok: false, v: 'a', rev: 2 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a create (expect 0) that succeeds on an existing key', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, 3, cas('k', 0, 'b'), { f: 'cas', ok: true, rev: 3 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a mod revision that goes backwards', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 5 }),
    op(1, 2, 3, put('k', 'b'), { f: 'put', rev: 4 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('rejects a delete that deleted nothing while the key existed', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(1, 2, 3, del('k'), { f: 'del', deleted: 0 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('unknown writes may or may not have happened', () => {
  const seen = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, undefined, put('k', 'b')),
    op(3, 50, 51, get('k'), { f: 'get', v: 'b', rev: 3 }),
  ];
  assert.equal(verdict(seen), 'ok');
  const unseen = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, undefined, put('k', 'b')),
    op(3, 50, 51, get('k'), { f: 'get', v: 'a', rev: 2 }),
  ];
  assert.equal(verdict(unseen), 'ok');
  const unknownCas = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, undefined, cas('k', 2, 'b')),
    op(3, 50, 51, cas('k', 2, 'c'), { f: 'cas', ok: false, v: 'b', rev: 3 }),
  ];
  assert.equal(verdict(unknownCas), 'ok');
});

test('an unknown write cannot be undone once seen', () => {
  const h = [
    op(1, 0, 1, put('k', 'a'), { f: 'put', rev: 2 }),
    op(2, 2, undefined, put('k', 'b')),
    op(3, 50, 51, get('k'), { f: 'get', v: 'b', rev: 3 }),
    op(3, 52, 53, get('k'), { f: 'get', v: 'a', rev: 2 }),
  ];
  assert.equal(verdict(h), 'illegal');
});

test('a revoked lease deletes its key', () => {
  const ok = [
    op(1, 0, 1, put('k', 'a', '7'), { f: 'put', rev: 2 }),
    op(1, 2, 3, { f: 'revoke', key: 'k', lease: '7' }, { f: 'revoke' }),
    op(1, 4, 5, get('k'), { f: 'get', v: null, rev: 0 }),
  ];
  assert.equal(verdict(ok), 'ok');
  const kept = [
    op(1, 0, 1, put('k', 'a', '7'), { f: 'put', rev: 2 }),
    op(1, 2, 3, { f: 'revoke', key: 'k', lease: '7' }, { f: 'revoke' }),
    op(1, 4, 5, get('k'), { f: 'get', v: 'a', rev: 2 }),
  ];
  assert.equal(verdict(kept), 'illegal');
  const reattached = [
    op(1, 0, 1, put('k', 'a', '7'), { f: 'put', rev: 2 }),
    op(1, 2, 3, put('k', 'b'), { f: 'put', rev: 3 }),
    op(1, 4, 5, { f: 'revoke', key: 'k', lease: '7' }, { f: 'revoke' }),
    op(1, 6, 7, get('k'), { f: 'get', v: 'b', rev: 3 }),
  ];
  assert.equal(verdict(reattached), 'ok');
});

test('keys are checked independently', () => {
  const h = [
    op(1, 0, 1, put('a', 'x'), { f: 'put', rev: 2 }),
    op(1, 2, 3, put('b', 'y'), { f: 'put', rev: 3 }),
    op(2, 4, 5, get('a'), { f: 'get', v: 'x', rev: 2 }),
    op(2, 4, 5, get('b'), { f: 'get', v: null, rev: 0 }),
  ];
  const r = checkHistory(h);
  assert.equal(r.verdict, 'illegal');
  assert.deepEqual(
    r.partitions.map((p) => [p.key, p.verdict]),
    [
      ['a', 'ok'],
      ['b', 'illegal'],
    ],
  );
});

test('a search over its budget says unknown instead of hanging', () => {
  // Many concurrent unknown compare-and-swaps on an unknown revision fork the state at every step.
  const h: Operation[] = [op(0, 0, undefined, put('k', 'seed'))];
  for (let c = 1; c <= 60; c++) h.push(op(c, 1, 1000, put('k', `v${c}`), { f: 'put', rev: 100 + c }));
  h.push(op(99, 2000, 2001, get('k'), { f: 'get', v: 'nobody', rev: 1 }));
  const r = checkHistory(h, { maxStepsPerKey: 20_000 });
  assert.equal(r.verdict, 'unknown');
});

/** A linearizable history from a real atomic register: each op takes effect at a random point in its interval. */
export function generateHistory(seed: number, n: number, keys: number, clients: number): Operation[] {
  const rng = new Rng(seed);
  interface Pending {
    op: Operation;
    at: number;
  }
  const state = new Map<string, { v: string | null; rev: number }>();
  let revision = 1;
  let now = 0;
  const ops: Operation[] = [];
  const free = Array.from({ length: clients }, (_, c) => ({ c, t: 0 }));
  const pending: Pending[] = [];
  for (let i = 0; i < n; i++) {
    const slot = free.sort((a, b) => a.t - b.t)[0]!;
    const call = Math.max(slot.t, now) + rng.range(0, 3);
    const ret = call + rng.range(1, 20);
    const at = call + rng.next() * (ret - call);
    const key = `k${rng.int(keys)}`;
    const r = rng.next();
    const input: Input =
      r < 0.3
        ? put(key, `v${i}`)
        : r < 0.6
          ? get(key)
          : r < 0.85
            ? cas(key, rng.chance(0.7) ? (state.get(key)?.rev ?? 0) : rng.range(0, 50), `v${i}`)
            : del(key);
    const o: Operation = { id: i, client: slot.c, input, output: undefined, call, ret };
    pending.push({ op: o, at });
    ops.push(o);
    slot.t = ret + 0.5;
    now = call;
  }
  // Apply in linearization-point order to compute each output.
  for (const { op: o } of pending.sort((a, b) => a.at - b.at)) {
    const s = state.get(o.input.key) ?? { v: null, rev: 0 };
    const inp = o.input;
    if (inp.f === 'put') {
      revision++;
      state.set(inp.key, { v: inp.value, rev: revision });
      o.output = { f: 'put', rev: revision };
    } else if (inp.f === 'get') {
      o.output = { f: 'get', v: s.v, rev: s.rev };
    } else if (inp.f === 'cas') {
      if (inp.expect === s.rev && (inp.expect !== 0 || s.v === null)) {
        revision++;
        state.set(inp.key, { v: inp.value, rev: revision });
        o.output = { f: 'cas', ok: true, rev: revision };
      } else o.output = { f: 'cas', ok: false, v: s.v, rev: s.rev };
    } else if (inp.f === 'del') {
      if (s.v !== null) revision++;
      o.output = { f: 'del', deleted: s.v !== null ? 1 : 0 };
      state.set(inp.key, { v: null, rev: 0 });
    }
  }
  // Some writes time out: their outcome becomes unknown (they did happen, the client just did not hear).
  for (const o of ops) if (o.input.f !== 'get' && rng.chance(0.02)) o.output = undefined;
  return ops;
}

test('checks a 10,000-operation history in seconds, and rejects it once a read is corrupted', () => {
  const h = generateHistory(42, 10_000, 10, 8);
  const t0 = performance.now();
  const r = checkHistory(h, { timeoutMs: 30_000 });
  const ms = performance.now() - t0;
  assert.equal(
    r.verdict,
    'ok',
    JSON.stringify(r.partitions.filter((p) => p.verdict !== 'ok')).slice(0, 2000),
  );
  assert.ok(ms < 10_000, `took ${ms} ms`);
  // Make one read (late, with a known outcome) see an older value of its key.
  const reads = h.filter(
    (o) => o.input.f === 'get' && o.output && (o.output as { v: string | null }).v !== null,
  );
  const victim = reads[Math.floor(reads.length * 0.8)]!;
  const older = h.find(
    (o) => o.input.key === victim.input.key && o.input.f === 'put' && o.output && o.ret < victim.call - 200,
  )!;
  victim.output = {
    f: 'get',
    v: (older.input as { value: string }).value,
    rev: (older.output as { rev: number }).rev,
  };
  assert.equal(checkHistory(h, { timeoutMs: 30_000 }).verdict, 'illegal');
});
