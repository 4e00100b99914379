// etcd's gRPC gateway: the v3 API as JSON over HTTP/1 on the client URLs, e.g.
//   curl -X POST http://127.0.0.1:2379/v3/kv/put -d '{"key": "Zm9v", "value": "YmFy"}'
// As etcd's gateway does, each call is made to this member's own gRPC server. JSON follows the proto3
// mapping as etcd prints it: the .proto's field names (camelCase accepted too), int64 as decimal strings,
// bytes as base64, enums by name, zero values left out. Streaming methods answer one {"result": ...} object
// per message; errors are {"error", "message", "code"} with the HTTP status etcd's gateway gives the code.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { protoDir } from './proto.js';

/** Metadata on the gateway's calls: they come with this member's certificate, which names no user. */
export const GATEWAY_HEADER = 'etcd-gateway';

interface Route {
  /** The gRPC method path, e.g. /etcdserverpb.KV/Range. */
  path: string;
  request: protobuf.Type;
  response: protobuf.Type;
  requestStream: boolean;
  responseStream: boolean;
}

/** Gateway paths (after /v3/ or /v3beta/) as etcd 3.4 serves them, to [package.Service, method]. */
const PATHS: Record<string, [string, string]> = {
  'kv/range': ['etcdserverpb.KV', 'Range'],
  'kv/put': ['etcdserverpb.KV', 'Put'],
  'kv/deleterange': ['etcdserverpb.KV', 'DeleteRange'],
  'kv/txn': ['etcdserverpb.KV', 'Txn'],
  'kv/compaction': ['etcdserverpb.KV', 'Compact'],
  watch: ['etcdserverpb.Watch', 'Watch'],
  'lease/grant': ['etcdserverpb.Lease', 'LeaseGrant'],
  'lease/revoke': ['etcdserverpb.Lease', 'LeaseRevoke'],
  'kv/lease/revoke': ['etcdserverpb.Lease', 'LeaseRevoke'],
  'lease/keepalive': ['etcdserverpb.Lease', 'LeaseKeepAlive'],
  'lease/timetolive': ['etcdserverpb.Lease', 'LeaseTimeToLive'],
  'kv/lease/timetolive': ['etcdserverpb.Lease', 'LeaseTimeToLive'],
  'lease/leases': ['etcdserverpb.Lease', 'LeaseLeases'],
  'kv/lease/leases': ['etcdserverpb.Lease', 'LeaseLeases'],
  'cluster/member/add': ['etcdserverpb.Cluster', 'MemberAdd'],
  'cluster/member/remove': ['etcdserverpb.Cluster', 'MemberRemove'],
  'cluster/member/update': ['etcdserverpb.Cluster', 'MemberUpdate'],
  'cluster/member/list': ['etcdserverpb.Cluster', 'MemberList'],
  'cluster/member/promote': ['etcdserverpb.Cluster', 'MemberPromote'],
  'maintenance/alarm': ['etcdserverpb.Maintenance', 'Alarm'],
  'maintenance/status': ['etcdserverpb.Maintenance', 'Status'],
  'maintenance/defragment': ['etcdserverpb.Maintenance', 'Defragment'],
  'maintenance/hash': ['etcdserverpb.Maintenance', 'Hash'],
  'maintenance/snapshot': ['etcdserverpb.Maintenance', 'Snapshot'],
  'maintenance/transfer-leadership': ['etcdserverpb.Maintenance', 'MoveLeader'],
  'lock/lock': ['v3lockpb.Lock', 'Lock'],
  'lock/unlock': ['v3lockpb.Lock', 'Unlock'],
  'election/campaign': ['v3electionpb.Election', 'Campaign'],
  'election/proclaim': ['v3electionpb.Election', 'Proclaim'],
  'election/leader': ['v3electionpb.Election', 'Leader'],
  'election/observe': ['v3electionpb.Election', 'Observe'],
  'election/resign': ['v3electionpb.Election', 'Resign'],
  'auth/enable': ['etcdserverpb.Auth', 'AuthEnable'],
  'auth/disable': ['etcdserverpb.Auth', 'AuthDisable'],
  'auth/authenticate': ['etcdserverpb.Auth', 'Authenticate'],
  'auth/user/add': ['etcdserverpb.Auth', 'UserAdd'],
  'auth/user/get': ['etcdserverpb.Auth', 'UserGet'],
  'auth/user/list': ['etcdserverpb.Auth', 'UserList'],
  'auth/user/delete': ['etcdserverpb.Auth', 'UserDelete'],
  'auth/user/changepw': ['etcdserverpb.Auth', 'UserChangePassword'],
  'auth/user/grant': ['etcdserverpb.Auth', 'UserGrantRole'],
  'auth/user/revoke': ['etcdserverpb.Auth', 'UserRevokeRole'],
  'auth/role/add': ['etcdserverpb.Auth', 'RoleAdd'],
  'auth/role/get': ['etcdserverpb.Auth', 'RoleGet'],
  'auth/role/list': ['etcdserverpb.Auth', 'RoleList'],
  'auth/role/delete': ['etcdserverpb.Auth', 'RoleDelete'],
  'auth/role/grant': ['etcdserverpb.Auth', 'RoleGrantPermission'],
  'auth/role/revoke': ['etcdserverpb.Auth', 'RoleRevokePermission'],
};

