// The hot responses encoded by hand: etcdserverpb.WatchResponse, RangeResponse, PutResponse,
// DeleteRangeResponse and TxnResponse.
// - Watch: each KeyValue is encoded once however many watchers get it. One put watched by N watchers is N
//   responses sharing the same KeyValue objects; going through protobufjs converted and encoded that
//   KeyValue N times (fromObject, Long objects, encode), which was the watch path's largest cost.
// - KV: protobufjs writes every field that is present, zeros included, so each KeyValue carried
//   `lease: 0`, a Range `more: false`, a failed Txn `succeeded: false`, all of which etcd leaves out, and
//   clients decoded an int64 per key they never needed: a grpc-js client spent 89-104 ms of CPU on a
//   20,000-key Range from bin/store against 50-76 ms from etcd. Proto3 leaves default values out; so do
//   these encoders.
// The bytes are the same protobuf wire format (field numbers from rpc.proto and kv.proto), checked against
// protobufjs in wire.test.ts.
import type { Msg } from './backend.js';

interface KeyValueLike {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
  lease: bigint | number;
}

interface EventLike {
  type: number;
  kv: KeyValueLike;
  prevKv?: KeyValueLike | null;
}

/** Encoded KeyValues by object identity; entries go when the KeyValue is collected. */
const kvCache = new WeakMap<KeyValueLike, Buffer>();

/** Protobuf encoding of `resp` (what the Watch service's onResponse hands out). */
export function encodeWatchResponse(resp: Msg): Buffer {
  const w = new Writer();
  if (resp.header) w.bytesField(1, encodeHeader(resp.header));
  w.u64Field(2, resp.watchId);
  if (resp.created) w.tagVarint(3, 1);
  if (resp.canceled) w.tagVarint(4, 1);
  w.u64Field(5, resp.compactRevision);
  if (resp.cancelReason) w.bytesField(6, Buffer.from(String(resp.cancelReason)));
  if (resp.fragment) w.tagVarint(7, 1);
  for (const ev of (resp.events ?? []) as EventLike[]) {
    const kv = encodeKeyValue(ev.kv);
    const prev = ev.prevKv ? encodeKeyValue(ev.prevKv) : null;
    const ew = new Writer();
    if (ev.type) ew.tagVarint(1, ev.type);
    ew.bytesField(2, kv);
    if (prev) ew.bytesField(3, prev);
    w.bytesField(11, ew.finish());
  }
  return w.finish();
}

/** etcdserverpb.RangeResponse (KV.Range). */
export function encodeRangeResponse(resp: Msg): Buffer {
  const w = new Writer();
  if (resp.header) w.bytesField(1, encodeHeader(resp.header));
  for (const kv of (resp.kvs ?? []) as KeyValueLike[]) w.bytesField(2, encodeKeyValue(kv, false));
  if (resp.more) w.tagVarint(3, 1);
  w.u64Field(4, resp.count);
  return w.finish();
}

/** etcdserverpb.PutResponse (KV.Put). */
export function encodePutResponse(resp: Msg): Buffer {
  const w = new Writer();
  if (resp.header) w.bytesField(1, encodeHeader(resp.header));
  if (resp.prevKv) w.bytesField(2, encodeKeyValue(resp.prevKv, false));
  return w.finish();
}

/** etcdserverpb.DeleteRangeResponse (KV.DeleteRange). */
export function encodeDeleteRangeResponse(resp: Msg): Buffer {
  const w = new Writer();
  if (resp.header) w.bytesField(1, encodeHeader(resp.header));
  w.u64Field(2, resp.deleted);
  for (const kv of (resp.prevKvs ?? []) as KeyValueLike[]) w.bytesField(3, encodeKeyValue(kv, false));
  return w.finish();
}

/** etcdserverpb.TxnResponse (KV.Txn), nested transactions included. */
export function encodeTxnResponse(resp: Msg): Buffer {
  const w = new Writer();
  if (resp.header) w.bytesField(1, encodeHeader(resp.header));
  if (resp.succeeded) w.tagVarint(2, 1);
  for (const op of (resp.responses ?? []) as Msg[]) {
    // ResponseOp is a oneof: response_range = 1, response_put = 2, response_delete_range = 3, response_txn = 4.
    const ow = new Writer();
    if (op.responseRange) ow.bytesField(1, encodeRangeResponse(op.responseRange));
    else if (op.responsePut) ow.bytesField(2, encodePutResponse(op.responsePut));
    else if (op.responseDeleteRange) ow.bytesField(3, encodeDeleteRangeResponse(op.responseDeleteRange));
    else if (op.responseTxn) ow.bytesField(4, encodeTxnResponse(op.responseTxn));
    w.bytesField(3, ow.finish());
  }
  return w.finish();
}

