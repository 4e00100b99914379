// The etcd v3 gRPC services (KV, Watch, Lease, Cluster, Maintenance, Auth, Lock, Election) over an
// EtcdBackend, served by our HTTP/2 gRPC server (rpcserver.ts) on the --listen-client-urls.
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { EtcdBackend, Msg } from './backend.js';
import { fromWire, toWire } from './convert.js';
import { loadProtos } from './proto.js';
import { RpcError, toServiceError } from './status.js';
import { Concurrency } from './concurrency.js';
import { encodeWatchFrame, kvServiceWithEncoders } from './wire.js';
import { listenForGrpc } from './authority.js';
import { GATEWAY_HEADER } from './gateway.js';
import { RpcServer, type StreamCall, type UnaryCall, type UnaryHandler } from './rpcserver.js';
import type { Server, Socket } from 'node:net';
import type { AuthInfo } from '../auth/index.js';

type Handlers = Record<string, UnaryHandler | ((call: StreamCall) => void)>;

/** Bytes of gRPC framing etcd allows on top of --max-request-bytes before the transport refuses. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Snapshot stream chunk, as etcd's (32 KiB). */
const SNAPSHOT_CHUNK = 32 * 1024;
/** Keep-alive requests in flight per stream before we stop reading (bounds a flooding client). */
const MAX_KEEPALIVES_IN_FLIGHT = 64;

export class EtcdGrpcServer {
  readonly server: RpcServer;
  private readonly concurrency: Concurrency;
  private readonly listeners: Server[] = [];

  constructor(
    private readonly backend: EtcdBackend,
    opts: { maxConcurrentStreams?: number } = {},
  ) {
    this.server = new RpcServer({
      maxReceiveMessageBytes: backend.maxRequestBytes + GRPC_OVERHEAD_BYTES,
      // etcd's default is 2^32-1 (--max-concurrent-streams). With a limit of 1,000, a grpc-js client making
      // 5,000 concurrent calls on one connection saw most of them fail: node:http2 reset the streams over
      // the limit with INTERNAL_ERROR, which clients do not retry. etcd served all of them.
      maxConcurrentStreams: opts.maxConcurrentStreams ?? 0xffffffff,
    });
    this.concurrency = new Concurrency(backend);
    const p = loadProtos();
    this.server.addService(kvServiceWithEncoders(p.KV.service), this.kv());
    this.server.addService(p.Watch.service, {
      Watch: (call: StreamCall) => this.watch(call),
    });
    this.server.addService(p.Lease.service, this.lease());
    this.server.addService(p.Cluster.service, this.cluster());
    this.server.addService(p.Maintenance.service, this.maintenance());
    this.server.addService(p.Auth.service, this.auth());
    this.server.addService(p.Lock.service, this.lock());
    this.server.addService(p.Election.service, this.election());
  }

  /**
   * Binds every address (host:port; port 0 picks a free one); resolves with the ports actually bound.
   * Connections are accepted by our own listener, which fixes up etcdctl's :authority (see authority.ts);
   * plain HTTP/1 connections go to `http1` when given (etcd answers /health and /metrics on its client URLs).
   */
  async listen(
    addrs: string[],
    http1?: (socket: Socket) => void,
    tlsFor?: (index: number) => Parameters<typeof listenForGrpc>[4],
  ): Promise<number[]> {
    const ports: number[] = [];
    for (const [i, a] of addrs.entries()) {
      const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(a);
      if (!m) throw new Error(`cannot listen on ${a}: not host:port`);
      try {
        const l = await listenForGrpc(
          m[1]!,
          Number(m[2]),
          (conn) => this.server.accept(conn),
          http1,
          tlsFor?.(i),
        );
        this.listeners.push(l.server);
        ports.push(l.port);
      } catch (err) {
        throw new Error(`cannot listen on ${a}: ${(err as Error).message}`, { cause: err });
      }
    }
    return ports;
  }

  /** Stops accepting calls; open streams get a short grace period, then are cut. */
  async close(graceMs = 2000): Promise<void> {
    this.concurrency.close();
    for (const l of this.listeners) l.close();
    await this.server.close(graceMs);
  }

