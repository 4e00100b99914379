// The compact binary encoding of Raft requests (README.md, "Entry encoding"): a version byte, the
// request kind, then each message as a presence bitmask followed by its present fields in a fixed order.
// Buffers, bigints, undefined-vs-set and nested txns round-trip exactly.
import { BinaryReader, BinaryWriter } from '../mvcc/index.js';
import type { RaftRequest } from './types.js';

/** Version 1: no requester. Version 2: the requester (user name, auth revision) follows the id. */
const VERSION = 1;
const VERSION_WITH_REQUESTER = 2;

type Kind =
  'bytes' | 'string' | 'uint' | 'sint' | 'bool' | 'i64' | 'u64' | 'noop' | Schema | { list: Kind } | 'op';
type Schema = ReadonlyArray<readonly [string, Kind]>;

const RANGE: Schema = [
  ['key', 'bytes'],
  ['rangeEnd', 'bytes'],
  ['limit', 'uint'],
  ['revision', 'sint'],
  ['sortOrder', 'uint'],
  ['sortTarget', 'uint'],
  ['serializable', 'bool'],
  ['keysOnly', 'bool'],
  ['countOnly', 'bool'],
  ['minModRevision', 'sint'],
  ['maxModRevision', 'sint'],
  ['minCreateRevision', 'sint'],
  ['maxCreateRevision', 'sint'],
];
const PUT: Schema = [
  ['key', 'bytes'],
  ['value', 'bytes'],
  ['lease', 'i64'],
  ['prevKv', 'bool'],
  ['ignoreValue', 'bool'],
  ['ignoreLease', 'bool'],
];
const DELETE: Schema = [
  ['key', 'bytes'],
  ['rangeEnd', 'bytes'],
  ['prevKv', 'bool'],
];
const COMPARE: Schema = [
  ['result', 'uint'],
  ['target', 'uint'],
  ['key', 'bytes'],
  ['version', 'sint'],
  ['createRevision', 'sint'],
  ['modRevision', 'sint'],
  ['value', 'bytes'],
  ['lease', 'i64'],
  ['rangeEnd', 'bytes'],
];
const TXN: Schema = [
  ['compare', { list: COMPARE }],
  ['success', { list: 'op' }],
  ['failure', { list: 'op' }],
];
const COMPACTION: Schema = [
  ['revision', 'sint'],
  ['physical', 'bool'],
];
const LEASE_GRANT: Schema = [
  ['TTL', 'sint'],
  ['ID', 'i64'],
];
const LEASE_REVOKE: Schema = [['ID', 'i64']];
const LEASE_CHECKPOINT: Schema = [
  [
    'checkpoints',
    {
      list: [
        ['ID', 'i64'],
        ['remainingTTL', 'sint'],
      ],
    },
  ],
];
const ALARM: Schema = [
  ['action', 'uint'],
  ['memberID', 'u64'],
  ['alarm', 'uint'],
];

const NAME: Schema = [['name', 'string']];
const USER_ADD: Schema = [
  ['name', 'string'],
  ['hashedPassword', 'string'],
  ['noPassword', 'bool'],
];
const USER_PASSWORD: Schema = [
  ['name', 'string'],
  ['hashedPassword', 'string'],
];
const USER_ROLE: Schema = [
  ['user', 'string'],
  ['role', 'string'],
];
const AUTHENTICATE: Schema = [
  ['name', 'string'],
  ['simpleToken', 'string'],
];
const PERMISSION: Schema = [
  ['permType', 'uint'],
  ['key', 'bytes'],
  ['rangeEnd', 'bytes'],
];
const ROLE_GRANT: Schema = [
  ['name', 'string'],
  ['perm', PERMISSION],
];
const ROLE_REVOKE: Schema = [
  ['role', 'string'],
  ['key', 'bytes'],
  ['rangeEnd', 'bytes'],
];

/** Request kinds by tag; the tag is the position (append only: it is a wire format). */
const KINDS: ReadonlyArray<readonly [string, Kind]> = [
  ['put', PUT],
  ['deleteRange', DELETE],
  ['txn', TXN],
  ['compaction', COMPACTION],
  ['leaseGrant', LEASE_GRANT],
  ['leaseRevoke', LEASE_REVOKE],
  ['leaseCheckpoint', LEASE_CHECKPOINT],
  ['alarm', ALARM],
  ['noop', 'noop'],
  ['authEnable', 'noop'],
  ['authDisable', 'noop'],
  ['authenticate', AUTHENTICATE],
  ['authUserAdd', USER_ADD],
  ['authUserDelete', NAME],
  ['authUserChangePassword', USER_PASSWORD],
  ['authUserGrantRole', USER_ROLE],
  ['authUserRevokeRole', USER_ROLE],
  ['authRoleAdd', NAME],
  ['authRoleDelete', NAME],
  ['authRoleGrantPermission', ROLE_GRANT],
  ['authRoleRevokePermission', ROLE_REVOKE],
];
const OPS: ReadonlyArray<readonly [string, Schema]> = [
  ['requestRange', RANGE],
  ['requestPut', PUT],
  ['requestDeleteRange', DELETE],
  ['requestTxn', TXN],
];

