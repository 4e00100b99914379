// Conversion at the gRPC edge. proto-loader hands us int64 fields as decimal strings; the state machine
// wants revisions as numbers and lease/member ids as bigints (etcd lease ids use all 63 bits). Outbound,
// protobufjs takes numbers and bigints as they are.

/** int64/uint64 request fields that are ids: kept exact as bigint. */
const BIGINT_FIELDS = new Set(['lease', 'ID', 'memberID', 'targetID']);
/** int64 request fields that are counts or revisions: numbers (exact below 2^53, as etcd's are in practice). */
const NUMBER_FIELDS = new Set([
  'limit',
  'revision',
  'minModRevision',
  'maxModRevision',
  'minCreateRevision',
  'maxCreateRevision',
  'version',
  'createRevision',
  'modRevision',
  'TTL',
  'startRevision',
  'watchId',
  'rev',
]);

/** Deep-converts a decoded request: int64 strings to number or bigint by field name; Buffers untouched. */
export function fromWire<T>(msg: unknown): T {
  return convertIn(msg, '') as T;
}

function convertIn(v: unknown, field: string): unknown {
  if (v === null || v === undefined) return v;
  if (Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map((x) => convertIn(x, field));
  if (typeof v === 'string') {
    if (BIGINT_FIELDS.has(field)) return BigInt(v);
    if (NUMBER_FIELDS.has(field)) return toSafeNumber(v, field);
    return v;
  }
  if (typeof v === 'number' && BIGINT_FIELDS.has(field)) return BigInt(v);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = convertIn(x, k);
    return out;
  }
  return v;
}

function toSafeNumber(s: string, field: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) {
    // Larger revisions/limits cannot occur in a store that has not made 2^53 writes; clamp so that a
    // client asking for "everything" (e.g. limit = max int64) still gets a sensible answer.
    if (/^\d+$/.test(s)) return Number.MAX_SAFE_INTEGER;
    if (/^-\d+$/.test(s)) return Number.MIN_SAFE_INTEGER;
    throw new Error(`field ${field}: ${s} is not an integer`);
  }
  return n;
}

/**
 * Responses go to protobufjs as they are: its int64 fields take numbers and bigints (long 5 converts a
 * bigint exactly) and its bytes fields take any Uint8Array. A deep copy that turned bigints into decimal
 * strings cost a copy of every response and a slow Long.fromString per id on each call.
 */
export function toWire<T>(msg: T): T {
  return msg;
}
