// Request plumbing: URL -> resource, bounded body reading, YAML/JSON decoding, content negotiation.
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as yaml from 'js-yaml';
import { decodeProtobuf } from './protobuf.js';
import {
  StatusError,
  badRequest,
  requestEntityTooLarge,
  unsupportedMediaType,
  resourceByName,
  type ResourceInfo,
  type Status,
} from '../apimachinery/index.js';

export interface Target {
  info: ResourceInfo;
  group: string;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Parses /api/v1/... and /apis/<g>/<v>/... resource paths; undefined when the path is not a resource path. */
export function parseResourcePath(path: string): {
  target?: Target;
  groupVersion?: { group: string; version: string };
  unknown?: string;
} {
  const segs = path.split('/').filter((s) => s !== '');
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 3) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else {
    return {};
  }
  if (rest.length === 0) return { groupVersion: { group, version } };
  const gv = { group, version };
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const inner = resourceByName(group, rest[2]);
    if (inner && inner.namespaced) {
      namespace = decodeURIComponent(rest[1]);
      rest = rest.slice(2);
    }
  }
  const info = resourceByName(group, rest[0]);
  if (!info || info.version !== version) return { groupVersion: gv, unknown: rest[0] };
  if (rest.length > 3) return { groupVersion: gv, unknown: rest.join('/') };
  const name = rest[1] !== undefined ? decodeURIComponent(rest[1]) : undefined;
  const subresource = rest[2];
  if (subresource !== undefined && !info.subresources.includes(subresource))
    return { groupVersion: gv, unknown: `${rest[0]}/${subresource}` };
  return { target: { info, group, version, namespace, name, subresource } };
}

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads the whole body, refusing more than `limit` bytes with 413 before buffering it all. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      req.resume();
      reject(new StatusError(requestEntityTooLarge(limit)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new StatusError(requestEntityTooLarge(limit)));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

const YAML_TYPES = new Set([
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'application/apply-patch+yaml',
]);
export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
export const BODY_TYPES = ['application/json', 'application/yaml', PROTOBUF];

/** Decodes a JSON or YAML body to a value; malformed input is a 400 with the parser's message. */
export function decodeBody(buf: Buffer, contentType: string, accepted: string[] = BODY_TYPES): unknown {
  const mt = mediaType(contentType) || 'application/json';
  if (!accepted.includes(mt) && !(mt === 'application/x-yaml' && accepted.includes('application/yaml'))) {
    throw new StatusError(unsupportedMediaType(mt, accepted));
  }
  if (mt === PROTOBUF) return decodeProtobuf(buf);
  const text = buf.toString('utf8');
  if (text.trim() === '') throw new StatusError(badRequest('the request body is empty'));
  if (YAML_TYPES.has(mt)) {
    try {
      const docs = yaml.loadAll(text);
      if (docs.length !== 1) throw new Error(`expected exactly one YAML document, found ${docs.length}`);
      return docs[0];
    } catch (e) {
      throw new StatusError(badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`));
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StatusError(badRequest(`error decoding JSON: ${(e as Error).message}`));
  }
}

export interface Negotiated {
  /** Table of rows (kubectl get) rather than the object or list. */
  table: boolean;
  yaml: boolean;
  /** The client accepts nothing we can produce. */
  unacceptable: boolean;
}

/** Picks the response form from Accept, e.g. `application/json;as=Table;v=v1;g=meta.k8s.io,application/json`. */
export function negotiate(accept: string | undefined): Negotiated {
  if (!accept) return { table: false, yaml: false, unacceptable: false };
  const ranges = accept.split(',').map((r) => {
    const [type, ...params] = r.split(';').map((s) => s.trim());
    const p: Record<string, string> = {};
    for (const kv of params) {
      const i = kv.indexOf('=');
      if (i > 0) p[kv.slice(0, i).toLowerCase()] = kv.slice(i + 1);
    }
    return { type: type.toLowerCase(), p };
  });
  for (const r of ranges) {
    if (
      r.p.as === 'Table' &&
      (r.type === 'application/json' || r.type === '*/*') &&
      r.p.g === 'meta.k8s.io' &&
      (r.p.v === 'v1' || r.p.v === 'v1beta1')
    )
      return { table: true, yaml: false, unacceptable: false };
    if (r.p.as) continue; // some other transformation (PartialObjectMetadata...) we do not serve
    if (r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*')
      return { table: false, yaml: false, unacceptable: false };
    if (r.type === 'application/yaml') return { table: false, yaml: true, unacceptable: false };
  }
  return { table: false, yaml: false, unacceptable: true };
}

export function sendJSON(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, private',
  };
  if (warnings.length) headers['Warning'] = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

export function sendYAML(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = yaml.dump(typeof body === 'string' ? JSON.parse(body) : body, { noRefs: true, lineWidth: -1 });
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/yaml',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length) headers['Warning'] = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

export function sendStatus(res: ServerResponse, s: Status): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = {};
  if (s.details?.retryAfterSeconds) headers['Retry-After'] = String(s.details.retryAfterSeconds);
  const text = JSON.stringify(s);
  res.writeHead(s.code, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}