/** The encoded cluster and member ids of the last header: the same in every response a member sends. */
let idsOf: { clusterId: unknown; memberId: unknown; bytes: Buffer } | null = null;

function encodeHeader(h: Msg): Buffer {
  if (!idsOf || idsOf.clusterId !== h.clusterId || idsOf.memberId !== h.memberId) {
    const iw = new Writer();
    iw.u64Field(1, h.clusterId);
    iw.u64Field(2, h.memberId);
    idsOf = { clusterId: h.clusterId, memberId: h.memberId, bytes: iw.finish() };
  }
  const hw = new Writer();
  if (idsOf.bytes.length) hw.raw(idsOf.bytes);
  hw.u64Field(3, h.revision);
  hw.u64Field(4, h.raftTerm);
  return hw.finish();
}

/**
 * `cache`: keep the bytes for the next response that carries the same KeyValue object (every watcher of
 * one event does). A Range's KeyValues are rarely sent twice before they change, so it does not cache.
 */
function encodeKeyValue(kv: KeyValueLike, cache = true): Buffer {
  let b = kvCache.get(kv);
  if (b) return b;
  const w = new Writer();
  if (kv.key.length) w.bytesField(1, kv.key);
  w.u64Field(2, kv.createRevision);
  w.u64Field(3, kv.modRevision);
  w.u64Field(4, kv.version);
  if (kv.value.length) w.bytesField(5, kv.value);
  w.u64Field(6, kv.lease);
  b = w.finish();
  if (cache) kvCache.set(kv, b);
  return b;
}

/** A growable byte buffer with the few protobuf primitives the response needs. */
class Writer {
  private parts: Uint8Array[] = [];
  private scratch = Buffer.allocUnsafe(64);
  private n = 0;
  private len = 0;

  /** An integer field (int64/uint64 as a varint); zero is the default and is left out, as protobuf does. */
  u64Field(field: number, v: unknown): void {
    if (v === undefined || v === null) return;
    let x: bigint;
    if (typeof v === 'bigint') x = v;
    else if (typeof v === 'number') {
      if (v === 0) return;
      if (Number.isSafeInteger(v) && v > 0) {
        this.tagVarint(field, v);
        return;
      }
      x = BigInt(Math.trunc(v));
    } else x = BigInt(String(v));
    if (x === 0n) return;
    this.varint((field << 3) | 0);
    // Negative int64s are their 64-bit two's complement: ten bytes.
    let u = BigInt.asUintN(64, x);
    while (u >= 0x80n) {
      this.byte(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    this.byte(Number(u));
  }

  tagVarint(field: number, v: number): void {
    this.varint((field << 3) | 0);
    this.varint(v);
  }

  bytesField(field: number, b: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.raw(b);
  }

  /** Bytes already encoded, as they are. */
  raw(b: Uint8Array): void {
    this.flush();
    this.parts.push(b);
    this.len += b.length;
  }

  finish(): Buffer {
    this.flush();
    return this.parts.length === 1 && Buffer.isBuffer(this.parts[0])
      ? this.parts[0]
      : Buffer.concat(this.parts, this.len);
  }

  /** Non-negative integers up to 2^53 - 1. */
  private varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  private byte(b: number): void {
    if (this.n === this.scratch.length) this.flush();
    this.scratch[this.n++] = b;
  }

  private flush(): void {
    if (this.n === 0) return;
    this.parts.push(Buffer.from(this.scratch.subarray(0, this.n)));
    this.len += this.n;
    this.n = 0;
  }
}

/**
 * A copy of a service definition whose response serializers pass an already-encoded Buffer through
 * unchanged (and encode anything else as before), so a handler may write encodeWatchResponse's bytes.
 */
export function passEncodedResponses<T extends Record<string, any>>(service: T): T {
  const out: Record<string, any> = {};
  for (const [name, m] of Object.entries(service)) {
    const serialize = m.responseSerialize as (v: unknown) => Buffer;
    out[name] = {
      ...m,
      responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)),
    };
  }
  return out as T;
}

/** A copy of a service definition whose listed methods' responses are encoded by the given functions. */
export function withResponseEncoders<T extends Record<string, any>>(
  service: T,
  encoders: Partial<Record<keyof T & string, (resp: Msg) => Buffer>>,
): T {
  const out: Record<string, any> = { ...service };
  for (const [method, encode] of Object.entries(encoders)) {
    out[method] = { ...service[method], responseSerialize: encode };
  }
  return out as T;
}

/** KV's five methods, four of them with the encoders above. */
export function kvServiceWithEncoders<T extends Record<string, any>>(service: T): T {
  return withResponseEncoders(service, {
    Range: encodeRangeResponse,
    Put: encodePutResponse,
    DeleteRange: encodeDeleteRangeResponse,
    Txn: encodeTxnResponse,
  } as Partial<Record<keyof T & string, (resp: Msg) => Buffer>>);
}
