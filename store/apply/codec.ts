// The compact binary encoding of Raft requests (see README.md, "Entry encoding").
import type { RaftRequest } from './types.js';

/** Encodes a request for a Raft entry. Round-trips Buffers and bigints exactly. */
export function encodeRequest(req: RaftRequest): Buffer {
  void req;
  throw new Error('not implemented');
}

/** Decodes an entry written by encodeRequest; throws on corrupt or unknown input. */
export function decodeRequest(data: Buffer): RaftRequest {
  void data;
  throw new Error('not implemented');
}
