// Label selectors: the string syntax of ?labelSelector= and `kubectl -l` (=, ==, !=, in, notin, exists,
// !key, gt/lt), the LabelSelector object of Deployments and ReplicaSets, and matching against labels.
import type { LabelSelector } from './types.js';
import { isQualifiedName, isValidLabelValue } from './validation.js';

export type Operator = 'in' | 'notin' | 'exists' | '!' | '=' | '==' | '!=' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: Operator;
  /** Sorted; one value for =, ==, !=, gt, lt; none for exists and !. */
  values: string[];
}

/** A parsed selector. An empty selector matches everything; `nothing()` matches nothing. */
export class Selector {
  private constructor(
    readonly requirements: readonly Requirement[],
    private readonly matchesNothing: boolean,
  ) {}

  static everything(): Selector {
    return new Selector([], false);
  }

  static nothing(): Selector {
    return new Selector([], true);
  }

  static of(requirements: Requirement[]): Selector {
    const sorted = [...requirements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return new Selector(sorted, false);
  }

  empty(): boolean {
    return !this.matchesNothing && this.requirements.length === 0;
  }

  matches(labels: Record<string, string> | undefined): boolean {
    if (this.matchesNothing) return false;
    const l = labels ?? {};
    return this.requirements.every((r) => requirementMatches(r, l));
  }

  /** The canonical string form (what kubectl would print), parseable by parseSelector. */
  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }

  /** The single value required for `key` by = or ==, if any: lets a store narrow a scan. */
  requiredValue(key: string): string | undefined {
    const r = this.requirements.find((q) => q.key === key && (q.operator === '=' || q.operator === '=='));
    return r?.values[0];
  }
}

export class SelectorParseError extends Error {
  override readonly name = 'SelectorParseError';
}

function requirementMatches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(v!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      if (!Number.isInteger(n)) return false;
      return r.operator === 'gt' ? n > bound : n < bound;
    }
  }
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${r.values.join(',')})`;
    case 'gt':
      return `${r.key}>${r.values[0]}`;
    case 'lt':
      return `${r.key}<${r.values[0]}`;
    default:
      return `${r.key}${r.operator}${r.values[0]}`;
  }
}

/** Builds and checks one requirement; throws SelectorParseError with Kubernetes-like wording. */
export function newRequirement(key: string, operator: Operator, values: string[]): Requirement {
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) throw new SelectorParseError(`key: Invalid value: "${key}": ${keyErrs.join('; ')}`);
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0)
        throw new SelectorParseError(
          `values: Invalid value: for 'in', 'notin' operators, values set can't be empty`,
        );
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1)
        throw new SelectorParseError(
          `values: Invalid value: exact-match compatibility requires one single value`,
        );
      break;
    case 'exists':
    case '!':
      if (values.length !== 0)
        throw new SelectorParseError(
          `values: Invalid value: values set must be empty for exists and does not exist`,
        );
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1 || !/^-?\d+$/.test(values[0]))
        throw new SelectorParseError(
          `values: Invalid value: for 'Gt', 'Lt' operators, exactly one integer value is required`,
        );
      break;
  }
  if (operator !== 'gt' && operator !== 'lt') {
    for (const v of values) {
      const errs = isValidLabelValue(v);
      if (errs.length)
        throw new SelectorParseError(`values[0][${key}]: Invalid value: "${v}": ${errs.join('; ')}`);
    }
  }
  return { key, operator, values: [...new Set(values)].sort() };
}

// ---- string syntax --------------------------------------------------------------------------------

type Tok =
  | { t: 'id'; v: string }
  | { t: 'op'; v: '=' | '==' | '!=' | '!' | '>' | '<' }
  | { t: '('; v: '(' }
  | { t: ')'; v: ')' }
  | { t: ','; v: ',' };