/** The HTTP status etcd's gateway answers a gRPC status code with. */
const HTTP_STATUS = [200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401];

const TO_JSON: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false };
/** Largest request body read (etcd's default --max-request-bytes is 1.5 MiB; base64 and JSON add a third). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

class BadRequest extends Error {}

export class GrpcGateway {
  private readonly routes = new Map<string, Route>();
  private readonly client: grpc.Client;

  /**
   * `target`: this member's own gRPC address (host:port); `credentials` when it is served over TLS (this
   * member's own certificate as the client's, as etcd's gateway does).
   */
  constructor(target: string, credentials = grpc.credentials.createInsecure()) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, file) => join(protoDir(), file);
    root.loadSync(['rpc.proto', 'v3lock.proto', 'v3election.proto'], { keepCase: true });
    root.resolveAll();
    for (const [p, [service, method]] of Object.entries(PATHS)) {
      const m = root.lookupService(service).methods[method]!;
      this.routes.set(p, {
        path: `/${service}/${method}`,
        request: m.resolvedRequestType!,
        response: m.resolvedResponseType!,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
      });
    }
    this.client = new grpc.Client(target, credentials, {
      'grpc.max_receive_message_length': -1,
    });
  }

  /** True if `url` is a gateway path (/v3/... or /v3beta/...). */
  static handles(url: string): boolean {
    return /^\/v3(beta)?\//.test(url);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!.replace(/^\/v3(beta)?\//, '');
    const route = this.routes.get(path);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain' });
      res.end('Method Not Allowed\n');
      return;
    }
    let messages: Buffer[];
    try {
      messages = parseBody(route.request, await readBody(req));
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      sendError(res, grpc.status.INVALID_ARGUMENT, err.message);
      return;
    }
    const pass = (b: Buffer) => b;
    // As etcd's gateway: the token from Authenticate comes in the Authorization header.
    const md = new grpc.Metadata();
    md.set(GATEWAY_HEADER, '1');
    const token = req.headers.authorization;
    if (token) md.set('token', token);
    if (!route.requestStream && !route.responseStream) {
      this.client.makeUnaryRequest(route.path, pass, pass, messages[0]!, md, (err, out) => {
        if (err) sendError(res, err.code, err.details);
        else sendJSON(res, 200, toJSON(route.response, out!));
      });
      return;
    }
    const call = route.requestStream
      ? this.client.makeBidiStreamRequest(route.path, pass, pass, md)
      : this.client.makeServerStreamRequest(route.path, pass, pass, messages[0]!, md);
    let started = false;
    call.on('data', (b: Buffer) => {
      if (!started) {
        started = true;
        res.writeHead(200, { 'content-type': 'application/json' });
      }
      res.write(JSON.stringify({ result: toJSON(route.response, b) }) + '\n');
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.CANCELLED) return;
      if (!started) sendError(res, err.code, err.details);
      else res.end(JSON.stringify({ error: { grpc_code: err.code, message: err.details } }) + '\n');
    });
    call.on('end', () => res.end());
    // The client going away cancels the call (a watch otherwise runs until then).
    res.on('close', () => call.cancel());
    if (route.requestStream) {
      const duplex = call as grpc.ClientDuplexStream<Buffer, Buffer>;
      for (const m of messages) duplex.write(m);
      // A watch keeps its stream open for the events to come, as etcd's gateway does; the others end
      // once their requests are answered.
      if (route.path !== '/etcdserverpb.Watch/Watch') duplex.end();
    }
  }

  close(): void {
    this.client.close();
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** The body's JSON object(s) (a streaming call may send several, one after another), encoded. */
function parseBody(type: protobuf.Type, text: string): Buffer[] {
  const objects: unknown[] = [];
  for (const chunk of splitJSON(text)) {
    try {
      objects.push(JSON.parse(chunk));
    } catch (err) {
      throw new BadRequest((err as Error).message);
    }
  }
  if (objects.length === 0) objects.push({});
  return objects.map((o) => {
    const fields = normalize(type, o);
    let msg: protobuf.Message;
    try {
      msg = type.fromObject(fields as Record<string, unknown>);
    } catch (err) {
      throw new BadRequest((err as Error).message); // e.g. bytes that are not base64
    }
    const invalid = type.verify(msg);
    if (invalid) throw new BadRequest(invalid);
    return Buffer.from(type.encode(msg).finish());
  });
}

/** Splits concatenated JSON objects ({...}{...} or one per line) at their top-level closing braces. */
function splitJSON(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(text.slice(start, i + 1));
    else if (depth === 0 && !/\s/.test(c!))
      throw new BadRequest(`invalid character '${c}' in the request body`);
  }
  if (depth !== 0 || inString) throw new BadRequest('unexpected EOF');
  return out;
}

