// The peer transport: one long-lived TCP (or, for https peer URLs, TLS) connection per peer for Raft messages (and calls forwarded to the
// leader), a separate connection per snapshot transfer, a handshake that checks the cluster id and that the
// caller is a member, bounded send buffers, and reconnects with backoff.
import { createServer, type Server, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { clientOptions, dial, serverOptions, type TlsMaterial } from '../tls.js';
import type { Logger } from '../../../common/index.js';
import type { Message, NodeId } from '../../raft/index.js';
import type { Transport } from '../transport.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { encodeFrame, FrameKind, FrameReader, jsonFrame } from './framing.js';

/** Largest message frame (a MsgApp holds up to 1 MiB of entries, one entry up to --max-request-bytes). */
export const MAX_MESSAGE_FRAME = 64 * 1024 * 1024;
/** Snapshot data streams in chunks of this size. */
export const SNAPSHOT_CHUNK = 1024 * 1024;
/** Largest snapshot accepted. */
export const MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** Bytes queued on one peer's socket before messages to it are dropped (and the peer reported unreachable). */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1_000;
/** A rejected handshake (wrong cluster, removed member) is retried slowly: it is a configuration error. */
const REJECTED_BACKOFF_MS = 5_000;
const MAX_PENDING_CALLS = 10_000;
/**
 * A snapshot transfer fails when it makes no progress for this long: no handshake answer, a chunk not taken
 * by the socket, no acknowledgement after the last byte. Raft sends the follower nothing else until it
 * hears how the transfer ended, so a transfer that hangs (a peer that died behind a proxy, a stuck
 * connection) must end soon; a slow one that keeps moving may take as long as it needs.
 */
const SNAPSHOT_STALL_MS = 10_000;

export type Purpose = 'stream' | 'snapshot' | 'join';

export interface Hello {
  purpose: Purpose;
  clusterId: string;
  from: NodeId;
  to: NodeId;
  name: string;
  clientURLs: string[];
  peerURLs: string[];
}

/** What the transport needs from the member it serves. */
export interface PeerHandler {
  readonly self: NodeId;
  clusterId(): string;
  name(): string;
  clientURLs(): string[];
  peerURLs(): string[];
  /** Why a peer may not talk to this member (another cluster, not a member), or undefined if it may. */
  rejectReason(h: Hello): string | undefined;
  /** Whether this member saw `id` removed (the refusal then tells the caller to stop). */
  wasRemoved(id: NodeId): boolean;
  /** A peer says this member was removed from the cluster. */
  onRemoved(): void;
  onMessage(m: Message): void;
  onUnreachable(id: NodeId): void;
  onSnapshotStatus(id: NodeId, ok: boolean): void;
  /** Name and URLs a peer announced in its handshake (peer URLs when it dialed this member). */
  onPeerInfo(id: NodeId, name: string, clientURLs: string[], peerURLs?: string[]): void;
  /** A call forwarded by a follower (lease keep-alive, membership changes) to run here. */
  onCall(op: string, args: unknown): Promise<unknown>;
  /** The membership, for a member joining with --initial-cluster-state existing. */
  membershipForJoin(): unknown;
}

export class PeerCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Call {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

function hostPort(u: string): { host: string; port: number } {
  const url = new URL(u);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
}

/** One outgoing peer: its stream connection, reconnect state and the calls waiting on it. */
class Peer {
  socket: Socket | undefined;
  ready = false;
  private backoff = BACKOFF_MIN_MS;
  private timer: NodeJS.Timeout | undefined;
  private urlIndex = 0;
  private closed = false;
  private corked = false;
  private reported = false;
  readonly calls = new Map<number, Call>();
  snapshotting = false;

  constructor(
    readonly id: NodeId,
    public urls: string[],
    private readonly t: PeerTransport,
  ) {
    if (!t.tlsClient && urls.some((u) => u.startsWith('https:')))
      t.log.warn('a peer has https URLs but this member has no --peer-cert-file/--peer-key-file', {
        peer: id,
        urls: urls.join(','),
      });
    this.dial();
  }

  private dial(): void {
    if (this.closed) return;
    const url = this.urls[this.urlIndex++ % this.urls.length]!;
    const { host, port } = hostPort(url);
    const s = dial(url, host, port, this.t.tlsClient);
    this.socket = s;
    const reader = new FrameReader(MAX_MESSAGE_FRAME);
    let rejected = false;
    const hs = setTimeout(() => s.destroy(new Error('handshake timed out')), HANDSHAKE_TIMEOUT_MS);
    s.on('connect', () => {
      s.setKeepAlive(true, 5_000);
      s.write(jsonFrame(FrameKind.Hello, this.t.hello('stream', this.id)));
    });
    s.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.t.log.warn('bad frame from peer; reconnecting', { peer: this.id, error: String(err) });
        s.destroy();
        return;
      }
      for (const f of frames) {
        if (f.kind === FrameKind.HelloOK) {
          clearTimeout(hs);
          const info = JSON.parse(f.payload.toString('utf8')) as { name: string; clientURLs: string[] };
          this.ready = true;
          this.backoff = BACKOFF_MIN_MS;
          if (this.reported) this.t.log.info('peer connection restored', { peer: this.id });
          this.reported = false;
          this.t.handler.onPeerInfo(this.id, info.name, info.clientURLs);
        } else if (f.kind === FrameKind.HelloErr) {
          clearTimeout(hs);
          rejected = true;
          const { reason, removed } = JSON.parse(f.payload.toString('utf8')) as {
            reason: string;
            removed?: boolean;
          };
          this.t.log.error('peer rejected this member', { peer: this.id, url, reason });
          s.destroy();
          if (removed) this.t.handler.onRemoved();
        } else if (f.kind === FrameKind.RpcResp) {
          const r = JSON.parse(f.payload.toString('utf8')) as {
            id: number;
            result?: unknown;
            error?: { code: number; message: string };
          };
          const c = this.calls.get(r.id);
          if (!c) continue;
          this.calls.delete(r.id);
          clearTimeout(c.timer);
          if (r.error) c.reject(new PeerCallError(r.error.code, r.error.message));
          else c.resolve(r.result);
        }
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(hs);
      const wasReady = this.ready;
      this.ready = false;
      if (this.socket === s) this.socket = undefined;
      for (const [id, c] of this.calls) {
        this.calls.delete(id);
        clearTimeout(c.timer);
        c.reject(new PeerCallError(14, 'etcdserver: leader connection lost'));
      }
      if (this.closed) return;
      if (wasReady || !this.reported) {
        this.t.log.warn('peer unreachable', { peer: this.id, url });
        this.reported = true;
      }
      this.t.handler.onUnreachable(this.id);
      const wait = rejected ? REJECTED_BACKOFF_MS : this.backoff;
      this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
      this.timer = setTimeout(() => this.dial(), wait);
    });
  }

  /** Queues a frame; false when the peer is down or too far behind (the caller reports it unreachable). */
  write(frame: Buffer): boolean {
    const s = this.socket;
    if (!s || !this.ready || s.writableLength + frame.length > MAX_QUEUED_BYTES) return false;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => {
        this.corked = false;
        s.uncork();
      });
    }
    s.write(frame);
    return true;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
  }
}