  /**
   * A unary handler around `fn`. `who()` gives the caller when auth is on, from the call's "token" metadata;
   * only the calls that check permissions ask (etcd ignores a token elsewhere, even a stale one).
   */
  private unary(
    service: string,
    method: string,
    fn: (req: any, signal: () => AbortSignal, who: () => AuthInfo | undefined) => Promise<Msg>,
  ): UnaryHandler {
    return (call: UnaryCall, cb) => {
      const t0 = process.hrtime.bigint();
      // Only the calls that may wait (Lock, Campaign) need to learn that the client went away.
      let ac: AbortController | undefined;
      const signal = () => {
        if (!ac) {
          ac = new AbortController();
          call.on('cancelled', () => ac!.abort());
          if (call.cancelled) ac.abort();
        }
        return ac.signal;
      };
      let req: any;
      try {
        req = fromWire(call.request);
      } catch (err) {
        cb({ code: status.INVALID_ARGUMENT, details: (err as Error).message });
        return;
      }
      const who = () => this.caller(call);
      let result: Promise<Msg>;
      try {
        result = fn(req, signal, who);
      } catch (err) {
        result = Promise.reject(err);
      }
      result.then(
        (resp) => {
          this.observe(service, method, 'unary', status.OK, t0);
          cb(null, toWire(resp));
        },
        (err) => {
          const se = toServiceError(err);
          this.observe(service, method, 'unary', se.code ?? status.UNKNOWN, t0);
          cb(se);
        },
      );
    };
  }

  /**
   * Who makes a call: its "token" metadata, or else (with --client-cert-auth) its client certificate's
   * common name. Not for the JSON gateway's calls, whose certificate is this member's own, as in etcd.
   */
  private caller(call: UnaryCall | StreamCall): AuthInfo | undefined {
    return this.backend.authInfo(call.metadata('token'), () =>
      call.metadata(GATEWAY_HEADER) ? undefined : call.commonName(),
    );
  }

  private observe(service: string, method: string, type: string, code: number, t0: bigint): void {
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const pkg = service === 'Lock' ? 'v3lockpb' : service === 'Election' ? 'v3electionpb' : 'etcdserverpb';
    this.backend.observeRpc?.(`${pkg}.${service}`, method, code, s, type);
  }

  private kv(): Handlers {
    const b = this.backend;
    return {
      Range: this.unary('KV', 'Range', async (r, _, who) => b.range(r, who())),
      Put: this.unary('KV', 'Put', async (r, _, who) => b.put(r, who())),
      DeleteRange: this.unary('KV', 'DeleteRange', async (r, _, who) => b.deleteRange(r, who())),
      Txn: this.unary('KV', 'Txn', async (r, _, who) => b.txn(r, who())),
      Compact: this.unary('KV', 'Compact', (r) => b.compact(r)),
    };
  }

  private watchWrites: { write: (b: Buffer) => void; bytes: Buffer }[] = [];

  /**
   * Watch responses produced while applying a batch are written after the batch's unary answers (headers,
   * message and trailers, which node:http2 sends one event-loop turn apart) have left, so that a client
   * waiting on its write's answer gets it before the events that write caused to its watchers. Order per
   * stream is kept: every response of a stream goes through this one queue.
   */
  private deferWatchWrite(write: (b: Buffer) => void, bytes: Buffer): void {
    this.watchWrites.push({ write, bytes });
    if (this.watchWrites.length > 1) return;
    setImmediate(() =>
      setImmediate(() => {
        const q = this.watchWrites;
        this.watchWrites = [];
        for (const w of q) w.write(w.bytes);
      }),
    );
  }

