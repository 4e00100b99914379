// Validation of incoming objects: the OpenAPI schema through ajv (types, required, enums, unknown fields)
// and the semantic rules Kubernetes checks in code (DNS-1123 names, label syntax, selector vs template...).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import {
  type FieldError,
  required,
  invalidValue,
  notSupported,
  duplicate,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  selectorFromLabelSelector,
  type LabelSelector,
} from '../apimachinery/index.js';
import { DEFINITIONS } from './schemas.js';

type Obj = Record<string, unknown>;
const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ $id: 'k8s', definitions: DEFINITIONS });
const compiled = new Map<string, ValidateFunction>();

function validatorFor(def: string): ValidateFunction {
  let v = compiled.get(def);
  if (!v) {
    v = ajv.compile({ $ref: `k8s#/definitions/${def}` });
    compiled.set(def, v);
  }
  return v;
}

/** `/spec/containers/0/name` -> `spec.containers[0].name`. */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) {
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

export interface SchemaResult {
  /** Wrong JSON types (Kubernetes rejects these while decoding: 400 BadRequest). */
  typeErrors: { field: string; expected: string; got: string }[];
  /** Missing required fields and values outside an enum (422 Invalid). */
  fieldErrors: FieldError[];
  /** Fields the schema does not declare: an error under fieldValidation=Strict, else a warning (and dropped). */
  unknownFields: string[];
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur = root;
  for (const p of instancePath.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/** Runs the schema of definition `def` over `obj` and sorts the problems by how Kubernetes reports them. */
export function checkSchema(def: string, obj: unknown): SchemaResult {
  const validate = validatorFor(def);
  const out: SchemaResult = { typeErrors: [], fieldErrors: [], unknownFields: [] };
  if (validate(obj)) return out;
  const seen = new Set<string>();
  for (const e of validate.errors as ErrorObject[]) {
    // int-or-string: report the anyOf once, not each branch.
    if (e.schemaPath.includes('/anyOf/')) continue;
    const key = `${e.keyword}:${e.instancePath}:${JSON.stringify(e.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    switch (e.keyword) {
      case 'additionalProperties':
        out.unknownFields.push(
          fieldPath(e.instancePath, (e.params as { additionalProperty: string }).additionalProperty),
        );
        break;
      case 'required':
        out.fieldErrors.push(
          required(fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty)),
        );
        break;
      case 'enum':
        out.fieldErrors.push(
          notSupported(
            fieldPath(e.instancePath),
            valueAt(obj, e.instancePath),
            (e.params as { allowedValues: string[] }).allowedValues,
          ),
        );
        break;
      case 'type':
        out.typeErrors.push({
          field: fieldPath(e.instancePath),
          expected: String((e.params as { type: string }).type),
          got: jsonType(valueAt(obj, e.instancePath)),
        });
        break;
      case 'anyOf':
        out.typeErrors.push({
          field: fieldPath(e.instancePath),
          expected: 'integer or string',
          got: jsonType(valueAt(obj, e.instancePath)),
        });
        break;
      case 'format':
        out.typeErrors.push({
          field: fieldPath(e.instancePath),
          expected: `${(e.params as { format: string }).format} string`,
          got: JSON.stringify(valueAt(obj, e.instancePath)),
        });
        break;
      default:
        out.fieldErrors.push(
          invalidValue(fieldPath(e.instancePath), valueAt(obj, e.instancePath), e.message ?? e.keyword),
        );
    }
  }
  return out;
}

/** Deletes the unknown fields reported by checkSchema (Kubernetes drops them when it does not reject them). */
export function pruneFields(obj: unknown, fields: string[]): void {
  for (const f of fields) {
    const parts = f.match(/[^.[\]]+/g) ?? [];
    let cur: unknown = obj;
    for (let i = 0; i < parts.length - 1 && cur && typeof cur === 'object'; i++) cur = (cur as Obj)[parts[i]];
    if (cur && typeof cur === 'object') delete (cur as Obj)[parts[parts.length - 1]];
  }
}

/** Removes null values from maps recursively: JSON null decodes to "unset" for every field we serve. */
export function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v !== null && typeof v === 'object') {
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (o[k] === null) delete o[k];
      else o[k] = dropNulls(o[k]);
    }
  }
  return v;
}

// ---- semantic validation ------------------------------------------------------------------------

/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const LABEL_NAMED = new Set(['Namespace', 'Service']);

function validateLabels(labels: unknown, field: string, errs: FieldError[]): void {
  if (!labels || typeof labels !== 'object') return;
  for (const [k, v] of Object.entries(labels as Obj)) {
    for (const m of isQualifiedName(k)) errs.push(invalidValue(field, k, m));
    if (typeof v === 'string')
      for (const m of isValidLabelValue(v)) errs.push(invalidValue(`${field}`, v, m));
  }
}

function validateAnnotations(ann: unknown, field: string, errs: FieldError[]): void {
  if (!ann || typeof ann !== 'object') return;
  let total = 0;
  for (const [k, v] of Object.entries(ann as Obj)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalidValue(field, k, m));
    total += k.length + String(v).length;
  }
  if (total > 256 * 1024)
    errs.push({ type: 'FieldValueTooLong', field, detail: 'may not be more than 262144 bytes' });
}

export function validateObjectMeta(kind: string, meta: Obj, namespaced: boolean, errs: FieldError[]): void {
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    if (typeof meta.generateName !== 'string' || meta.generateName === '')
      errs.push(required('metadata.name', 'name or generateName is required'));
  } else {
    const msgs = LABEL_NAMED.has(kind) ? isDNS1123Label(name) : isDNS1123Subdomain(name);
    for (const m of msgs) errs.push(invalidValue('metadata.name', name, m));
  }
  if (namespaced && (typeof meta.namespace !== 'string' || meta.namespace === ''))
    errs.push(required('metadata.namespace'));
  validateLabels(meta.labels, 'metadata.labels', errs);
  validateAnnotations(meta.annotations, 'metadata.annotations', errs);
  if (Array.isArray(meta.finalizers)) {
    meta.finalizers.forEach((f, i) => {
      if (typeof f === 'string' && f.includes('/'))
        for (const m of isQualifiedName(f)) errs.push(invalidValue(`metadata.finalizers[${i}]`, f, m));
    });
  }
}

function validateContainers(list: unknown, field: string, errs: FieldError[], requireImage: boolean): void {
  if (!Array.isArray(list)) return;
  const names = new Set<string>();
  list.forEach((c, i) => {
    if (!c || typeof c !== 'object') return;
    const co = c as Obj;
    const f = `${field}[${i}]`;
    if (typeof co.name === 'string') {
      for (const m of isDNS1123Label(co.name)) errs.push(invalidValue(`${f}.name`, co.name, m));
      if (names.has(co.name)) errs.push(duplicate(`${f}.name`, co.name));
      names.add(co.name);
    }
    if (requireImage && (typeof co.image !== 'string' || co.image.trim() === ''))
      errs.push(required(`${f}.image`));
    if (Array.isArray(co.ports)) {
      co.ports.forEach((p, j) => {
        const port = (p as Obj)?.containerPort;
        if (typeof port === 'number' && (port < 1 || port > 65535))
          errs.push(
            invalidValue(`${f}.ports[${j}].containerPort`, port, 'must be between 1 and 65535, inclusive'),
          );
      });
    }
  });
}

export function validatePodSpec(spec: unknown, field: string, errs: FieldError[]): void {
  if (!spec || typeof spec !== 'object') return;
  const s = spec as Obj;
  if (Array.isArray(s.containers) && s.containers.length === 0) errs.push(required(`${field}.containers`));
  validateContainers(s.containers, `${field}.containers`, errs, true);
  validateContainers(s.initContainers, `${field}.initContainers`, errs, true);
  const tg = s.terminationGracePeriodSeconds;
  if (typeof tg === 'number' && tg < 0)
    errs.push(
      invalidValue(`${field}.terminationGracePeriodSeconds`, tg, 'must be greater than or equal to 0'),
    );
}

function validateSelectorAndTemplate(spec: Obj, errs: FieldError[], requireRestartAlways: boolean): void {
  const sel = spec.selector as LabelSelector | undefined;
  if (sel && typeof sel === 'object') {
    if (!sel.matchLabels && !(sel.matchExpressions && sel.matchExpressions.length))
      errs.push(invalidValue('spec.selector', sel, 'empty selector is invalid for deployment'));
    validateLabels(sel.matchLabels, 'spec.selector.matchLabels', errs);
  }
  const tmpl = spec.template as Obj | undefined;
  if (!tmpl || typeof tmpl !== 'object') return;
  const labels = ((tmpl.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
  validateLabels(labels, 'spec.template.metadata.labels', errs);
  if (sel && typeof sel === 'object') {
    try {
      const s = selectorFromLabelSelector(sel);
      if (!s.empty() && !s.matches(labels))
        errs.push(
          invalidValue(
            'spec.template.metadata.labels',
            labels,
            '`selector` does not match template `labels`',
          ),
        );
    } catch (e) {
      errs.push(invalidValue('spec.selector', sel, (e as Error).message));
    }
  }
  validatePodSpec(tmpl.spec, 'spec.template.spec', errs);
  const rp = (tmpl.spec as Obj | undefined)?.restartPolicy;
  if (requireRestartAlways && rp !== undefined && rp !== 'Always')
    errs.push(notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
}

function nonNegative(v: unknown, field: string, errs: FieldError[]): void {
  if (typeof v === 'number' && v < 0) errs.push(invalidValue(field, v, 'must be greater than or equal to 0'));
}

/** The per-kind rules Kubernetes checks in code; errors are appended to `errs`. */
export function validateSemantics(kind: string, o: Obj, errs: FieldError[]): void {
  const spec = (o.spec ?? {}) as Obj;
  switch (kind) {
    case 'Pod':
      validatePodSpec(o.spec, 'spec', errs);
      break;
    case 'Deployment': {
      nonNegative(spec.replicas, 'spec.replicas', errs);
      nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', errs);
      nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', errs);
      validateSelectorAndTemplate(spec, errs, true);
      const pds = spec.progressDeadlineSeconds;
      const mrs = spec.minReadySeconds ?? 0;
      if (typeof pds === 'number' && typeof mrs === 'number' && pds <= mrs)
        errs.push(invalidValue('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
      break;
    }
    case 'ReplicaSet':
      nonNegative(spec.replicas, 'spec.replicas', errs);
      validateSelectorAndTemplate(spec, errs, true);
      break;
    case 'Service': {
      const ports = Array.isArray(spec.ports) ? (spec.ports as Obj[]) : [];
      const names = new Set<string>();
      ports.forEach((p, i) => {
        if (!p || typeof p !== 'object') return;
        if (typeof p.port === 'number' && (p.port < 1 || p.port > 65535))
          errs.push(invalidValue(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
        if (ports.length > 1 && !p.name) errs.push(required(`spec.ports[${i}].name`));
        if (typeof p.name === 'string' && p.name) {
          if (names.has(p.name)) errs.push(duplicate(`spec.ports[${i}].name`, p.name));
          names.add(p.name);
        }
      });
      if (spec.type !== 'ExternalName' && ports.length === 0 && spec.clusterIP !== 'None')
        errs.push(required('spec.ports'));
      break;
    }
    case 'ConfigMap':
    case 'Secret':
      for (const k of Object.keys((o.data ?? {}) as Obj)) {
        if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.length > 253)
          errs.push(
            invalidValue(
              'data',
              k,
              "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            ),
          );
      }
      break;
    case 'Lease':
      nonNegative((o.spec as Obj | undefined)?.leaseDurationSeconds, 'spec.leaseDurationSeconds', errs);
      break;
  }
}
