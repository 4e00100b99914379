// The peer transport's pieces: message codec round trips, frames that fail their checksum or exceed the
// limit are refused, and the handshake refuses a member of another cluster while delivering messages and
// chunked snapshots between members of the same one.
import { test } from 'node:test';
import { createServer, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import { newMessage, type Message } from '../../raft/index.js';
import { Logger } from '../../../common/index.js';
import { freePorts, waitFor } from '../../../test/support/index.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { encodeFrame, FrameKind, FrameReader, FrameError } from './framing.js';
import { dial } from '../tls.js';
import { PeerTransport, SNAPSHOT_CHUNK, fetchMembership, type PeerHandler } from './transport.js';

test('codec: a message with entries, context and a snapshot round-trips', () => {
  const m = newMessage({
    type: 'MsgApp',
    to: 'a1b2c3d4e5f60708',
    from: '0102030405060708',
    term: 7,
    logTerm: 6,
    index: 2 ** 40,
    commit: 99,
    reject: true,
    rejectHint: 5,
    context: new Uint8Array([1, 2, 3]),
    entries: [
      { term: 7, index: 2 ** 40 + 1, type: 0, data: new Uint8Array([9, 9]) },
      { term: 7, index: 2 ** 40 + 2, type: 1, data: new Uint8Array(0) },
    ],
  });
  assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  const s: Message = newMessage({
    type: 'MsgSnap',
    to: 'b',
    from: 'a',
    snapshot: {
      metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: ['c'] } },
      data: new Uint8Array([5, 6, 7]),
    },
  });
  assert.deepEqual(decodeMessage(encodeMessage(s, true)), s);
  // Without its data (the data streams separately).
  assert.equal(decodeMessage(encodeMessage(s)).snapshot!.data.byteLength, 0);
  assert.throws(() => decodeMessage(encodeMessage(m).subarray(0, 20)), /truncated/);
});

test('framing: frames split anywhere are reassembled; a flipped bit or an oversize frame is refused', () => {
  const frames = [
    encodeFrame(FrameKind.Msg, Buffer.from('hello')),
    encodeFrame(FrameKind.SnapChunk, Buffer.alloc(3000, 7)),
  ];
  const all = Buffer.concat(frames);
  for (const cut of [1, 5, 8, 9, 20, all.length - 1]) {
    const r = new FrameReader(1 << 20);
    const got = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
    assert.equal(got.length, 2);
    assert.equal(got[0]!.payload.toString(), 'hello');
    assert.equal(got[1]!.payload.length, 3000);
  }
  const bad = Buffer.from(frames[0]!);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => new FrameReader(1 << 20).push(bad), FrameError);
  assert.throws(() => new FrameReader(100).push(frames[1]!), /limit/);
});

function handler(self: string, cluster: string, got: Message[], log: string[]): PeerHandler {
  return {
    self,
    clusterId: () => cluster,
    name: () => self,
    clientURLs: () => [],
    peerURLs: () => [],
    wasRemoved: () => false,
    onRemoved: () => undefined,
    rejectReason: (h) =>
      h.clusterId !== cluster ? `cluster ID mismatch: ${h.clusterId} != ${cluster}` : undefined,
    onMessage: (m) => got.push(m),
    onUnreachable: () => undefined,
    onSnapshotStatus: (id, ok) => log.push(`snap ${id} ${ok}`),
    onPeerInfo: () => undefined,
    onCall: async (op) => ({ op }),
    membershipForJoin: () => ({}),
  };
}