export class PeerTransport implements Transport {
  private readonly servers: Server[] = [];
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<Socket>();
  private callSeq = 0;
  private closed = false;

  private readonly snapshotStallMs: number;
  /** This member's peer certificate, key and CAs (--peer-cert-file ...), if it has them. */
  private readonly tls: TlsMaterial | undefined;
  /** How this member dials https peer URLs (its --peer-cert-file as client certificate), if it has TLS. */
  readonly tlsClient: tls.ConnectionOptions | undefined;

  constructor(
    readonly handler: PeerHandler,
    readonly log: Logger,
    opts: { snapshotStallMs?: number; tls?: TlsMaterial } = {},
  ) {
    this.snapshotStallMs = opts.snapshotStallMs ?? SNAPSHOT_STALL_MS;
    this.tls = opts.tls;
    this.tlsClient = opts.tls ? clientOptions(opts.tls) : undefined;
  }

  hello(purpose: Purpose, to: NodeId): Hello {
    const h = this.handler;
    return {
      purpose,
      clusterId: h.clusterId(),
      from: h.self,
      to,
      name: h.name(),
      clientURLs: h.clientURLs(),
      peerURLs: h.peerURLs(),
    };
  }

  async listen(urls: string[]): Promise<void> {
    for (const u of urls) {
      const { host, port } = hostPort(u);
      let srv: Server;
      if (u.startsWith('https:')) {
        if (!this.tls) throw new Error(`${u}: an https peer URL needs --peer-cert-file and --peer-key-file`);
        srv = tls.createServer(serverOptions(this.tls), (s) => this.accept(s));
        // A peer that fails the handshake (no certificate, or one no trusted CA signed) never gets a frame in.
        srv.on('tlsClientError', (err, s) =>
          this.log.warn('rejected a peer connection: TLS handshake failed', {
            remote: s.remoteAddress,
            error: err.message,
          }),
        );
      } else srv = createServer((s) => this.accept(s));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      this.servers.push(srv);
    }
  }

