// The HTTP/2 gRPC server against grpc-js's client: framing, statuses, limits, deadlines, streaming.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from './proto.js';
import { encodeMessage, parseTimeout, RpcServer, type StreamCall, type UnaryCall } from './rpcserver.js';
import { waitFor } from '../../test/support/index.js';

const MAX = 64 * 1024;

interface Harness {
  rpc: RpcServer;
  target: string;
  close(): Promise<void>;
}

async function serve(
  kv: Record<string, (call: UnaryCall, done: (err: any, resp?: any) => void) => void>,
  watch?: (call: StreamCall) => void,
  snapshot?: (call: StreamCall) => void,
): Promise<Harness> {
  const p = loadProtos();
  const rpc = new RpcServer({ maxReceiveMessageBytes: MAX });
  const notImplemented = (_c: UnaryCall, done: (err: any) => void) =>
    done({ code: grpc.status.UNIMPLEMENTED, details: 'not here' });
  rpc.addService(p.KV.service, {
    Range: kv.Range ?? notImplemented,
    Put: kv.Put ?? notImplemented,
    DeleteRange: notImplemented,
    Txn: notImplemented,
    Compact: notImplemented,
  });
  rpc.addService(p.Watch.service, { Watch: watch ?? ((c: StreamCall) => c.end()) });
  const maintenance: Record<string, any> = {};
  for (const name of Object.keys(p.Maintenance.service)) maintenance[name] = notImplemented;
  maintenance.Snapshot = snapshot ?? ((c: StreamCall) => c.end());
  rpc.addService(p.Maintenance.service, maintenance);
  const server = net.createServer((s) => rpc.accept(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    rpc,
    target: `127.0.0.1:${port}`,
    close: async () => {
      server.close();
      await rpc.close(100);
    },
  };
}

function clients(target: string, opts: Record<string, unknown> = {}) {
  const p = loadProtos();
  const creds = grpc.credentials.createInsecure();
  return {
    kv: new p.KV(target, creds, opts) as any,
    watch: new p.Watch(target, creds, opts) as any,
    maintenance: new p.Maintenance(target, creds, opts) as any,
  };
}

function unary(client: any, method: string, req: unknown, deadlineMs = 5000): Promise<any> {
  return new Promise((resolve, reject) =>
    client[method](req, { deadline: Date.now() + deadlineMs }, (err: any, resp: any) =>
      err ? reject(err) : resolve(resp),
    ),
  );
}

test('a unary call round-trips its request and response', async (t) => {
  const h = await serve({
    Range: (call, done) =>
      done(null, {
        header: { revision: 7 },
        kvs: [{ key: call.request.key, value: Buffer.from('v'), modRevision: 7 }],
        count: 1,
      }),
  });
  t.after(() => h.close());
  const c = clients(h.target);
  t.after(() => c.kv.close());
  const resp = await unary(c.kv, 'Range', { key: Buffer.from('k') });
  assert.equal(resp.header.revision, '7');
  assert.equal(resp.kvs[0].key.toString(), 'k');
  assert.equal(resp.kvs[0].value.toString(), 'v');
  assert.equal(resp.count, '1');
  // Many concurrent calls on one connection.
  const many = await Promise.all(
    Array.from({ length: 200 }, (_, i) => unary(c.kv, 'Range', { key: Buffer.from(`k${i}`) })),
  );
  assert.deepEqual(
    many.map((r) => r.kvs[0].key.toString()),
    Array.from({ length: 200 }, (_, i) => `k${i}`),
  );
});

test('errors arrive with their code and exact message, also when not plain ASCII', async (t) => {
  const msg = 'etcdserver: 100% füll, "quoted"';
  const h = await serve({
    Range: (_c, done) => done({ code: grpc.status.RESOURCE_EXHAUSTED, details: msg }),
    Put: () => {
      throw new Error('handler threw');
    },
  });
  t.after(() => h.close());
  const c = clients(h.target);
  t.after(() => c.kv.close());
  await assert.rejects(
    unary(c.kv, 'Range', {}),
    (e: any) => e.code === grpc.status.RESOURCE_EXHAUSTED && e.details === msg,
  );
  await assert.rejects(
    unary(c.kv, 'Put', {}),
    (e: any) => e.code === grpc.status.UNKNOWN && e.details === 'handler threw',
  );
  assert.equal(encodeMessage('a%b\n'), 'a%25b%0A');
});

test('unknown methods and services are UNIMPLEMENTED', async (t) => {
  const h = await serve({});
  t.after(() => h.close());
  const client = new grpc.Client(h.target, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (path: string) =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err, v) => (err ? reject(err) : resolve(v)),
      ),
    );
  await assert.rejects(call('/etcdserverpb.KV/Nope'), (e: any) => {
    assert.equal(e.code, grpc.status.UNIMPLEMENTED);
    assert.equal(e.details, 'unknown method Nope for service etcdserverpb.KV');
    return true;
  });
  await assert.rejects(
    call('/etcdserverpb.Nope/Range'),
    (e: any) => e.details === 'unknown service etcdserverpb.Nope',
  );
});

