// Tests of the fault proxy on a real loopback echo server: passing, blackholing, one-way drops, delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { freePorts, waitFor } from '../support/index.js';
import { LinkProxy } from './proxy.js';

async function echoServer(port: number) {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return server;
}

function client(port: number, host = '127.77.1.2'): { sock: Socket; got: () => string } {
  const sock = createConnection({ host, port });
  let got = '';
  sock.on('data', (d) => (got += d));
  sock.on('error', () => undefined);
  return { sock, got: () => got };
}

test('the link proxy passes, drops, drops one way and delays', async () => {
  const [echoPort, proxyPort] = await freePorts(2);
  const server = await echoServer(echoPort!);
  const proxy = new LinkProxy('127.77.1.2', proxyPort!, '127.0.0.1', echoPort!);
  await proxy.start();
  try {
    const a = client(proxyPort!);
    a.sock.write('hello');
    await waitFor('echo through the proxy', () => a.got() === 'hello');

    proxy.setMode({ kind: 'drop' });
    await waitFor('open connections cut', () => a.sock.destroyed);
    const b = client(proxyPort!);
    b.sock.write('lost');
    // Nothing comes back while the link is down; the proxy counts no bytes through.
    const before = proxy.bytes;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.got(), '');
    assert.equal(proxy.bytes, before);

    proxy.setMode({ kind: 'drop-backward' });
    const c = client(proxyPort!);
    c.sock.write('one-way');
    await waitFor('bytes reach the server', () => proxy.bytes >= before + 7);
    assert.equal(c.got(), '');

    proxy.setMode({ kind: 'delay', ms: 200, jitterMs: 0 });
    const d = client(proxyPort!);
    const t0 = Date.now();
    d.sock.write('slow');
    await waitFor('delayed echo', () => d.got() === 'slow', { timeoutMs: 10_000 });
    assert.ok(Date.now() - t0 >= 380, `echo after ${Date.now() - t0} ms, both directions delayed 200 ms`);
    d.sock.destroy();
  } finally {
    await proxy.close();
    server.close();
  }
});