  private watch(call: StreamCall): void {
    let paused = false;
    let closed = false;
    const write = (bytes: Buffer) => {
      if (closed) return;
      // write() returning false means the client is not reading fast enough: stop producing until the
      // transport drains, so a stuck client holds a bounded buffer and its watchers fall back to
      // catching up from history.
      if (!call.writeFramed(bytes) && !paused) {
        paused = true;
        ws.pause();
      }
    };
    const ws = this.backend.watchStream((resp) => {
      if (closed) return;
      this.deferWatchWrite(write, encodeWatchFrame(resp));
    });
    call.on('drain', () => {
      if (paused && !closed) {
        paused = false;
        ws.resume();
      }
    });
    const t0 = process.hrtime.bigint();
    const close = () => {
      if (closed) return;
      closed = true;
      ws.close();
      this.observe('Watch', 'Watch', 'bidi_stream', status.OK, t0);
    };
    call.on('data', (raw: any) => {
      try {
        const req = fromWire<Msg>(raw);
        switch (req.requestUnion) {
          case 'createRequest': {
            const c = req.createRequest;
            if (!this.backend.watchPermitted(this.caller(call), c.key, c.rangeEnd)) {
              // etcd answers a watch the caller may not read with a created-and-canceled response.
              this.deferWatchWrite(
                write,
                encodeWatchFrame({
                  header: this.backend.header(),
                  watchId: -1,
                  created: true,
                  canceled: true,
                  cancelReason: 'rpc error: code = PermissionDenied desc = etcdserver: permission denied',
                }),
              );
              break;
            }
            ws.watch(c);
            break;
          }
          case 'cancelRequest':
            ws.cancel(Number(req.cancelRequest.watchId));
            break;
          case 'progressRequest':
            ws.requestProgress();
            break;
          default:
            break;
        }
      } catch (err) {
        close();
        call.destroy(Object.assign(new Error((err as Error).message), toServiceError(err)));
      }
    });
    // The client closing its side (no more requests) leaves the watchers running, as etcd does: the stream
    // ends when the client cancels it or goes away.
    call.on('error', close);
    call.on('close', close);
    call.on('cancelled', close);
  }

  private lease(): Handlers {
    const b = this.backend;
    return {
      LeaseGrant: this.unary('Lease', 'LeaseGrant', (r) => b.leaseGrant(r)),
      LeaseRevoke: this.unary('Lease', 'LeaseRevoke', async (r, _, who) => b.leaseRevoke(r, who())),
      LeaseTimeToLive: this.unary('Lease', 'LeaseTimeToLive', (r) => b.leaseTimeToLive(r)),
      LeaseLeases: this.unary('Lease', 'LeaseLeases', () => b.leaseLeases()),
      LeaseKeepAlive: (call: StreamCall) => {
        const t0 = process.hrtime.bigint();
        call.on('close', () => this.observe('Lease', 'LeaseKeepAlive', 'bidi_stream', status.OK, t0));
        let inFlight = 0;
        let chain = Promise.resolve();
        let done = false;
        call.on('data', (raw: any) => {
          const id = fromWire<Msg>(raw).ID as bigint;
          inFlight++;
          if (inFlight >= MAX_KEEPALIVES_IN_FLIGHT) call.pause();
          const p = b.leaseKeepAlive(id);
          // Responses go out in request order.
          chain = chain.then(async () => {
            try {
              const ttl = await p;
              if (!done) call.write(toWire({ header: b.header(), ID: id, TTL: ttl }));
            } catch (err) {
              if (!done) {
                done = true;
                call.destroy(Object.assign(new Error((err as Error).message), toServiceError(err)));
              }
            } finally {
              inFlight--;
              if (inFlight < MAX_KEEPALIVES_IN_FLIGHT) call.resume();
            }
          });
        });
        call.on('end', () => {
          void chain.then(() => {
            if (!done) {
              done = true;
              call.end();
            }
          });
        });
        call.on('error', () => (done = true));
        call.on('cancelled', () => (done = true));
      },
    };
  }

  private cluster(): Handlers {
    const b = this.backend;
    const list = () => b.members().map(memberToWire);
    return {
      MemberList: this.unary('Cluster', 'MemberList', async () => ({ header: b.header(), members: list() })),
      MemberAdd: this.unary('Cluster', 'MemberAdd', async (r) => {
        const m = await b.memberAdd(r.peerURLs ?? [], !!r.isLearner);
        return { header: b.header(), member: memberToWire(m), members: list() };
      }),
      MemberRemove: this.unary('Cluster', 'MemberRemove', async (r) => {
        await b.memberRemove(r.ID);
        return { header: b.header(), members: list() };
      }),
      MemberUpdate: this.unary('Cluster', 'MemberUpdate', async (r) => {
        await b.memberUpdate(r.ID, r.peerURLs ?? []);
        return { header: b.header(), members: list() };
      }),
      MemberPromote: this.unary('Cluster', 'MemberPromote', async (r) => {
        await b.memberPromote(r.ID);
        return { header: b.header(), members: list() };
      }),
    };
  }

