// Kubernetes Status objects: constructors for every error the apiserver returns (with the reasons, codes
// and message wording Kubernetes uses), field errors for 422 Invalid, and StatusError to carry one.
import type { Status, StatusCause, StatusReason } from './types.js';

/** A resource's group and plural name, e.g. {group: 'apps', resource: 'deployments'}. */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

export function failure(
  code: number,
  reason: StatusReason,
  message: string,
  details?: Status['details'],
): Status {
  const s: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) s.details = details;
  return s;
}

export function success(details?: Status['details']): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) s.details = details;
  return s;
}

export function notFound(gr: GroupResource, name: string): Status {
  return failure(404, 'NotFound', `${qualified(gr)} "${name}" not found`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

export function alreadyExists(gr: GroupResource, name: string): Status {
  return failure(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

export const CONFLICT_MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(gr: GroupResource, name: string, why: string = CONFLICT_MODIFIED): Status {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

export function badRequest(message: string): Status {
  return failure(400, 'BadRequest', message);
}

export function methodNotAllowed(
  message = 'the server does not allow this method on the requested resource',
): Status {
  return failure(405, 'MethodNotAllowed', message);
}

export function notAcceptable(message: string): Status {
  return failure(406, 'NotAcceptable', message);
}

/** 410 for a watch or list from a compacted resourceVersion: clients re-list. */
export function resourceExpired(message: string): Status {
  return failure(410, 'Expired', message);
}

export function gone(message: string): Status {
  return failure(410, 'Gone', message);
}

export function requestEntityTooLarge(limit: number): Status {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
}

export function unsupportedMediaType(contentType: string, accepted: string[]): Status {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}` +
      (contentType ? ` (got "${contentType}")` : ''),
  );
}

export function tooManyRequests(message: string, retryAfterSeconds = 1): Status {
  return failure(429, 'TooManyRequests', message, { retryAfterSeconds });
}

export function internalError(message: string): Status {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

export function serviceUnavailable(message: string, retryAfterSeconds = 1): Status {
  return failure(503, 'ServiceUnavailable', message, { retryAfterSeconds });
}

export function timeout(message: string, retryAfterSeconds = 1): Status {
  return failure(504, 'Timeout', message, { retryAfterSeconds });
}

export function forbidden(gr: GroupResource, name: string, why: string): Status {
  return failure(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${why}`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

// ---- field errors and 422 Invalid ------------------------------------------------------------------

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTypeInvalid'
  | 'FieldValueNotFound'
  | 'FieldValueTooMany';

export interface FieldError {
  type: FieldErrorType;
  /** JSON-path-like field, e.g. spec.template.spec.containers[0].image */
  field: string;
  value?: unknown;
  detail?: string;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'null';
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** The one-line form Kubernetes prints, e.g. `spec.replicas: Invalid value: -1: must be greater than or equal to 0`. */
export function fieldErrorMessage(e: FieldError): string {
  let body: string;
  switch (e.type) {
    case 'FieldValueRequired':
      body = 'Required value';
      break;
    case 'FieldValueNotFound':
      body = `Not found: ${show(e.value)}`;
      break;
    case 'FieldValueDuplicate':
      body = `Duplicate value: ${show(e.value)}`;
      break;
    case 'FieldValueForbidden':
      body = 'Forbidden';
      break;
    case 'FieldValueTooLong':
      body = 'Too long';
      break;
    case 'FieldValueTooMany':
      body = 'Too many';
      break;
    case 'FieldValueNotSupported':
      body = `Unsupported value: ${show(e.value)}`;
      break;
    case 'FieldValueInvalid':
    case 'FieldValueTypeInvalid':
      body = `Invalid value: ${show(e.value)}`;
      break;
  }
  const tail = e.detail ? `: ${e.detail}` : '';
  return `${e.field}: ${body}${tail}`;
}

export function required(field: string, detail?: string): FieldError {
  return { type: 'FieldValueRequired', field, detail };
}

export function invalidValue(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}

export function notSupported(field: string, value: unknown, supported: string[]): FieldError {
  return {
    type: 'FieldValueNotSupported',
    field,
    value,
    detail: `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  };
}

export function duplicate(field: string, value: unknown): FieldError {
  return { type: 'FieldValueDuplicate', field, value };
}

export function forbiddenField(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail };
}

export function typeInvalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueTypeInvalid', field, value, detail };
}

/** 422 Invalid, one cause per bad field, worded like `Pod "x" is invalid: [a: ..., b: ...]`. */
export function invalid(kind: string, group: string, name: string, errors: FieldError[]): Status {
  const msgs = errors.map(fieldErrorMessage);
  const summary = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  const causes: StatusCause[] = errors.map((e, i) => ({
    reason: e.type,
    message: msgs[i].slice(e.field.length + 2),
    field: e.field,
  }));
  return failure(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes,
  });
}

/** An error that carries a Status: thrown inside the apiserver and by API clients. */
export class StatusError extends Error {
  override readonly name = 'StatusError';
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? `status ${status.code}`);
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): StatusReason | undefined {
    return this.status.reason;
  }
}

export function isStatus(x: unknown): x is Status {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'Status';
}

export function isNotFound(e: unknown): boolean {
  return e instanceof StatusError && e.status.reason === 'NotFound';
}
export function isAlreadyExists(e: unknown): boolean {
  return e instanceof StatusError && e.status.reason === 'AlreadyExists';
}
export function isConflict(e: unknown): boolean {
  return e instanceof StatusError && e.status.reason === 'Conflict';
}
export function isGone(e: unknown): boolean {
  return e instanceof StatusError && e.status.code === 410;
}
