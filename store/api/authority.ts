// Client connections reach the gRPC server through our own TCP listener, so that one quirk of Go etcd clients works.
//
// etcdctl 3.4 dials some per-endpoint connections (endpoint status/hashkv, defrag, move-leader, and every
// `--cluster` form, which takes the members' advertised client URLs) with the whole endpoint URL as the HTTP/2
// :authority, e.g. "http://127.0.0.1:2379". Go's server accepts it; Node's HTTP/2 (nghttp2) validates the
// authority's characters and resets the stream with PROTOCOL_ERROR, so those commands failed.
//
// Each accepted socket is read up to the end of its first header block. If that block's :authority is one
// nghttp2 accepts (every other client), the socket is handed to the gRPC server unchanged, its bytes pushed back, and
// HTTP/2 runs on the native socket as before. Otherwise the connection goes through a small rewriter that
// replaces each character nghttp2 refuses in a literal :authority value with '-'. The value keeps its length,
// so the HPACK dynamic tables of client and server stay the same size and every later index still matches.
// The server never reads :authority; only its syntax mattered.
//
// A gRPC client sends its first request only after the server's SETTINGS frame (the server preface), so the
// listener sends an empty SETTINGS frame itself as soon as the client's preface arrives, and removes the client's ACK of
// it from what it passes on (nghttp2 sends its own SETTINGS once it has the socket, and would take a second
// ACK as a protocol error).
import { Duplex } from 'node:stream';
import * as net from 'node:net';
import * as tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const ACK = 0x1;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** Bytes read while looking for the first header block before deciding without it. */
const PEEK_LIMIT = 64 * 1024;
/** How long a connection may stay silent after the preface before it is handed over without a verdict. */
const PEEK_TIMEOUT_MS = 1000;
/** An empty SETTINGS frame: a valid server preface. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
/** SETTINGS_MAX_FRAME_SIZE's default: a rewritten header block larger than this is left alone. */
const MAX_FRAME = 16_384;

// ---- HPACK's Huffman code (RFC 7541, Appendix B), given as the code length of each symbol 0..255; the code
// is canonical, so the codes follow from the lengths. EOS (256) has length 30.
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/** Decoding map: key = length * 2^30 + code, value = symbol. */
const HUFFMAN_DECODE = (() => {
  const syms = HUFFMAN_LENGTHS.map((len, sym) => ({ len, sym })).sort(
    (a, b) => a.len - b.len || a.sym - b.sym,
  );
  const m = new Map<number, number>();
  let code = 0;
  let prevLen = syms[0]!.len;
  for (const { len, sym } of syms) {
    code *= 2 ** (len - prevLen);
    prevLen = len;
    m.set(len * 2 ** 30 + code, sym);
    code++;
  }
  return m;
})();

/** Decodes a Huffman-coded HPACK string; undefined if it is malformed (the caller then leaves it alone). */
export function huffmanDecode(buf: Buffer): Buffer | undefined {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of buf) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const sym = HUFFMAN_DECODE.get(len * 2 ** 30 + code);
      if (sym !== undefined) {
        if (sym === 256) return undefined; // EOS inside a string is an error
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) return undefined;
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len >= 8 || code !== 2 ** len - 1) return undefined;
  return Buffer.from(out);
}

// ---- HPACK representations, just enough to find and rewrite :authority literals.