  private maintenance(): Handlers {
    const b = this.backend;
    return {
      Alarm: this.unary('Maintenance', 'Alarm', (r) => b.alarm(r)),
      Status: this.unary('Maintenance', 'Status', async () => ({
        header: b.header(),
        ...(await b.status()),
      })),
      Defragment: this.unary('Maintenance', 'Defragment', async (_, __, who) => {
        b.checkAdmin(who());
        await b.defragment();
        return { header: b.header() };
      }),
      Hash: this.unary('Maintenance', 'Hash', async (_, __, who) => {
        b.checkAdmin(who());
        return { header: b.header(), hash: await b.hash() };
      }),
      HashKV: this.unary('Maintenance', 'HashKV', async (r, _, who) => {
        b.checkAdmin(who());
        const h = await b.hashKV(r.revision ?? 0);
        // As etcd: the header carries the revision the store was at, not the one hashed.
        return { header: b.header(h.currentRevision), hash: h.hash, compactRevision: h.compactRevision };
      }),
      MoveLeader: this.unary('Maintenance', 'MoveLeader', async (r, _, who) => {
        b.checkAdmin(who());
        await b.moveLeader(r.targetID);
        return { header: b.header() };
      }),
      Snapshot: (call: StreamCall) => void this.snapshot(call),
    };
  }

  /** Streams a backup: the state machine's snapshot bytes followed by their sha256, as etcd appends one. */
  private async snapshot(call: StreamCall): Promise<void> {
    const t0 = process.hrtime.bigint();
    try {
      this.backend.checkAdmin(this.caller(call));
      const snap = await this.backend.snapshot();
      const header = toWire(this.backend.header(snap.revision));
      const sha = createHash('sha256');
      let remaining = snap.size + 32;
      let first = true;
      const send = async (blob: Buffer) => {
        remaining -= blob.length;
        const ok = call.write({
          header: first ? header : undefined,
          remainingBytes: String(remaining),
          blob,
        });
        first = false;
        if (!ok) await new Promise<void>((r) => call.once('drain', () => r()));
      };
      for await (const chunk of snap.chunks) {
        sha.update(chunk);
        for (let off = 0; off < chunk.length; off += SNAPSHOT_CHUNK) {
          if (call.cancelled) return;
          await send(chunk.subarray(off, off + SNAPSHOT_CHUNK));
        }
      }
      if (remaining !== 32) throw new RpcError(status.INTERNAL, 'snapshot size changed while streaming');
      await send(sha.digest());
      call.end();
      this.observe('Maintenance', 'Snapshot', 'server_stream', status.OK, t0);
    } catch (err) {
      const se = toServiceError(err);
      this.observe('Maintenance', 'Snapshot', 'server_stream', se.code ?? status.UNKNOWN, t0);
      call.destroy(Object.assign(new Error(se.details ?? 'snapshot failed'), se));
    }
  }

  private auth(): Handlers {
    const b = this.backend;
    const done = (p: Promise<unknown>) => p.then(() => ({ header: b.header() }));
    const perm = (p: Msg) => ({
      permType: p.permType ?? 0,
      key: p.key ?? EMPTY,
      rangeEnd: p.rangeEnd ?? EMPTY,
    });
    return {
      AuthStatus: this.unary('Auth', 'AuthStatus', async () => ({ header: b.header(), ...b.authStatus() })),
      AuthEnable: this.unary('Auth', 'AuthEnable', async (_, __, who) => done(b.authEnable(who()))),
      AuthDisable: this.unary('Auth', 'AuthDisable', async (_, __, who) => done(b.authDisable(who()))),
      Authenticate: this.unary('Auth', 'Authenticate', async (r) => ({
        header: b.header(),
        token: await b.authenticate(r.name ?? '', r.password ?? ''),
      })),
      UserAdd: this.unary('Auth', 'UserAdd', async (r, _, who) =>
        done(b.userAdd(r.name ?? '', r.password ?? '', !!r.options?.noPassword, who())),
      ),
      UserGet: this.unary('Auth', 'UserGet', async (r, _, who) => ({
        header: b.header(),
        roles: await b.userGet(r.name ?? '', who()),
      })),
      UserList: this.unary('Auth', 'UserList', async (_, __, who) => ({
        header: b.header(),
        users: await b.userList(who()),
      })),
      UserDelete: this.unary('Auth', 'UserDelete', async (r, _, who) =>
        done(b.userDelete(r.name ?? '', who())),
      ),
      UserChangePassword: this.unary('Auth', 'UserChangePassword', async (r, _, who) =>
        done(b.userChangePassword(r.name ?? '', r.password ?? '', who())),
      ),
      UserGrantRole: this.unary('Auth', 'UserGrantRole', async (r, _, who) =>
        done(b.userGrantRole(r.user ?? '', r.role ?? '', who())),
      ),
      UserRevokeRole: this.unary('Auth', 'UserRevokeRole', async (r, _, who) =>
        done(b.userRevokeRole(r.name ?? '', r.role ?? '', who())),
      ),
      RoleAdd: this.unary('Auth', 'RoleAdd', async (r, _, who) => done(b.roleAdd(r.name ?? '', who()))),
      RoleGet: this.unary('Auth', 'RoleGet', async (r, _, who) => ({
        header: b.header(),
        perm: await b.roleGet(r.role ?? '', who()),
      })),
      RoleList: this.unary('Auth', 'RoleList', async (_, __, who) => ({
        header: b.header(),
        roles: await b.roleList(who()),
      })),
      RoleDelete: this.unary('Auth', 'RoleDelete', async (r, _, who) =>
        done(b.roleDelete(r.role ?? '', who())),
      ),
      RoleGrantPermission: this.unary('Auth', 'RoleGrantPermission', async (r, _, who) =>
        done(b.roleGrantPermission(r.name ?? '', perm(r.perm ?? {}), who())),
      ),
      RoleRevokePermission: this.unary('Auth', 'RoleRevokePermission', async (r, _, who) =>
        done(b.roleRevokePermission(r.role ?? '', r.key ?? EMPTY, r.rangeEnd ?? EMPTY, who())),
      ),
    };
  }

