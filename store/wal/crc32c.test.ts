// Tests for the CRC-32C implementation: published check values, chaining, and the prefix search.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c, crc32cFindPrefix } from './crc32c.js';

test('crc32c matches the published check values (RFC 3720 B.4 and the catalogue check)', () => {
  assert.equal(crc32c(0, Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(0, new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(0, new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(
    crc32c(
      0,
      Uint8Array.from({ length: 32 }, (_, i) => i),
    ),
    0x46dd794e,
  );
  assert.equal(
    crc32c(
      0,
      Uint8Array.from({ length: 32 }, (_, i) => 31 - i),
    ),
    0x113fdb5c,
  );
  assert.equal(crc32c(0, new Uint8Array(0)), 0);
});

test('crc32c chains: crc(crc(a), b) equals crc(a ++ b) at every split point', () => {
  const buf = Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff);
  const whole = crc32c(0, buf);
  for (let k = 0; k <= buf.length; k++) {
    assert.equal(crc32c(crc32c(0, buf, 0, k), buf, k), whole, `split at ${k}`);
  }
});

test('crc32cFindPrefix finds the shortest prefix with a given CRC', () => {
  const buf = Uint8Array.from({ length: 64 }, (_, i) => (i * 13 + 5) & 0xff);
  const seed = 0x12345678;
  const target = crc32c(seed, buf, 3, 40);
  assert.equal(crc32cFindPrefix(seed, buf, 3, 64, target), 40);
  assert.equal(crc32cFindPrefix(seed, buf, 3, 39, target), -1);
});