/** Field names as in the .proto, lowerCamelCase accepted (proto3 JSON); unknown fields are ignored. */
function normalize(type: protobuf.Type, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new BadRequest(`${type.fullName.slice(1)}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const field = type.fields[k] ?? type.fields[k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())];
    if (!field) continue; // etcd's gateway ignores fields it does not know
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type && x !== null) {
      out[field.name] = field.repeated
        ? (Array.isArray(x) ? x : [x]).map((e) => normalize(sub, e))
        : normalize(sub, x);
    } else out[field.name] = x;
  }
  return out;
}

/** A response as etcd's gateway prints it: zero values left out even when they were on the wire. */
function toJSON(type: protobuf.Type, bytes: Buffer): unknown {
  return withoutZeros(type, type.toObject(type.decode(bytes), TO_JSON));
}

function withoutZeros(type: protobuf.Type, o: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(o)) {
    const field = type.fields[k];
    const sub = field?.resolvedType;
    if (Array.isArray(v)) {
      if (v.length === 0) delete o[k];
      else if (sub instanceof protobuf.Type)
        v.forEach((e) => withoutZeros(sub, e as Record<string, unknown>));
    } else if (sub instanceof protobuf.Type) {
      if (v && typeof v === 'object') withoutZeros(sub, v as Record<string, unknown>);
    } else if (sub instanceof protobuf.Enum) {
      if (sub.values[v as string] === 0) delete o[k];
    } else if (v === '0' || v === 0 || v === false || v === '') delete o[k];
  }
  return o;
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJSON(res, HTTP_STATUS[code] ?? 500, { error: message, message, code });
}