const MAX_SELECTOR_LENGTH = 64 * 1024;

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: c, v: c } as Tok);
      i++;
    } else if (c === '=' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '==' });
      i += 2;
    } else if (c === '!' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '!=' });
      i += 2;
    } else if (c === '=' || c === '!' || c === '>' || c === '<') {
      out.push({ t: 'op', v: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\n\r(),=!<>'.includes(s[j])) j++;
      out.push({ t: 'id', v: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/**
 * Parses the selector string syntax, e.g. `app=web,tier!=db,env in (prod,qa),!canary,release`.
 * An empty string selects everything.
 */
export function parseSelector(input: string): Selector {
  if (input.length > MAX_SELECTOR_LENGTH)
    throw new SelectorParseError(`selector longer than ${MAX_SELECTOR_LENGTH} bytes`);
  const toks = tokenize(input);
  if (toks.length === 0) return Selector.everything();
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const fail = (what: string): never => {
    const at = peek();
    throw new SelectorParseError(
      `unable to parse requirement: ${what}${at ? ` at "${at.v}"` : ' at end of input'} in selector "${input}"`,
    );
  };
  const reqs: Requirement[] = [];
  for (;;) {
    let t = peek();
    if (!t) fail('found end of input, expected a key');
    if (t!.t === 'op' && t!.v === '!') {
      p++;
      t = peek();
      if (!t || t.t !== 'id') fail('expected a key after "!"');
      p++;
      reqs.push(newRequirement((t as { v: string }).v, '!', []));
    } else if (t!.t === 'id') {
      const key = t!.v;
      p++;
      const next = peek();
      if (!next || next.t === ',') {
        reqs.push(newRequirement(key, 'exists', []));
      } else if (next.t === 'id' && (next.v === 'in' || next.v === 'notin')) {
        p++;
        if (peek()?.t !== '(') fail(`expected "(" after ${next.v}`);
        p++;
        const values: string[] = [];
        // A set may hold empty values: "in (a,,b)" and "in ()" are legal syntax.
        let expectValue = true;
        for (;;) {
          const v = peek();
          if (!v) fail('expected ")"');
          if (v!.t === ')') {
            if (expectValue && values.length > 0) values.push('');
            p++;
            break;
          }
          if (v!.t === ',') {
            if (expectValue) values.push('');
            expectValue = true;
            p++;
            continue;
          }
          if (v!.t !== 'id' || !expectValue) fail('expected a value or ","');
          values.push(v!.v);
          expectValue = false;
          p++;
        }
        reqs.push(newRequirement(key, next.v as 'in' | 'notin', values));
      } else if (next.t === 'op') {
        p++;
        const v = peek();
        let value = '';
        if (v && v.t === 'id') {
          value = v.v;
          p++;
        } else if (next.v === '>' || next.v === '<') {
          fail('expected an integer');
        }
        const op: Operator = next.v === '>' ? 'gt' : next.v === '<' ? 'lt' : (next.v as Operator);
        if (next.v === '!') fail('unexpected "!"');
        reqs.push(newRequirement(key, op, [value]));
      } else {
        fail('expected an operator');
      }
    } else {
      fail('expected a key');
    }
    const sep = peek();
    if (!sep) break;
    if (sep.t !== ',') fail('expected ","');
    p++;
  }
  return Selector.of(reqs);
}

/**
 * Converts a LabelSelector object (Deployment.spec.selector) to a Selector. As in Kubernetes, a nil
 * selector matches nothing and an empty one ({}) matches everything.
 */
export function selectorFromLabelSelector(ls: LabelSelector | null | undefined): Selector {
  if (ls === null || ls === undefined) return Selector.nothing();
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {})) reqs.push(newRequirement(k, '=', [v]));
  for (const e of ls.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
        reqs.push(newRequirement(e.key, 'in', e.values ?? []));
        break;
      case 'NotIn':
        reqs.push(newRequirement(e.key, 'notin', e.values ?? []));
        break;
      case 'Exists':
        reqs.push(newRequirement(e.key, 'exists', []));
        break;
      case 'DoesNotExist':
        reqs.push(newRequirement(e.key, '!', []));
        break;
      default:
        throw new SelectorParseError(`"${String(e.operator)}" is not a valid label selector operator`);
    }
  }
  return Selector.of(reqs);
}

/** A selector that matches exactly these labels (a Service's spec.selector). */
export function selectorFromSet(set: Record<string, string> | undefined): Selector {
  if (!set) return Selector.everything();
  return Selector.of(Object.entries(set).map(([k, v]) => newRequirement(k, '=', [v])));
}

/** The string form kubectl shows for a LabelSelector (`app=web,tier in (a,b)`). */
export function formatLabelSelector(ls: LabelSelector | null | undefined): string {
  if (ls === null || ls === undefined) return '<none>';
  const s = selectorFromLabelSelector(ls).toString();
  return s === '' ? '<none>' : s;
}

/** Convenience: does this LabelSelector object select these labels? */
export function labelSelectorMatches(
  ls: LabelSelector | null | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  return selectorFromLabelSelector(ls).matches(labels);
}