/** Reads an HPACK integer with an N-bit prefix at `pos`; returns [value, next position] or undefined. */
function readInt(b: Buffer, pos: number, prefixBits: number): [number, number] | undefined {
  if (pos >= b.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let v = b[pos]! & max;
  pos++;
  if (v < max) return [v, pos];
  let shift = 0;
  for (;;) {
    if (pos >= b.length || shift > 28) return undefined;
    const byte = b[pos++]!;
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [v, pos];
  }
}

function writeInt(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

interface HpackString {
  start: number;
  end: number;
  huffman: boolean;
}

function readString(b: Buffer, pos: number): HpackString | undefined {
  if (pos >= b.length) return undefined;
  const huffman = (b[pos]! & 0x80) !== 0;
  const n = readInt(b, pos, 7);
  if (!n || n[1] + n[0] > b.length) return undefined;
  return { start: n[1], end: n[1] + n[0], huffman };
}

function stringValue(b: Buffer, s: HpackString): Buffer | undefined {
  const raw = b.subarray(s.start, s.end);
  return s.huffman ? huffmanDecode(raw) : raw;
}

/** The characters nghttp2 accepts in an authority: letters, digits and -._~!$&'()*+,;=:%@[] */
export function authorityAccepted(v: Buffer): boolean {
  for (const c of v) if (!AUTHORITY_OK[c]) return false;
  return true;
}
const AUTHORITY_OK = (() => {
  const ok = new Uint8Array(256);
  for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:%@[]")
    ok[ch.charCodeAt(0)] = 1;
  return ok;
})();

interface AuthorityLiteral {
  /** Where the value's string (its length prefix included) starts and ends in the block. */
  from: number;
  to: number;
  value: Buffer;
}

/**
 * Walks a header block and returns every literal :authority (static index 1, or a literal name). Returns
 * undefined if the block does not parse; indexed fields need no table: their values were checked when their
 * literal was first sent.
 */
export function findAuthorityLiterals(block: Buffer): AuthorityLiteral[] | undefined {
  const found: AuthorityLiteral[] = [];
  let pos = 0;
  while (pos < block.length) {
    const first = block[pos]!;
    let prefix: number;
    if (first & 0x80) {
      const n = readInt(block, pos, 7); // indexed field
      if (!n) return undefined;
      pos = n[1];
      continue;
    } else if ((first & 0xc0) === 0x40)
      prefix = 6; // literal with incremental indexing
    else if ((first & 0xe0) === 0x20) {
      const n = readInt(block, pos, 5); // dynamic table size update
      if (!n) return undefined;
      pos = n[1];
      continue;
    } else prefix = 4; // literal without indexing / never indexed
    const idx = readInt(block, pos, prefix);
    if (!idx) return undefined;
    pos = idx[1];
    let isAuthority = idx[0] === 1;
    if (idx[0] === 0) {
      const name = readString(block, pos);
      if (!name) return undefined;
      isAuthority = stringValue(block, name)?.toString('latin1') === ':authority';
      pos = name.end;
    }
    const value = readString(block, pos);
    if (!value) return undefined;
    if (isAuthority) {
      const v = stringValue(block, value);
      if (!v) return undefined;
      found.push({ from: pos, to: value.end, value: v });
    }
    pos = value.end;
  }
  return found;
}

/** The block with every refused character of literal :authority values replaced by '-' (same length). */
export function rewriteAuthority(block: Buffer): Buffer {
  const lits = findAuthorityLiterals(block);
  if (!lits || lits.every((l) => authorityAccepted(l.value))) return block;
  const parts: Buffer[] = [];
  let at = 0;
  for (const l of lits) {
    parts.push(block.subarray(at, l.from));
    const v = Buffer.from(l.value);
    for (let i = 0; i < v.length; i++) if (!AUTHORITY_OK[v[i]!]) v[i] = 0x2d; // '-'
    parts.push(writeInt(v.length, 7, 0), v);
    at = l.to;
  }
  parts.push(block.subarray(at));
  return Buffer.concat(parts);
}

// ---- HTTP/2 frames

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function frameHeader(len: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUIntBE(len, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

/** The header block fragment of a HEADERS frame (padding and priority stripped). */
function headersFragment(f: Frame): Buffer | undefined {
  let p = f.payload;
  let pad = 0;
  if (f.flags & PADDED) {
    if (p.length < 1) return undefined;
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.flags & PRIORITY) {
    if (p.length < 5) return undefined;
    p = p.subarray(5);
  }
  if (pad > p.length) return undefined;
  return p.subarray(0, p.length - pad);
}

/**
 * Splits a byte stream (after the preface) into frames as they complete, and re-emits them with every
 * header block (HEADERS + CONTINUATIONs) passed through `rewrite`. Anything it cannot make sense of is
 * passed on untouched, for nghttp2 to judge.
 */
class HeaderBlockRewriter {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE.length;
  /** A header block being collected: its fragments, and its frames as they came. */
  private pending: { first: Frame; fragments: Buffer[]; raws: Buffer[]; size: number } | undefined;
  /** Once the stream stops making sense (or a block grows too big to hold), bytes just pass through. */
  private passthrough = false;

  /** `dropAck`: drop the first SETTINGS ACK (the client's answer to the listener's own SETTINGS). */
  constructor(
    private readonly rewrite: (block: Buffer) => Buffer,
    private dropAck: boolean,
  ) {}

  push(chunk: Buffer): Buffer[] {
    if (this.passthrough) return [chunk];
    const out: Buffer[] = [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, this.buf.length);
      out.push(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      this.prefaceLeft -= n;
    }
    while (this.buf.length >= FRAME_HEADER) {
      const len = this.buf.readUIntBE(0, 3);
      if (len > MAX_FRAME) {
        // Larger than the server allows: nghttp2 ends the connection on it; nothing to hold on to.
        return this.giveUp(out);
      }
      if (this.buf.length < FRAME_HEADER + len) break;
      const f: Frame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5),
        payload: this.buf.subarray(FRAME_HEADER, FRAME_HEADER + len),
      };
      const raw = this.buf.subarray(0, FRAME_HEADER + len);
      this.buf = this.buf.subarray(FRAME_HEADER + len);
      out.push(...this.frame(f, raw));
      if (this.passthrough) return this.giveUp(out);
    }
    return out;
  }

  /** Hands on everything held, as it came, and passes all later bytes through. */
  private giveUp(out: Buffer[]): Buffer[] {
    this.passthrough = true;
    if (this.pending) out.push(...this.pending.raws);
    this.pending = undefined;
    if (this.buf.length) out.push(this.buf);
    this.buf = Buffer.alloc(0);
    return out;
  }

  private frame(f: Frame, raw: Buffer): Buffer[] {
    if (this.pending) {
      this.pending.raws.push(raw);
      if (f.type !== CONTINUATION || f.stream !== this.pending.first.stream) {
        // A protocol error the peer made: hand everything on as it came, for nghttp2 to judge.
        this.passthrough = true;
        return [];
      }
      this.pending.fragments.push(f.payload);
      this.pending.size += f.payload.length;
      if (this.pending.size > PEEK_LIMIT) {
        this.passthrough = true; // a header block this large is not etcdctl's; nghttp2 applies its limits
        return [];
      }
      if (f.flags & END_HEADERS) return this.finish();
      return [];
    }
    if (f.type === SETTINGS && f.flags & ACK && this.dropAck) {
      this.dropAck = false;
      return [];
    }
    if (f.type !== HEADERS) return [raw];
    const frag = headersFragment(f);
    if (!frag) return [raw];
    this.pending = { first: f, fragments: [frag], raws: [raw], size: frag.length };
    if (f.flags & END_HEADERS) return this.finish();
    return [];
  }

  private finish(): Buffer[] {
    const p = this.pending!;
    this.pending = undefined;
    const block = Buffer.concat(p.fragments);
    const rewritten = this.rewrite(block);
    // Unchanged, or too big for one frame (not a block etcdctl sends): the frames go on as they came.
    if (rewritten === block || rewritten.length > MAX_FRAME) return p.raws;
    // One HEADERS frame with END_HEADERS; END_STREAM kept; padding and priority dropped (both optional).
    const flags = (p.first.flags & ~(PADDED | PRIORITY)) | END_HEADERS;
    return [frameHeader(rewritten.length, HEADERS, flags, p.first.stream), rewritten];
  }
}

/** Runs bytes from a client through the rewriter; for tests. */
export function rewriteStream(chunks: Buffer[], dropAck = false): Buffer {
  const r = new HeaderBlockRewriter(rewriteAuthority, dropAck);
  return Buffer.concat(chunks.flatMap((c) => r.push(c)));
}

/** What the bytes read so far from a connection tell. */
export interface Peek {
  /** False if this is not an HTTP/2 connection with prior knowledge: pass it on and let the HTTP/2 server judge. */
  http2: boolean;
  /** The first header block is complete, and whether its :authority would be refused. */
  headers?: { refused: boolean };
  /** The client's ACK of the listener's SETTINGS: where it is in the bytes. */
  ack?: { start: number; end: number };
}

export function peek(data: Buffer): Peek {
  const n = Math.min(data.length, PREFACE.length);
  if (!data.subarray(0, n).equals(PREFACE.subarray(0, n))) return { http2: false };
  const res: Peek = { http2: true };
  let pos = PREFACE.length;
  let block: Buffer[] | undefined;
  while (!res.headers && pos + FRAME_HEADER <= data.length) {
    const len = data.readUIntBE(pos, 3);
    const end = pos + FRAME_HEADER + len;
    if (end > data.length) break;
    const f: Frame = {
      type: data[pos + 3]!,
      flags: data[pos + 4]!,
      stream: data.readUInt32BE(pos + 5),
      payload: data.subarray(pos + FRAME_HEADER, end),
    };
    if (f.type === SETTINGS && f.flags & ACK && !res.ack) res.ack = { start: pos, end };
    let frag: Buffer | undefined;
    if (block && f.type === CONTINUATION) frag = f.payload;
    else if (!block && f.type === HEADERS) frag = headersFragment(f);
    if (frag) {
      (block ??= []).push(frag);
      if (f.flags & END_HEADERS) {
        const lits = findAuthorityLiterals(Buffer.concat(block));
        res.headers = { refused: !!lits && lits.some((l) => !authorityAccepted(l.value)) };
      }
    }
    pos = end;
  }
  return res;
}

/** A Duplex over `socket` that rewrites the client's header blocks and passes everything else through. */
function rewritingStream(socket: net.Socket, already: Buffer, dropAck: boolean): Duplex {
  const rewriter = new HeaderBlockRewriter(rewriteAuthority, dropAck);
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  const feed = (chunk: Buffer) => {
    for (const b of rewriter.push(chunk)) if (!d.push(b)) socket.pause();
  };
  feed(already);
  socket.on('data', feed);
  socket.on('end', () => d.push(null));
  socket.on('error', (err) => d.destroy(err));
  socket.on('close', () => d.destroy());
  return d;
}

/** A connection as the gRPC server gets it: with the common name of the client's certificate, over TLS. */
export type ClientConn = Duplex & { tlsCommonName?: string };

/**
 * Listens on host:port and hands every connection to `inject` (the gRPC server's `accept`), through the
 * authority rewriter when the client needs it. With `tlsOptions` the listener speaks TLS (HTTP/2 chosen by
 * ALPN, as gRPC clients do; HTTP/1.1 for the plain endpoints), and each connection carries the common name
 * of the certificate its client presented and the listener verified. Resolves with the bound port.
 */
export function listenForGrpc(
  host: string,
  port: number,
  inject: (conn: ClientConn) => void,
  http1?: (socket: net.Socket) => void,
  tlsOptions?: tls.TlsOptions & { commonName?: (s: net.Socket) => string | undefined },
): Promise<{ server: net.Server; port: number }> {
  const onConnection = (socket: net.Socket) => {
    const cn = tlsOptions?.commonName?.(socket);
    const hand = (conn: ClientConn) => {
      if (cn !== undefined) conn.tlsCommonName = cn;
      inject(conn);
    };
    let seen: Buffer = Buffer.alloc(0);
    let done = false;
    const decide = (p: Peek, timedOut: boolean) => {
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onEarlyError);
      socket.pause();
      if (!p.http2) {
        // Not HTTP/2 with prior knowledge: plain HTTP (/health, /metrics, /version, as etcd answers on its
        // client URLs) if there is a handler for it, else the HTTP/2 server's own refusal.
        socket.unshift(seen);
        if (http1) http1(socket);
        else hand(socket);
        return;
      }
      let rest = seen;
      if (p.ack) rest = Buffer.concat([seen.subarray(0, p.ack.start), seen.subarray(p.ack.end)]);
      if (p.ack && (p.headers ? !p.headers.refused : timedOut)) {
        // The common case: HTTP/2 runs on the native socket, exactly as if the HTTP/2 server had accepted it.
        socket.unshift(rest);
        hand(socket);
      } else hand(rewritingStream(socket, rest, !p.ack));
    };
    let settingsSent = false;
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const p = peek(seen);
      if (p.http2 && !settingsSent) {
        settingsSent = true;
        socket.write(EMPTY_SETTINGS);
      }
      if (!p.http2 || p.headers || seen.length > PEEK_LIMIT) decide(p, false);
    };
    const onEarlyError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(() => {
      if (!done) decide(peek(seen), true);
    }, PEEK_TIMEOUT_MS);
    socket.on('error', onEarlyError);
    socket.on('close', () => clearTimeout(timer));
    socket.on('data', onData);
  };
  let server: net.Server;
  if (tlsOptions) {
    const { commonName: _, ...opts } = tlsOptions;
    server = tls.createServer({ ALPNProtocols: ['http/1.1', 'h2'], ...opts }, (socket) => {
      socket.setNoDelay(true);
      onConnection(socket);
    });
    // A client that fails the handshake (no certificate, an untrusted one, plain HTTP) is dropped quietly.
    server.on('tlsClientError', () => undefined);
  } else server = net.createServer({ noDelay: true }, onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as net.AddressInfo).port });
    });
  });
}
