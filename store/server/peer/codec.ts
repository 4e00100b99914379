// Binary encoding of Raft messages between members: fixed-width numbers, length-prefixed strings and
// byte fields. A snapshot's data never travels inside a message frame; it streams in chunks beside it.
import type { Entry, Message, MessageType, Snapshot } from '../../raft/index.js';

const TYPES: MessageType[] = [
  'MsgHup',
  'MsgBeat',
  'MsgCheckQuorum',
  'MsgUnreachable',
  'MsgSnapStatus',
  'MsgProp',
  'MsgApp',
  'MsgAppResp',
  'MsgVote',
  'MsgVoteResp',
  'MsgPreVote',
  'MsgPreVoteResp',
  'MsgHeartbeat',
  'MsgHeartbeatResp',
  'MsgSnap',
  'MsgTransferLeader',
  'MsgTimeoutNow',
  'MsgReadIndex',
  'MsgReadIndexResp',
];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i]));

/** Longest node id accepted (etcd's are 16 hex digits). */
const MAX_ID = 256;
const MAX_LIST = 10_000;

export class CodecError extends Error {}

function strSize(s: string): number {
  return 2 + Buffer.byteLength(s);
}

export function messageSize(m: Message, withSnapshotData: boolean): number {
  let n = 1 + strSize(m.to) + strSize(m.from) + 6 * 5 + 1 + 4 + m.context.byteLength + 4;
  for (const e of m.entries) n += 6 + 6 + 1 + 4 + e.data.byteLength;
  n += 1;
  if (m.snapshot) {
    const md = m.snapshot.metadata;
    n += 12 + 4 + 4;
    for (const v of md.confState.voters) n += strSize(v);
    for (const v of md.confState.learners) n += strSize(v);
    n += 4 + (withSnapshotData ? m.snapshot.data.byteLength : 0);
  }
  return n;
}

class Writer {
  off = 0;
  constructor(readonly buf: Buffer) {}
  u8(v: number): void {
    this.buf[this.off++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.off);
    this.off += 4;
  }
  u48(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 48) throw new CodecError(`number out of range: ${v}`);
    this.buf.writeUIntBE(v, this.off, 6);
    this.off += 6;
  }
  str(s: string): void {
    const n = this.buf.write(s, this.off + 2);
    this.buf.writeUInt16BE(n, this.off);
    this.off += 2 + n;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.buf.set(b, this.off);
    this.off += b.byteLength;
  }
}

class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.off + n > this.buf.length) throw new CodecError('message truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.buf.readUIntBE(this.off, 6);
    this.off += 6;
    return v;
  }
  str(): string {
    this.need(2);
    const n = this.buf.readUInt16BE(this.off);
    if (n > MAX_ID) throw new CodecError(`id too long (${n} bytes)`);
    this.off += 2;
    this.need(n);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    // A copy: the frame buffer is reused by nobody, but entries outlive it in the Raft log.
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return b;
  }
  count(): number {
    const n = this.u32();
    if (n > MAX_LIST && n * 8 > this.buf.length - this.off) throw new CodecError(`list too long (${n})`);
    return n;
  }
}

/** Encodes a message; the snapshot's data is left out unless asked for (it streams separately). */
export function encodeMessage(m: Message, withSnapshotData = false): Buffer {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new CodecError(`unknown message type ${m.type}`);
  const w = new Writer(Buffer.allocUnsafe(messageSize(m, withSnapshotData)));
  w.u8(code);
  w.str(m.to);
  w.str(m.from);
  w.u48(m.term);
  w.u48(m.logTerm);
  w.u48(m.index);
  w.u48(m.commit);
  w.u48(m.rejectHint);
  w.u8(m.reject ? 1 : 0);
  w.bytes(m.context);
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.u48(e.term);
    w.u48(e.index);
    w.u8(e.type);
    w.bytes(e.data);
  }
  w.u8(m.snapshot ? 1 : 0);
  if (m.snapshot) {
    const md = m.snapshot.metadata;
    w.u48(md.index);
    w.u48(md.term);
    w.u32(md.confState.voters.length);
    for (const v of md.confState.voters) w.str(v);
    w.u32(md.confState.learners.length);
    for (const v of md.confState.learners) w.str(v);
    w.bytes(withSnapshotData ? m.snapshot.data : new Uint8Array(0));
  }
  if (w.off !== w.buf.length) throw new CodecError(`size mismatch ${w.off} != ${w.buf.length}`);
  return w.buf;
}

export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf);
  const type = TYPES[r.u8()];
  if (!type) throw new CodecError('unknown message type');
  const to = r.str();
  const from = r.str();
  const term = r.u48();
  const logTerm = r.u48();
  const index = r.u48();
  const commit = r.u48();
  const rejectHint = r.u48();
  const reject = r.u8() === 1;
  const context = r.bytes();
  const n = r.count();
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const t = r.u48();
    const idx = r.u48();
    const et = r.u8();
    if (et !== 0 && et !== 1) throw new CodecError(`bad entry type ${et}`);
    entries.push({ term: t, index: idx, type: et, data: r.bytes() });
  }
  let snapshot: Snapshot | undefined;
  if (r.u8() === 1) {
    const si = r.u48();
    const st = r.u48();
    const voters: string[] = [];
    for (let i = r.count(); i > 0; i--) voters.push(r.str());
    const learners: string[] = [];
    for (let i = r.count(); i > 0; i--) learners.push(r.str());
    snapshot = { metadata: { index: si, term: st, confState: { voters, learners } }, data: r.bytes() };
  }
  if (r.off !== buf.length) throw new CodecError('trailing bytes after message');
  return {
    type,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    ...(snapshot ? { snapshot } : {}),
    reject,
    rejectHint,
    context,
  };
}
