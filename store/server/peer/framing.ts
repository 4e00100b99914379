// Frames on a peer connection: [u32 body length][u32 CRC32C of body][body = u8 kind, payload]. A frame
// longer than the limit, or one whose checksum does not match, ends the connection: bytes between members
// are never trusted without a check.
import { crc32c } from '../../wal/index.js';

export const enum FrameKind {
  /** JSON: who is calling, for which cluster, and what the connection is for. */
  Hello = 1,
  HelloOK = 2,
  HelloErr = 3,
  /** An encoded Raft message (codec.ts). */
  Msg = 4,
  /** A MsgSnap without its data, then u48 total data size. */
  SnapBegin = 5,
  SnapChunk = 6,
  SnapEnd = 7,
  /** JSON {ok, error?}: the receiver has the whole snapshot and handed it to Raft. */
  SnapAck = 8,
  /** JSON {id, op, args} and {id, result} / {id, error: {code, message}}: calls forwarded to the leader. */
  RpcReq = 9,
  RpcResp = 10,
}

export const FRAME_HEADER = 8;

export class FrameError extends Error {}

export function encodeFrame(kind: FrameKind, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER + 1 + payload.byteLength);
  buf.writeUInt32BE(1 + payload.byteLength, 0);
  buf[FRAME_HEADER] = kind;
  buf.set(payload, FRAME_HEADER + 1);
  buf.writeUInt32BE(crc32c(0, buf, FRAME_HEADER) >>> 0, 4);
  return buf;
}

export function jsonFrame(kind: FrameKind, v: unknown): Buffer {
  return encodeFrame(kind, Buffer.from(JSON.stringify(v)));
}

/** Accumulates socket chunks and yields whole, checked frames. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the frames completed by them. Throws FrameError on a bad frame. */
  push(chunk: Buffer): { kind: FrameKind; payload: Buffer }[] {
    this.chunks.push(chunk);
    this.have += chunk.length;
    const out: { kind: FrameKind; payload: Buffer }[] = [];
    for (;;) {
      if (this.have < FRAME_HEADER) break;
      const head = this.peek(FRAME_HEADER);
      const len = head.readUInt32BE(0);
      if (len === 0 || len > this.maxFrameBytes) {
        throw new FrameError(`peer frame of ${len} bytes (limit ${this.maxFrameBytes})`);
      }
      if (this.have < FRAME_HEADER + len) break;
      const all = this.take(FRAME_HEADER + len);
      const want = all.readUInt32BE(4);
      const got = crc32c(0, all, FRAME_HEADER) >>> 0;
      if (want !== got) throw new FrameError(`peer frame checksum mismatch (${want} != ${got})`);
      out.push({ kind: all[FRAME_HEADER] as FrameKind, payload: all.subarray(FRAME_HEADER + 1) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}