test('a request over the size limit is refused and the connection keeps serving', async (t) => {
  const h = await serve({ Put: (_c, done) => done(null, { header: {} }) });
  t.after(() => h.close());
  const c = clients(h.target);
  t.after(() => c.kv.close());
  await assert.rejects(
    unary(c.kv, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(MAX + 1) }),
    (e: any) => {
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(e.details, /^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
      return true;
    },
  );
  await unary(c.kv, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(MAX - 100) });
});

test('gzip-compressed requests are decoded', async (t) => {
  const h = await serve({
    Put: (call, done) => done(null, { header: { revision: call.request.value.length } }),
  });
  t.after(() => h.close());
  const c = clients(h.target, { 'grpc.default_compression_algorithm': 2 });
  t.after(() => c.kv.close());
  const resp = await unary(c.kv, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(5000, 'a') });
  assert.equal(resp.header.revision, '5000');
});

test('a call learns when its client cancels it or its deadline passes', async (t) => {
  const seen: string[] = [];
  const h = await serve({
    Range: (call) => {
      seen.push(`started:${call.request.key}`);
      call.on('cancelled', () => seen.push(`range:${call.request.key}`));
    },
  });
  t.after(() => h.close());
  const c = clients(h.target);
  t.after(() => c.kv.close());
  await assert.rejects(
    unary(c.kv, 'Range', { key: Buffer.from('deadline') }, 200),
    (e: any) => e.code === grpc.status.DEADLINE_EXCEEDED,
  );
  await waitFor('server-side deadline', () => seen.includes('range:deadline'), { timeoutMs: 5000 });
  const pending = c.kv.Range({ key: Buffer.from('cancel') }, () => undefined);
  await waitFor('the call to reach the server', () => seen.includes('started:cancel'), { timeoutMs: 5000 });
  pending.cancel();
  await waitFor('server-side cancel', () => seen.includes('range:cancel'), { timeoutMs: 5000 });
  assert.equal(parseTimeout('1500m'), 1500);
  assert.equal(parseTimeout('2S'), 2000);
  assert.equal(parseTimeout('3n'), 1);
  assert.equal(parseTimeout('123456789S'), undefined);
});

test('a bidi stream delivers messages both ways in order and ends with OK', async (t) => {
  const h = await serve({}, (call) => {
    call.on('data', (req: any) => {
      call.write({ header: {}, watchId: req.createRequest.startRevision, created: true });
    });
    call.on('end', () => call.end());
  });
  t.after(() => h.close());
  const c = clients(h.target);
  t.after(() => c.watch.close());
  const s = c.watch.Watch();
  const got: string[] = [];
  const status = new Promise<any>((r) => s.on('status', r));
  s.on('data', (m: any) => got.push(m.watchId));
  for (let i = 1; i <= 50; i++) s.write({ createRequest: { key: Buffer.from('k'), startRevision: i } });
  await waitFor('50 responses', () => got.length === 50, { timeoutMs: 5000 });
  s.end();
  assert.equal((await status).code, grpc.status.OK);
  assert.deepEqual(
    got,
    Array.from({ length: 50 }, (_, i) => String(i + 1)),
  );
});

test('a server stream sends large messages with backpressure, then the status', async (t) => {
  const CHUNK = 100 * 1024;
  const TOTAL = 200;
  let sawBackpressure = false;
  const h = await serve({}, undefined, async (call) => {
    for (let i = 0; i < TOTAL; i++) {
      const ok = call.write({
        header: {},
        remainingBytes: TOTAL - i - 1,
        blob: Buffer.alloc(CHUNK, i % 256),
      });
      if (!ok) {
        sawBackpressure = true;
        await new Promise((r) => call.once('drain', r));
      }
    }
    call.destroy({ code: grpc.status.INTERNAL, details: 'after the data' });
  });
  t.after(() => h.close());
  const c = clients(h.target, { 'grpc.max_receive_message_length': -1 });
  t.after(() => c.maintenance.close());
  const s = c.maintenance.Snapshot({});
  const blobs: Buffer[] = [];
  const status = new Promise<any>((r) => s.on('status', r));
  s.on('error', () => undefined);
  s.on('data', (m: any) => blobs.push(m.blob));
  assert.equal((await status).details, 'after the data');
  assert.equal(blobs.length, TOTAL);
  for (let i = 0; i < TOTAL; i++)
    assert.ok(blobs[i]!.length === CHUNK && blobs[i]![0] === i % 256, `blob ${i}`);
  assert.ok(sawBackpressure, 'write() reported a full buffer at least once');
});

test('close() cuts open streams after the grace period', async (t) => {
  let cancelled = false;
  let started = false;
  const h = await serve({}, (call) => {
    started = true;
    call.on('cancelled', () => (cancelled = true));
  });
  const c = clients(h.target);
  t.after(() => c.watch.close());
  const s = c.watch.Watch();
  s.on('error', () => undefined);
  s.write({ createRequest: { key: Buffer.from('k') } });
  const status = new Promise<any>((r) => s.on('status', r));
  await waitFor('the stream to reach the server', () => started, { timeoutMs: 5000 });
  await h.close();
  assert.notEqual((await status).code, grpc.status.OK);
  assert.ok(cancelled, 'the handler saw the cut');
});
