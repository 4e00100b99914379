// The :authority rewriter: HPACK's Huffman code, finding and rewriting literal :authority values, and the
// first-header-block peek, on the bytes a real etcdctl 3.4 sends for `endpoint status` with an http:// URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authorityAccepted,
  findAuthorityLiterals,
  huffmanDecode,
  peek,
  rewriteAuthority,
  rewriteStream,
} from './authority.js';

/** etcdctl 3.4's preface, empty SETTINGS, ACK of the server's SETTINGS, and first HEADERS (Maintenance/Status). */
const ETCDCTL = Buffer.from(
  '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000000400000000000000000401000000000000770104000000018386459760a924882d9dcb6571afa066a925a87510ac6e48d36a3f41909d29aee30c044eae05c0b86e36069a6b5f8b1d75d0620d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f867df75f6d9b7f408d25062d495875996ee5b1063d5f03332e34',
  'hex',
);
const BLOCK_AT = 24 + 9 + 9 + 9;
const BLOCK = ETCDCTL.subarray(BLOCK_AT);

test('Huffman decoding matches RFC 7541 C.4', () => {
  assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex'))?.toString(), 'www.example.com');
  assert.equal(huffmanDecode(Buffer.from('a8eb10649cbf', 'hex'))?.toString(), 'no-cache');
  assert.equal(huffmanDecode(Buffer.from('25a849e95bb8e8b4bf', 'hex'))?.toString(), 'custom-value');
  // Padding longer than 7 bits, or not all ones, is malformed.
  assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ffff', 'hex')), undefined);
  assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4fe', 'hex')), undefined);
});

test("etcdctl's first header block carries the endpoint URL as a literal :authority", () => {
  const lits = findAuthorityLiterals(BLOCK);
  assert.ok(lits);
  assert.deepEqual(
    lits.map((l) => l.value.toString()),
    ['http://127.0.0.1:50444'],
  );
  assert.equal(authorityAccepted(lits[0]!.value), false);
});

test('the rewrite keeps the length and leaves every other field as it was', () => {
  const out = rewriteAuthority(BLOCK);
  const lits = findAuthorityLiterals(out)!;
  assert.deepEqual(
    lits.map((l) => l.value.toString()),
    ['http:--127.0.0.1:50444'],
  );
  assert.ok(authorityAccepted(lits[0]!.value));
  // Bytes before the :authority literal are untouched (:method, :scheme, :path).
  const at = BLOCK.indexOf(0x41, 3);
  assert.deepEqual(out.subarray(0, at), BLOCK.subarray(0, at));
  // A block whose authority is fine is returned as is (the same object: nothing copied).
  const fine = Buffer.from([0x82, 0x86, 0x41, 0x03, ...Buffer.from('a:1')]);
  assert.equal(rewriteAuthority(fine), fine);
  // An indexed reference to an earlier :authority needs no rewrite: that literal was rewritten when sent.
  const indexed = Buffer.from([0x83, 0x86, 0xbe]);
  assert.equal(rewriteAuthority(indexed), indexed);
  // A literal name ":authority" (not the static index) is found too, as are never-indexed literals.
  const named = Buffer.concat([
    Buffer.from([0x10, 0x0a]),
    Buffer.from(':authority'),
    Buffer.from([0x03]),
    Buffer.from('a/b'),
  ]);
  assert.equal(findAuthorityLiterals(rewriteAuthority(named))![0]!.value.toString(), 'a-b');
});

test('peek finds the ACK and judges the first header block, waiting while it is incomplete', () => {
  const full = peek(ETCDCTL);
  assert.equal(full.http2, true);
  assert.deepEqual(full.headers, { refused: true });
  assert.deepEqual(full.ack, { start: 24 + 9, end: 24 + 18 });
  const partial = peek(ETCDCTL.subarray(0, ETCDCTL.length - 5));
  assert.equal(partial.headers, undefined);
  assert.ok(partial.ack);
  assert.equal(peek(ETCDCTL.subarray(0, 10)).http2, true);
  assert.equal(peek(Buffer.from('GET / HTTP/1.1\r\n\r\n')).http2, false);
  // Truncated garbage in a header block is not a verdict of "refused".
  const bad = Buffer.concat([
    ETCDCTL.subarray(0, BLOCK_AT - 9),
    Buffer.from([0, 0, 2, 1, 4, 0, 0, 0, 1, 0x41, 0xff]),
  ]);
  assert.deepEqual(peek(bad).headers, { refused: false });
});

test('the connection rewriter: same bytes in any chunking, ACK dropped, bounded on hostile input', () => {
  const whole = rewriteStream([ETCDCTL], true);
  const p = peek(whole);
  assert.deepEqual(p.headers, { refused: false });
  assert.equal(p.ack, undefined, "the client's ACK of our SETTINGS is not passed on");
  // Byte-at-a-time delivery gives the same stream.
  assert.deepEqual(
    rewriteStream(
      [...ETCDCTL].map((b) => Buffer.from([b])),
      true,
    ),
    whole,
  );
  // Everything but the rewritten block is as it came: preface, the client's SETTINGS.
  assert.deepEqual(whole.subarray(0, 24 + 9), ETCDCTL.subarray(0, 24 + 9));

  const preface = ETCDCTL.subarray(0, 24);
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
  };
  // A header block that never ends (CONTINUATIONs past 64 KiB) is not held: it passes through as it came.
  const flood = [preface, frame(1, 0, 1, Buffer.from([0x41, 0x03, 0x61, 0x2f, 0x62]))];
  for (let i = 0; i < 8; i++) flood.push(frame(9, 0, 1, Buffer.alloc(10_000, 0x82)));
  assert.deepEqual(rewriteStream(flood), Buffer.concat(flood));
  // A frame longer than the server allows makes the rest pass through untouched too.
  const huge = Buffer.concat([preface, Buffer.from([0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1]), Buffer.alloc(100)]);
  assert.deepEqual(rewriteStream([huge]), huge);
});
