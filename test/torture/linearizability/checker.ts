// A Wing-Gong linearizability checker with Lowe's improvements, as Porcupine does it: the history is split
// by key (linearizability is compositional), each part searched depth-first over a linked list of call and
// return events, with memoization of (linearized set, possible states). Unknown outcomes complete at
// +infinity, so they "may or may not have happened". A step and time budget turns a hopeless search into
// an "unknown" verdict instead of a hang.
import { ABSENT, describe, step, stateKey, type Input, type KeyState, type Output } from './model.js';

export interface Operation {
  id: number;
  client: number;
  input: Input;
  /** undefined = unknown outcome (time-out, connection lost): completes at +infinity. */
  output: Output | undefined;
  /** Invoke and completion times (monotonic, any unit); `ret` is ignored when the outcome is unknown. */
  call: number;
  ret: number;
}

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface PartitionResult {
  key: string;
  verdict: Verdict;
  operations: number;
  steps: number;
  /** For 'illegal': the longest linearizable prefix found and the operations none of which could follow it. */
  linearized?: string[];
  stuckAt?: string[];
  reason?: string;
}

export interface CheckResult {
  verdict: Verdict;
  partitions: PartitionResult[];
  ms: number;
}

export interface CheckOptions {
  /** Search steps per key before giving up with 'unknown'. */
  maxStepsPerKey?: number;
  /** Wall-clock budget for the whole check. */
  timeoutMs?: number;
}

interface Entry {
  op: Operation;
  isCall: boolean;
  time: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Splits by key; the ops of each key are checked on their own. */
export function partitionByKey(ops: Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    let list = byKey.get(op.input.key);
    if (!list) byKey.set(op.input.key, (list = []));
    list.push(op);
  }
  return byKey;
}

export function checkHistory(ops: Operation[], opts: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const deadline = started + (opts.timeoutMs ?? 60_000);
  const partitions: PartitionResult[] = [];
  for (const [key, list] of partitionByKey(ops)) {
    partitions.push(checkKey(key, list, opts.maxStepsPerKey ?? 5_000_000, deadline));
  }
  const verdict: Verdict = partitions.some((p) => p.verdict === 'illegal')
    ? 'illegal'
    : partitions.some((p) => p.verdict === 'unknown')
      ? 'unknown'
      : 'ok';
  return { verdict, partitions, ms: performance.now() - started };
}

function buildList(ops: Operation[]): Entry {
  const entries: Entry[] = [];
  for (const op of ops) {
    const ret = op.output === undefined ? Infinity : op.ret;
    if (!(ret >= op.call)) throw new Error(`operation ${op.id} completes before it is invoked`);
    const call: Entry = {
      op,
      isCall: true,
      time: op.call,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const back: Entry = { op, isCall: false, time: ret, match: undefined, prev: undefined, next: undefined };
    call.match = back;
    entries.push(call, back);
  }
  // At equal times calls go first: touching operations count as concurrent, which never rejects a good history.
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry = {
    op: undefined as never,
    isCall: false,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function statesKey(states: KeyState[]): string {
  return states.map(stateKey).sort().join('|');
}

function stepAll(states: KeyState[], op: Operation): KeyState[] {
  const out = new Map<string, KeyState>();
  for (const s of states) for (const n of step(s, op.input, op.output)) out.set(stateKey(n), n);
  return [...out.values()];
}

function checkKey(key: string, ops: Operation[], maxSteps: number, deadline: number): PartitionResult {
  const index = new Map<Operation, number>();
  ops.forEach((op, i) => index.set(op, i));
  const known = ops.filter((o) => o.output !== undefined).length;
  const head = buildList(ops);
  const words = Math.ceil(ops.length / 32) || 1;
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: { entry: Entry; states: KeyState[] }[] = [];
  let states: KeyState[] = [ABSENT];
  let knownDone = 0;
  let steps = 0;
  let best: Operation[] = [];
  let bestStuck: Entry | undefined;
  let entry = head.next;
  const result = (verdict: Verdict, extra: Partial<PartitionResult> = {}): PartitionResult => ({
    key,
    verdict,
    operations: ops.length,
    steps,
    ...extra,
  });
  while (entry) {
    if (knownDone === known) return result('ok');
    if (++steps > maxSteps || (steps % 4096 === 0 && performance.now() > deadline)) {
      return result('unknown', { reason: `search budget spent after ${steps} steps` });
    }
    if (entry.isCall) {
      const next = stepAll(states, entry.op);
      if (next.length > 0) {
        const i = index.get(entry.op)!;
        linearized[i >>> 5]! ^= 1 << (i & 31);
        const k = `${Buffer.from(linearized.buffer).toString('base64')}#${statesKey(next)}`;
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ entry, states });
          states = next;
          if (entry.op.output !== undefined) knownDone++;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[i >>> 5]! ^= 1 << (i & 31);
      }
      entry = entry.next;
    } else {
      // A return whose call is still pending: nothing after it can be linearized first, so backtrack.
      if (stack.length > best.length) {
        best = stack.map((s) => s.entry.op);
        bestStuck = entry;
      }
      const top = stack.pop();
      if (!top) {
        return result('illegal', {
          linearized: best.map((o) => `#${o.id} c${o.client} ${describe(o.input, o.output)}`),
          stuckAt: stuckOps(head, bestStuck, ops, best),
          reason:
            'no linearization: see the longest linearizable prefix and the operations that cannot follow it',
        });
      }
      const i = index.get(top.entry.op)!;
      linearized[i >>> 5]! ^= 1 << (i & 31);
      if (top.entry.op.output !== undefined) knownDone--;
      states = top.states;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return result('ok');
}

/** The operations that were candidates right after the best prefix: everything invoked before the blocking return. */
function stuckOps(_head: Entry, stuck: Entry | undefined, ops: Operation[], best: Operation[]): string[] {
  if (!stuck) return [];
  const done = new Set(best);
  return ops
    .filter((o) => !done.has(o) && o.call <= stuck.time)
    .map(
      (o) =>
        `#${o.id} c${o.client} [${o.call}, ${o.output === undefined ? 'inf' : o.ret}] ${describe(o.input, o.output)}`,
    );
}
