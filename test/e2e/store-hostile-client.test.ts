// bin/store's client port against clients that do not speak gRPC properly: random bytes, HTTP/2 garbage,
// wrong methods and content types, unknown paths, undecodable and oversized messages. Each gets gRPC's or
// HTTP's own refusal, nothing is written, and real clients go on being served.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { rawClient } from '../../store/api/index.js';
import { startStore, type StoreProcess } from '../../store/server/testing.js';

const DEADLINE_MS = 5000;

/** Writes `bytes` on a fresh TCP connection; resolves once the server has closed it. */
function sendRaw(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('the server kept the connection open'));
    }, DEADLINE_MS);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
}

/** One HTTP/2 request; resolves with the response headers and trailers. */
function request(
  endpoint: string,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer = Buffer.alloc(0),
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(endpoint);
    session.on('error', reject);
    const req = session.request(headers);
    const t = setTimeout(() => {
      session.destroy();
      reject(new Error('no answer'));
    }, DEADLINE_MS);
    let got: Answer = { status: 0, headers: {}, trailers: {} };
    req.on('response', (h) => (got = { ...got, status: Number(h[':status']), headers: h }));
    req.on('trailers', (tr) => (got = { ...got, trailers: tr }));
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', () => {
      clearTimeout(t);
      session.close();
      resolve(got);
    });
    req.end(body);
  });
}

/** gRPC's status for an answer: from the trailers, or from the headers of a trailers-only answer. */
function grpcStatus(a: Answer): { code: number; message: string } {
  const src = a.trailers['grpc-status'] !== undefined ? a.trailers : a.headers;
  return {
    code: Number(src['grpc-status']),
    message: decodeURIComponent(String(src['grpc-message'] ?? '')),
  };
}

const GRPC = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

function frame(body: Buffer, declaredLength = body.length): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([h, body]);
}

describe('bin/store against hostile clients', () => {
  let s: StoreProcess;
  let port: number;
  let revision: number;
  before(async () => {
    s = await startStore({ extraArgs: ['--max-request-bytes', '10000'] });
    port = Number(new URL(s.endpoint).port);
    const c = rawClient(s.endpoint);
    revision = Number(
      (await c.kv.Put({ key: Buffer.from('before'), value: Buffer.from('v') })).header.revision,
    );
    c.close();
  });
  after(async () => {
    await s.destroy();
  });

  test('random bytes and HTTP/2 garbage: the connection is closed', async () => {
    await sendRaw(port, randomBytes(4096));
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    // A valid preface, then a frame of an unknown length and type on stream 0, then noise.
    await sendRaw(
      port,
      Buffer.concat([preface, Buffer.from([0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0]), randomBytes(512)]),
    );
  });

  test('wrong method, wrong content type, unknown paths', async () => {
    const get = await request(s.endpoint, { ':method': 'GET', ':path': '/etcdserverpb.KV/Range' });
    assert.equal(get.status, 405);
    const text = await request(s.endpoint, {
      ':method': 'POST',
      ':path': '/etcdserverpb.KV/Range',
      'content-type': 'text/plain',
    });
    assert.equal(text.status, 415);
    const noService = await request(
      s.endpoint,
      { ...GRPC, ':path': '/nope.Nope/Range' },
      frame(Buffer.alloc(0)),
    );
    assert.deepEqual(grpcStatus(noService), { code: 12, message: 'unknown service nope.Nope' });
    const noMethod = await request(
      s.endpoint,
      { ...GRPC, ':path': '/etcdserverpb.KV/Nope' },
      frame(Buffer.alloc(0)),
    );
    assert.deepEqual(grpcStatus(noMethod), {
      code: 12,
      message: 'unknown method Nope for service etcdserverpb.KV',
    });
  });

  test('an undecodable message, an oversized one and a truncated one are refused', async () => {
    // Field 1 (key, bytes) claiming 100 bytes with 2 present: not a PutRequest.
    const bad = await request(
      s.endpoint,
      { ...GRPC, ':path': '/etcdserverpb.KV/Put' },
      frame(Buffer.from([0x0a, 100, 1, 2])),
    );
    const badStatus = grpcStatus(bad);
    assert.equal(badStatus.code, 13);
    assert.match(badStatus.message, /^grpc: error unmarshalling request: /);
    // A length prefix far beyond --max-request-bytes + the gRPC allowance, without sending the bytes.
    const big = await request(
      s.endpoint,
      { ...GRPC, ':path': '/etcdserverpb.KV/Put' },
      frame(Buffer.alloc(16), 64 * 1024 * 1024),
    );
    const bigStatus = grpcStatus(big);
    assert.equal(bigStatus.code, 8);
    assert.match(bigStatus.message, /^grpc: received message larger than max \(67108864 vs\. \d+\)$/);
    // Half a message, then the end of the stream: no request to serve.
    const half = await request(
      s.endpoint,
      { ...GRPC, ':path': '/etcdserverpb.KV/Put' },
      frame(Buffer.alloc(3), 10),
    );
    assert.equal(grpcStatus(half).code, 13);
  });

  test('nothing was written, and real clients are served', async () => {
    const c = rawClient(s.endpoint);
    try {
      const r = await c.kv.Range({ key: Buffer.from('\0'), rangeEnd: Buffer.from('\0') });
      assert.equal(Number(r.header.revision), revision);
      assert.equal(Number(r.count), 1);
    } finally {
      c.close();
    }
    const put = await s.etcdctl(['put', 'after', 'v']);
    assert.equal(put.code, 0, put.stderr);
    const get = await s.etcdctl(['get', 'after', '--print-value-only']);
    assert.equal(get.stdout.trim(), 'v');
  });
});