  // ------------------------------------------------------------------ sending

  send(messages: Message[]): void {
    for (const m of messages) {
      const p = this.peers.get(m.to);
      if (!p) {
        // Raft waits for the outcome of a snapshot it asked to send: tell it this one went nowhere.
        if (m.type === 'MsgSnap') queueMicrotask(() => this.handler.onSnapshotStatus(m.to, false));
        continue;
      }
      if (m.type === 'MsgSnap') {
        this.sendSnapshot(p, m);
        continue;
      }
      if (!p.write(encodeFrame(FrameKind.Msg, encodeMessage(m)))) this.handler.onUnreachable(m.to);
    }
  }

  addPeer(id: NodeId, urls: string[]): void {
    if (id === this.handler.self || this.closed) return;
    const p = this.peers.get(id);
    if (p) {
      if (p.urls.join(',') !== urls.join(',')) {
        p.close();
        this.peers.set(id, new Peer(id, urls, this));
      }
      return;
    }
    this.peers.set(id, new Peer(id, urls, this));
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  /** Whether the stream connection to a peer is up (for status and tests). */
  connected(id: NodeId): boolean {
    return !!this.peers.get(id)?.ready;
  }

  /** Runs `op` on a peer (the leader) and resolves with its answer; bounded in time and number. */
  call(to: NodeId, op: string, args: unknown, timeoutMs: number): Promise<unknown> {
    const p = this.peers.get(to);
    if (!p || !p.ready) return Promise.reject(new PeerCallError(14, 'etcdserver: leader unreachable'));
    if (p.calls.size >= MAX_PENDING_CALLS)
      return Promise.reject(new PeerCallError(8, 'etcdserver: too many requests'));
    const id = ++this.callSeq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        p.calls.delete(id);
        reject(new PeerCallError(14, 'etcdserver: request timed out'));
      }, timeoutMs);
      p.calls.set(id, { resolve, reject, timer });
      if (!p.write(jsonFrame(FrameKind.RpcReq, { id, op, args }))) {
        p.calls.delete(id);
        clearTimeout(timer);
        reject(new PeerCallError(14, 'etcdserver: leader unreachable'));
      }
    });
  }

  /**
   * Streams a snapshot on its own connection, in chunks, waiting for the socket to drain between them, so
   * heartbeats on the stream connection are never stuck behind it. Raft hears the outcome via
   * reportSnapshot.
   */
  private sendSnapshot(p: Peer, m: Message): void {
    if (p.snapshotting) {
      // Raft sends one snapshot at a time per follower; a second is a retry after a failure we reported.
      return;
    }
    p.snapshotting = true;
    const data = m.snapshot!.data;
    const to = m.to;
    const { host, port } = hostPort(p.urls[0]!);
    const s = dial(p.urls[0]!, host, port, this.tlsClient);
    const reader = new FrameReader(MAX_MESSAGE_FRAME);
    let done = false;
    const t0 = Date.now();
    const finish = (ok: boolean, why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      p.snapshotting = false;
      s.destroy();
      if (ok)
        this.log.info('sent snapshot', {
          peer: to,
          index: m.snapshot!.metadata.index,
          bytes: data.byteLength,
          ms: Date.now() - t0,
        });
      else this.log.warn('snapshot transfer failed', { peer: to, error: why });
      this.handler.onSnapshotStatus(to, ok);
    };
    let timer: NodeJS.Timeout | undefined;
    /** Each step of the transfer restarts the stall timer; `stage` says where it stopped if it fires. */
    const progress = (stage: string) => {
      if (done) return;
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(false, `no progress for ${this.snapshotStallMs} ms (${stage})`),
        this.snapshotStallMs,
      );
    };
    progress('connecting');
    s.on('error', (err) => finish(false, err.message));
    s.on('close', () => finish(false, 'connection closed'));
    s.on('connect', () => {
      progress('waiting for the handshake');
      s.write(jsonFrame(FrameKind.Hello, this.hello('snapshot', to)));
    });
    s.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        finish(false, String(err));
        return;
      }
      for (const f of frames) {
        if (f.kind === FrameKind.HelloErr) finish(false, f.payload.toString('utf8'));
        else if (f.kind === FrameKind.HelloOK) {
          progress('sending');
          void this.streamSnapshot(s, m, progress).catch((e) => finish(false, String(e)));
        } else if (f.kind === FrameKind.SnapAck) {
          const a = JSON.parse(f.payload.toString('utf8')) as { ok: boolean; error?: string };
          finish(a.ok, a.error ?? '');
        }
      }
    });
  }

  private async streamSnapshot(s: Socket, m: Message, progress: (stage: string) => void): Promise<void> {
    const data = m.snapshot!.data;
    const head = encodeMessage(m);
    const size = Buffer.alloc(6);
    size.writeUIntBE(data.byteLength, 0, 6);
    s.write(encodeFrame(FrameKind.SnapBegin, Buffer.concat([size, head])));
    for (let off = 0; off < data.byteLength; off += SNAPSHOT_CHUNK) {
      if (s.destroyed) return;
      const ok = s.write(encodeFrame(FrameKind.SnapChunk, data.subarray(off, off + SNAPSHOT_CHUNK)));
      if (!ok) await new Promise((r) => s.once('drain', r));
      progress(`sending (${Math.min(off + SNAPSHOT_CHUNK, data.byteLength)} of ${data.byteLength} bytes)`);
    }
    s.write(encodeFrame(FrameKind.SnapEnd, new Uint8Array(0)), () =>
      progress('waiting for the acknowledgement'),
    );
  }

  // ------------------------------------------------------------------ receiving

  private accept(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.inbound.add(s);
    s.setNoDelay(true);
    s.on('close', () => this.inbound.delete(s));
    s.on('error', () => undefined);
    const reader = new FrameReader(MAX_MESSAGE_FRAME);
    let hello: Hello | undefined;
    let snap: { msg: Message; buf: Buffer; off: number } | undefined;
    const hs = setTimeout(() => s.destroy(), HANDSHAKE_TIMEOUT_MS);
    s.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log.warn('bad frame from a peer; closing the connection', {
          peer: hello?.from ?? s.remoteAddress,
          error: String(err),
        });
        s.destroy();
        return;
      }
      for (const f of frames) {
        if (s.destroyed) return;
        if (!hello) {
          if (f.kind !== FrameKind.Hello) {
            s.destroy();
            return;
          }
          clearTimeout(hs);
          hello = this.onHello(s, f.payload);
          continue;
        }
        try {
          switch (f.kind) {
            case FrameKind.Msg: {
              const m = decodeMessage(f.payload);
              if (m.from !== hello.from || m.to !== this.handler.self)
                throw new Error('message for someone else');
              this.handler.onMessage(m);
              break;
            }
            case FrameKind.RpcReq:
              this.onCall(s, f.payload);
              break;
            case FrameKind.SnapBegin: {
              if (hello.purpose !== 'snapshot') throw new Error('snapshot on a stream connection');
              const size = f.payload.readUIntBE(0, 6);
              if (size > MAX_SNAPSHOT_BYTES) throw new Error(`snapshot of ${size} bytes is over the limit`);
              const msg = decodeMessage(f.payload.subarray(6));
              if (msg.type !== 'MsgSnap' || !msg.snapshot) throw new Error('SnapBegin without a MsgSnap');
              snap = { msg, buf: Buffer.allocUnsafe(size), off: 0 };
              break;
            }
            case FrameKind.SnapChunk:
              if (!snap || snap.off + f.payload.length > snap.buf.length)
                throw new Error('unexpected snapshot chunk');
              f.payload.copy(snap.buf, snap.off);
              snap.off += f.payload.length;
              break;
            case FrameKind.SnapEnd: {
              if (!snap || snap.off !== snap.buf.length) throw new Error('snapshot ended early');
              snap.msg.snapshot!.data = snap.buf;
              this.log.info('received snapshot', {
                from: hello.from,
                index: snap.msg.snapshot!.metadata.index,
                bytes: snap.buf.length,
              });
              this.handler.onMessage(snap.msg);
              snap = undefined;
              s.write(jsonFrame(FrameKind.SnapAck, { ok: true }));
              break;
            }
            default:
              throw new Error(`unexpected frame kind ${f.kind}`);
          }
        } catch (err) {
          this.log.warn('bad message from a peer; closing the connection', {
            peer: hello.from,
            error: (err as Error).message,
          });
          if (hello.purpose === 'snapshot')
            s.write(jsonFrame(FrameKind.SnapAck, { ok: false, error: String(err) }));
          s.end();
          s.destroy();
          return;
        }
      }
    });
  }

  private onHello(s: Socket, payload: Buffer): Hello | undefined {
    let h: Hello;
    try {
      h = JSON.parse(payload.toString('utf8')) as Hello;
    } catch {
      s.destroy();
      return undefined;
    }
    if (h.purpose === 'join') {
      s.end(jsonFrame(FrameKind.HelloOK, this.handler.membershipForJoin()));
      return undefined;
    }
    const reason = this.handler.rejectReason(h);
    if (reason) {
      this.log.error('rejected a peer connection', {
        from: h.from,
        name: h.name,
        cluster: h.clusterId,
        reason,
      });
      s.end(jsonFrame(FrameKind.HelloErr, { reason, removed: this.handler.wasRemoved(h.from) }));
      return undefined;
    }
    s.write(
      jsonFrame(FrameKind.HelloOK, { name: this.handler.name(), clientURLs: this.handler.clientURLs() }),
    );
    this.handler.onPeerInfo(h.from, h.name, h.clientURLs, h.peerURLs);
    return h;
  }

  private onCall(s: Socket, payload: Buffer): void {
    const req = JSON.parse(payload.toString('utf8')) as { id: number; op: string; args: unknown };
    this.handler.onCall(req.op, req.args).then(
      (result) => {
        if (!s.destroyed) s.write(jsonFrame(FrameKind.RpcResp, { id: req.id, result }));
      },
      (err: { code?: number; message?: string }) => {
        const code = typeof err?.code === 'number' && err.code > 0 && err.code <= 16 ? err.code : 2;
        if (!s.destroyed)
          s.write(
            jsonFrame(FrameKind.RpcResp, {
              id: req.id,
              error: { code, message: String(err?.message ?? err) },
            }),
          );
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    for (const s of this.inbound) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  }
}

/** After the first answer to a join, how long the others get to answer too. */
const JOIN_GRACE_MS = 1_000;

/**
 * Asks the members at `urls` for the cluster's membership (a member started with
 * --initial-cluster-state existing, after `member add`). All are asked at once and the answer of the one
 * that applied the most wins: a member that lags (one that just joined itself) may not have applied the
 * latest changes, and could still list a removed member under the joiner's peer URLs.
 */
export async function fetchMembership(
  urls: string[],
  timeoutMs: number,
  tlsClient?: tls.ConnectionOptions,
): Promise<unknown> {
  const errors: string[] = [];
  const answers: { url: string; v: { appliedIndex?: number } }[] = [];
  await new Promise<void>((done) => {
    let pending = urls.length;
    let grace: NodeJS.Timeout | undefined;
    const settle = () => {
      if (--pending === 0) {
        clearTimeout(grace);
        done();
      }
    };
    if (pending === 0) done();
    for (const u of urls) {
      askMembership(u, timeoutMs, tlsClient).then(
        (v) => {
          answers.push({ url: u, v: v as { appliedIndex?: number } });
          grace ??= setTimeout(done, JOIN_GRACE_MS);
          settle();
        },
        (err: Error) => {
          errors.push(`${u}: ${err.message}`);
          settle();
        },
      );
    }
  });
  if (answers.length === 0)
    throw new Error(`cannot get the cluster membership from any peer (${errors.join('; ')})`);
  answers.sort((a, b) => (b.v.appliedIndex ?? 0) - (a.v.appliedIndex ?? 0));
  return answers[0]!.v;
}

function askMembership(u: string, timeoutMs: number, tlsClient?: tls.ConnectionOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { host, port } = hostPort(u);
    const s = dial(u, host, port, tlsClient);
    const reader = new FrameReader(MAX_MESSAGE_FRAME);
    const timer = setTimeout(() => s.destroy(new Error('timed out')), timeoutMs);
    s.on('connect', () =>
      s.write(
        jsonFrame(FrameKind.Hello, {
          purpose: 'join',
          clusterId: '',
          from: '',
          to: '',
          name: '',
          clientURLs: [],
          peerURLs: [],
        } satisfies Hello),
      ),
    );
    s.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (f.kind === FrameKind.HelloOK) {
            clearTimeout(timer);
            s.destroy();
            resolve(JSON.parse(f.payload.toString('utf8')));
          }
        }
      } catch (err) {
        s.destroy(err as Error);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed'));
    });
  });
}
