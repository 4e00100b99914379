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
import { uvarintSize, writeUvarint } from '../wal/encoding.js';
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

/**
 * Encodings shared by the responses of one event-loop turn, by KeyValue object: every watcher of a write gets
 * the same KeyValue, and the same Event unless it asked for prev_kv. They are dropped once the turn's
 * synchronous work (applying a batch and notifying its watchers) is done: kept for as long as the KeyValue
 * lives, they would be a second copy of every watched value still in the store's history.
 */
const turnKvs = new Map<KeyValueLike, Buffer>();
const turnEvents = new Map<KeyValueLike, { type: number; bytes: Buffer }>();
let clearQueued = false;

function forgetAtEndOfTurn(): void {
  if (clearQueued) return;
  clearQueued = true;
  queueMicrotask(() => {
    turnKvs.clear();
    turnEvents.clear();
    clearQueued = false;
  });
}

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
  for (const ev of (resp.events ?? []) as EventLike[]) w.bytesField(11, encodeEvent(ev));
  return w.finish();
}

/**
 * encodeWatchResponse's bytes behind gRPC's 5-byte message prefix, in one buffer, for StreamCall.writeFramed.
 * An event notification (the common case) is built from parts that every watcher of a write shares: the
 * header (memoized while its values stay the same) and each event's bytes (shared within the turn, see
 * turnEvents), so each of a write's N watchers costs one allocation and a few copies; anything else goes
 * through encodeWatchResponse.
 */
export function encodeWatchFrame(resp: Msg): Buffer {
  const id = resp.watchId;
  const plain =
    !resp.created &&
    !resp.canceled &&
    !resp.cancelReason &&
    !resp.fragment &&
    !resp.compactRevision &&
    typeof id === 'number' &&
    Number.isSafeInteger(id) &&
    id >= 0;
  if (!plain) return frame(encodeWatchResponse(resp));
  const hdr = resp.header ? sharedHeader(resp.header) : null;
  const events = (resp.events ?? []) as EventLike[];
  const evs: Buffer[] = new Array(events.length);
  let len = 0;
  if (hdr) len += 1 + uvarintSize(hdr.length) + hdr.length;
  if (id > 0) len += 1 + uvarintSize(id);
  for (let i = 0; i < events.length; i++) {
    const e = (evs[i] = encodeEvent(events[i]!));
    len += 1 + uvarintSize(e.length) + e.length;
  }
  const out = Buffer.allocUnsafe(GRPC_PREFIX + len);
  out[0] = 0;
  out.writeUInt32BE(len, 1);
  let o = GRPC_PREFIX;
  if (hdr) {
    out[o++] = (1 << 3) | 2; // header
    o = writeUvarint(out, o, hdr.length);
    o += hdr.copy(out, o);
  }
  if (id > 0) {
    out[o++] = (2 << 3) | 0; // watch_id
    o = writeUvarint(out, o, id);
  }
  for (const e of evs) {
    out[o++] = (11 << 3) | 2; // events
    o = writeUvarint(out, o, e.length);
    o += e.copy(out, o);
  }
  return out;
}

/** gRPC's message prefix: a compressed flag and a 4-byte big-endian length. */
const GRPC_PREFIX = 5;

function frame(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(GRPC_PREFIX + body.length);
  out[0] = 0;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, GRPC_PREFIX);
  return out;
}

/** mvccpb.Event: type, kv and, when asked for, prev_kv; shared within a turn as turnEvents says. */
function encodeEvent(ev: EventLike): Buffer {
  if (!ev.prevKv) {
    const c = turnEvents.get(ev.kv);
    if (c && c.type === ev.type) return c.bytes;
  }
  const ew = new Writer();
  if (ev.type) ew.tagVarint(1, ev.type);
  ew.bytesField(2, encodeKeyValue(ev.kv));
  if (ev.prevKv) ew.bytesField(3, encodeKeyValue(ev.prevKv));
  const bytes = ew.finish();
  if (!ev.prevKv) {
    turnEvents.set(ev.kv, { type: ev.type, bytes });
    forgetAtEndOfTurn();
  }
  return bytes;
}

/** The last header encoded for a watch frame, reused while its values stay the same. */
let lastHeader: { h: [unknown, unknown, unknown, unknown]; bytes: Buffer } | null = null;

function sharedHeader(h: Msg): Buffer {
  const l = lastHeader;
  if (l && l.h[0] === h.revision && l.h[1] === h.raftTerm && l.h[2] === h.clusterId && l.h[3] === h.memberId)
    return l.bytes;
  const bytes = encodeHeader(h);
  lastHeader = { h: [h.revision, h.raftTerm, h.clusterId, h.memberId], bytes };
  return bytes;
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
 * `cache`: keep the bytes for the next response of this turn that carries the same KeyValue object (every
 * watcher of one event does). A Range's KeyValues are rarely sent twice, so it does not cache.
 */
function encodeKeyValue(kv: KeyValueLike, cache = true): Buffer {
  let b = turnKvs.get(kv);
  if (b) return b;
  const w = new Writer();
  if (kv.key.length) w.bytesField(1, kv.key);
  w.u64Field(2, kv.createRevision);
  w.u64Field(3, kv.modRevision);
  w.u64Field(4, kv.version);
  if (kv.value.length) w.bytesField(5, kv.value);
  w.u64Field(6, kv.lease);
  b = w.finish();
  if (cache) {
    turnKvs.set(kv, b);
    forgetAtEndOfTurn();
  }
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