test('transport: same cluster delivers messages, calls and a multi-chunk snapshot; another cluster is rejected', async () => {
  const [pa, pb, pc] = await freePorts(3);
  const log = new Logger('peer-test', 'error');
  const gotB: Message[] = [];
  const gotC: Message[] = [];
  const events: string[] = [];
  const a = new PeerTransport(handler('a', 'c1', [], events), log);
  const b = new PeerTransport(handler('b', 'c1', gotB, events), log);
  const c = new PeerTransport(handler('c', 'other', gotC, events), log);
  try {
    await a.listen([`http://127.0.0.1:${pa}`]);
    await b.listen([`http://127.0.0.1:${pb}`]);
    await c.listen([`http://127.0.0.1:${pc}`]);
    a.addPeer('b', [`http://127.0.0.1:${pb}`]);
    a.addPeer('c', [`http://127.0.0.1:${pc}`]);
    await waitFor('a connected to b', () => a.connected('b'));
    a.send([newMessage({ type: 'MsgHeartbeat', to: 'b', from: 'a', term: 3 })]);
    await waitFor('heartbeat at b', () => gotB.length === 1);
    assert.deepEqual(await a.call('b', 'ping', {}, 5000), { op: 'ping' });

    const data = Buffer.alloc(SNAPSHOT_CHUNK * 2 + 123);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    a.send([
      newMessage({
        type: 'MsgSnap',
        to: 'b',
        from: 'a',
        snapshot: { metadata: { index: 5, term: 1, confState: { voters: ['a', 'b'], learners: [] } }, data },
      }),
    ]);
    await waitFor('snapshot acknowledged', () => events.includes('snap b true'));
    assert.ok(Buffer.from(gotB[1]!.snapshot!.data).equals(data));

    // c belongs to another cluster: never connected, nothing delivered.
    a.send([newMessage({ type: 'MsgHeartbeat', to: 'c', from: 'a', term: 3 })]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.connected('c'), false);
    assert.equal(gotC.length, 0);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('join: the membership comes from the peer that applied the most, whichever answers first', async () => {
  const [pa, pb, dead] = await freePorts(3);
  const log = new Logger('peer-test', 'error');
  const lagging = {
    ...handler('a', 'c1', [], []),
    membershipForJoin: () => ({ who: 'a', appliedIndex: 10 }),
  };
  const ahead = { ...handler('b', 'c1', [], []), membershipForJoin: () => ({ who: 'b', appliedIndex: 12 }) };
  const a = new PeerTransport(lagging, log);
  const b = new PeerTransport(ahead, log);
  try {
    await a.listen([`http://127.0.0.1:${pa}`]);
    await b.listen([`http://127.0.0.1:${pb}`]);
    const urls = [`http://127.0.0.1:${dead}`, `http://127.0.0.1:${pa}`, `http://127.0.0.1:${pb}`];
    assert.deepEqual(await fetchMembership(urls, 2000), { who: 'b', appliedIndex: 12 });
    await assert.rejects(
      fetchMembership([`http://127.0.0.1:${dead}`], 2000),
      /cannot get the cluster membership/,
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('a snapshot transfer that makes no progress, or has no peer to go to, is reported failed', async () => {
  const [pa] = await freePorts(1);
  const log = new Logger('peer-test', 'error');
  const events: string[] = [];
  const a = new PeerTransport(handler('a', 'c1', [], events), log, { snapshotStallMs: 300 });
  // A peer that accepts connections and then says nothing (a process stopped, a connection stuck).
  const held: Socket[] = [];
  const silent = createServer((s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as { port: number }).port;
  const snap = (to: string) =>
    newMessage({
      type: 'MsgSnap',
      to,
      from: 'a',
      snapshot: {
        metadata: { index: 5, term: 1, confState: { voters: ['a', to], learners: [] } },
        data: Buffer.alloc(10),
      },
    });
  try {
    await a.listen([`http://127.0.0.1:${pa}`]);
    a.addPeer('s', [`http://127.0.0.1:${port}`]);
    const t0 = Date.now();
    a.send([snap('s')]);
    await waitFor('the stalled transfer to be reported', () => events.includes('snap s false'), {
      timeoutMs: 5000,
    });
    assert.ok(Date.now() - t0 >= 250, 'not before the stall time');
    a.send([snap('nobody')]);
    await waitFor(
      'a snapshot for an unknown peer to be reported',
      () => events.includes('snap nobody false'),
      {
        timeoutMs: 2000,
      },
    );
  } finally {
    for (const s of held) s.destroy();
    silent.close();
    await a.close();
  }
});

test('dialling an https peer without peer TLS fails on the socket, not with a throw', async () => {
  const s = dial('https://127.0.0.1:1', '127.0.0.1', 1, undefined);
  const err = await new Promise<Error>((resolve) => s.once('error', resolve));
  assert.match(err.message, /needs --peer-cert-file and --peer-key-file/);
  await new Promise((resolve) => (s.destroyed ? resolve(undefined) : s.once('close', resolve)));
});