/** Encodes a request for a Raft entry. */
export function encodeRequest(req: RaftRequest): Buffer {
  const w = new BinaryWriter(64);
  w.u8(req.requester ? VERSION_WITH_REQUESTER : VERSION);
  const r = req as Record<string, unknown>;
  const tag = KINDS.findIndex(([name]) => r[name] !== undefined);
  if (tag < 0) throw new Error('apply: encodeRequest: no request field set');
  w.u8(tag);
  w.bool(req.id !== undefined);
  if (req.id !== undefined) w.u64(req.id);
  if (req.requester) w.bytes(Buffer.from(req.requester.username)).uvarint(req.requester.revision);
  const [name, kind] = KINDS[tag]!;
  writeValue(w, kind, r[name]);
  return w.finish();
}

/** Decodes an entry written by encodeRequest; throws on corrupt or unknown input. */
export function decodeRequest(data: Buffer): RaftRequest {
  const r = new BinaryReader(data);
  const version = r.u8();
  if (version !== VERSION && version !== VERSION_WITH_REQUESTER)
    throw new Error(`apply: decodeRequest: unknown encoding version ${version}`);
  const tag = r.u8();
  const entry = KINDS[tag];
  if (!entry) throw new Error(`apply: decodeRequest: unknown request kind ${tag}`);
  const out: Record<string, unknown> = {};
  if (r.bool()) out.id = r.u64();
  if (version === VERSION_WITH_REQUESTER)
    out.requester = { username: r.bytes().toString(), revision: r.uvarint() };
  out[entry[0]] = readValue(r, entry[1]);
  if (r.remaining !== 0) throw new Error('apply: decodeRequest: trailing bytes');
  return out as RaftRequest;
}

function writeValue(w: BinaryWriter, kind: Kind, v: unknown): void {
  if (kind === 'bytes') w.bytes(v as Buffer);
  else if (kind === 'string') w.bytes(Buffer.from(v as string));
  else if (kind === 'uint') w.uvarint(v as number);
  else if (kind === 'sint') w.svarint(v as number);
  else if (kind === 'bool') w.bool(v as boolean);
  else if (kind === 'i64') w.i64(v as bigint);
  else if (kind === 'u64') w.u64(v as bigint);
  else if (kind === 'noop') w.bool(v as boolean);
  else if (kind === 'op') {
    const op = v as Record<string, unknown>;
    const tag = OPS.findIndex(([name]) => op[name] !== undefined);
    if (tag < 0) throw new Error('apply: encodeRequest: empty RequestOp');
    w.u8(tag);
    writeValue(w, OPS[tag]![1], op[OPS[tag]![0]]);
  } else if ('list' in kind) {
    const list = v as unknown[];
    w.uvarint(list.length);
    for (const item of list) writeValue(w, kind.list, item);
  } else {
    const msg = v as Record<string, unknown>;
    let mask = 0;
    kind.forEach(([name], i) => {
      if (msg[name] !== undefined) mask += 2 ** i;
    });
    w.uvarint(mask);
    for (const [name, k] of kind) if (msg[name] !== undefined) writeValue(w, k, msg[name]);
  }
}

function readValue(r: BinaryReader, kind: Kind): unknown {
  // A view into the entry, no copy: the store copies the keys and values it keeps (MvccStore put).
  if (kind === 'bytes') return r.bytesView();
  if (kind === 'string') return r.bytes().toString();
  if (kind === 'uint') return r.uvarint();
  if (kind === 'sint') return r.svarint();
  if (kind === 'bool') return r.bool();
  if (kind === 'i64') return r.i64();
  if (kind === 'u64') return r.u64();
  if (kind === 'noop') return r.bool();
  if (kind === 'op') {
    const tag = r.u8();
    const op = OPS[tag];
    if (!op) throw new Error(`apply: decodeRequest: unknown RequestOp kind ${tag}`);
    return { [op[0]]: readValue(r, op[1]) };
  }
  if ('list' in kind) {
    const n = r.uvarint();
    if (n > r.remaining) throw new Error('apply: decodeRequest: list longer than input');
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(readValue(r, kind.list));
    return out;
  }
  const mask = r.uvarint();
  if (mask >= 2 ** kind.length) throw new Error('apply: decodeRequest: unknown fields');
  const msg: Record<string, unknown> = {};
  kind.forEach(([name, k], i) => {
    if (Math.floor(mask / 2 ** i) % 2 === 1) msg[name] = readValue(r, k);
  });
  return msg;
}
