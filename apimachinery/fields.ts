// Field selectors (?fieldSelector=spec.nodeName=n1,status.phase!=Running): parsing, the fields each kind
// exposes to them, and matching.
import type { KubeObject } from './types.js';

export interface FieldRequirement {
  field: string;
  operator: '=' | '==' | '!=';
  value: string;
}

export class FieldSelectorParseError extends Error {
  override readonly name = 'FieldSelectorParseError';
}

export class FieldSelector {
  constructor(readonly requirements: readonly FieldRequirement[]) {}

  static everything(): FieldSelector {
    return new FieldSelector([]);
  }

  empty(): boolean {
    return this.requirements.length === 0;
  }

  /** `fields` is the object's field set (see objectFields); a field it lacks compares as "". */
  matches(fields: Record<string, string>): boolean {
    return this.requirements.every((r) => {
      const v = fields[r.field] ?? '';
      return r.operator === '!=' ? v !== r.value : v === r.value;
    });
  }

  /** The value this selector pins `field` to with = or ==, if any (e.g. metadata.name for a watch of one object). */
  requiredValue(field: string): string | undefined {
    return this.requirements.find((r) => r.field === field && r.operator !== '!=')?.value;
  }

  toString(): string {
    return this.requirements.map((r) => `${r.field}${r.operator}${escapeValue(r.value)}`).join(',');
  }
}

export function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/=/g, '\\=');
}

const MAX_FIELD_SELECTOR_LENGTH = 64 * 1024;

/** Parses `a=b,c!=d`; values may escape `\`, `,` and `=` with a backslash. */
export function parseFieldSelector(input: string): FieldSelector {
  if (input.length > MAX_FIELD_SELECTOR_LENGTH)
    throw new FieldSelectorParseError(`field selector longer than ${MAX_FIELD_SELECTOR_LENGTH} bytes`);
  if (input.trim() === '') return FieldSelector.everything();
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === '\\' && i + 1 < input.length) {
      cur += c + input[i + 1];
      i++;
    } else if (c === ',') {
      terms.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  terms.push(cur);
  const reqs: FieldRequirement[] = [];
  for (const term of terms) {
    const m = /^([^=!\\]+?)\s*(==|!=|=)(.*)$/s.exec(term);
    if (!m) throw new FieldSelectorParseError(`invalid selector: '${input}'; can't understand '${term}'`);
    const field = m[1].trim();
    const op = m[2] as FieldRequirement['operator'];
    const raw = m[3];
    let value = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (c === '\\') {
        const n = raw[i + 1];
        if (n !== '\\' && n !== ',' && n !== '=') {
          throw new FieldSelectorParseError(`invalid field selector: invalid escape sequence in '${term}'`);
        }
        value += n;
        i++;
      } else if (c === '=') {
        throw new FieldSelectorParseError(`invalid field selector: unescaped '=' in value of '${term}'`);
      } else {
        value += c;
      }
    }
    reqs.push({ field, operator: op, value });
  }
  return new FieldSelector(reqs);
}

const COMMON = ['metadata.name', 'metadata.namespace'];

/** The fields each kind accepts in a field selector; others are a 400 "field label not supported". */
export const SUPPORTED_FIELDS: Record<string, readonly string[]> = {
  Pod: [
    ...COMMON,
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  Node: [...COMMON, 'spec.unschedulable'],
  Namespace: [...COMMON, 'status.phase'],
  Secret: [...COMMON, 'type'],
  ReplicaSet: [...COMMON, 'status.replicas'],
  Event: [
    ...COMMON,
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
};

export function supportedFields(kind: string): readonly string[] {
  return SUPPORTED_FIELDS[kind] ?? COMMON;
}

/** Returns the first field in the selector this kind does not support, if any. */
export function unsupportedField(kind: string, sel: FieldSelector): string | undefined {
  const ok = supportedFields(kind);
  return sel.requirements.find((r) => !ok.includes(r.field))?.field;
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The field set of an object of `kind`: the values field selectors compare against. */
export function objectFields(kind: string, obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of supportedFields(kind)) {
    if (kind === 'Event' && f === 'source') {
      const src = (obj as { source?: { component?: string } }).source?.component;
      out[f] = str(src || (obj as { reportingComponent?: string }).reportingComponent);
    } else if (f === 'spec.unschedulable' || f === 'spec.hostNetwork') {
      out[f] = String(Boolean(at(obj, f)));
    } else {
      out[f] = str(at(obj, f));
    }
  }
  return out;
}

export function fieldSelectorMatches(kind: string, sel: FieldSelector, obj: KubeObject): boolean {
  return sel.empty() || sel.matches(objectFields(kind, obj));
}