  /**
   * The lock and election services act for their caller: with auth on, their reads and writes are checked
   * against the caller's permissions, as etcd's (which call its KV API with the caller's token) are.
   */
  private concurrencyFor(who: AuthInfo | undefined): Concurrency {
    if (!who) return this.concurrency;
    const b = this.backend;
    const view: EtcdBackend = Object.create(b);
    Object.assign(view, {
      range: (r: Msg) => b.range(r, who),
      put: (r: Msg) => b.put(r, who),
      deleteRange: (r: Msg) => b.deleteRange(r, who),
      txn: (r: Msg) => b.txn(r, who),
      leaseRevoke: (r: Msg) => b.leaseRevoke(r, who),
    });
    return this.concurrency.through(view);
  }

  private lock(): Handlers {
    const c = (who: () => AuthInfo | undefined) => this.concurrencyFor(who());
    return {
      Lock: this.unary('Lock', 'Lock', async (r, signal, who) => {
        const key = await c(who).lock(r.name, r.lease, signal());
        return { header: this.backend.header(), key };
      }),
      Unlock: this.unary('Lock', 'Unlock', async (r, _, who) => {
        await c(who).unlock(r.key);
        return { header: this.backend.header() };
      }),
    };
  }

  private election(): Handlers {
    const c = (who: () => AuthInfo | undefined) => this.concurrencyFor(who());
    const b = this.backend;
    return {
      Campaign: this.unary('Election', 'Campaign', async (r, signal, who) => {
        const leader = await c(who).campaign(r.name, r.lease, r.value, signal());
        return { header: b.header(), leader };
      }),
      Proclaim: this.unary('Election', 'Proclaim', async (r, _, who) => {
        await c(who).proclaim(r.leader, r.value);
        return { header: b.header() };
      }),
      Leader: this.unary('Election', 'Leader', async (r, _, who) => ({
        header: b.header(),
        kv: await c(who).leader(r.name),
      })),
      Resign: this.unary('Election', 'Resign', async (r, _, who) => {
        await c(who).resign(r.leader);
        return { header: b.header() };
      }),
      Observe: (call: StreamCall) => {
        const req = fromWire<Msg>(call.request);
        let conc: Concurrency;
        try {
          conc = this.concurrencyFor(this.caller(call));
        } catch (err) {
          call.destroy(Object.assign(new Error(String(err)), toServiceError(err)));
          return;
        }
        const stop = conc.observe(
          req.name,
          (kv) => {
            call.write(toWire({ header: b.header(), kv }));
          },
          (err) => call.destroy(Object.assign(new Error(String(err)), toServiceError(err))),
        );
        call.on('cancelled', stop);
        call.on('close', stop);
      },
    };
  }
}

const EMPTY = Buffer.alloc(0);

function memberToWire(m: {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}): Msg {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export { RpcError };
