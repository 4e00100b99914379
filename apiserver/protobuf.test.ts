// Unit tests for the protobuf body decoder: envelope, zero values, pointer fields, refusal of unknowns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobuf, PROTOBUF_MAGIC } from './protobuf.js';
import { StatusError } from '../apimachinery/index.js';

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const num = (f: number, v: number): number[] => [...varint((f << 3) | 0), ...varint(v)];
const bytes = (f: number, b: number[] | string): number[] => {
  const data = typeof b === 'string' ? [...Buffer.from(b)] : b;
  return [...varint((f << 3) | 2), ...varint(data.length), ...data];
};
const envelope = (apiVersion: string, kind: string, raw: number[]): Buffer =>
  Buffer.concat([
    PROTOBUF_MAGIC,
    Buffer.from([...bytes(1, [...bytes(1, apiVersion), ...bytes(2, kind)]), ...bytes(2, raw)]),
  ]);

test('a deployment with replicas 0 keeps it (pointer field); zero scalars are dropped', () => {
  const meta = [
    ...bytes(1, 'web'),
    ...bytes(2, ''),
    ...num(7, 0),
    ...bytes(11, [...bytes(1, 'app'), ...bytes(2, 'web')]),
  ];
  const spec = [...num(1, 0), ...num(5, 0), ...bytes(2, bytes(1, [...bytes(1, 'app'), ...bytes(2, 'web')]))];
  const o = decodeProtobuf(envelope('apps/v1', 'Deployment', [...bytes(1, meta), ...bytes(2, spec)]));
  assert.deepEqual(o, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { replicas: 0, selector: { matchLabels: { app: 'web' } } },
  });
});

test('int-or-string and secret bytes', () => {
  const port = [...bytes(1, 'http'), ...num(3, 80), ...bytes(4, [...num(1, 1), ...bytes(3, 'web')])];
  const svc = decodeProtobuf(
    envelope('v1', 'Service', [...bytes(1, bytes(1, 's')), ...bytes(2, bytes(1, port))]),
  );
  assert.deepEqual((svc.spec as { ports: unknown[] }).ports, [{ name: 'http', port: 80, targetPort: 'web' }]);
  const sec = decodeProtobuf(
    envelope('v1', 'Secret', [
      ...bytes(1, bytes(1, 's')),
      ...bytes(2, [...bytes(1, 'k'), ...bytes(2, [0, 255])]),
    ]),
  );
  assert.deepEqual(sec.data, { k: Buffer.from([0, 255]).toString('base64') });
});

test('unknown non-zero fields, unknown kinds and bad envelopes are refused with 415', () => {
  const is415 = (e: unknown): boolean => e instanceof StatusError && e.code === 415;
  assert.throws(
    () => decodeProtobuf(envelope('v1', 'ConfigMap', [...bytes(1, bytes(1, 'c')), ...num(99, 1)])),
    is415,
  );
  assert.doesNotThrow(() =>
    decodeProtobuf(envelope('v1', 'ConfigMap', [...bytes(1, bytes(1, 'c')), ...num(99, 0)])),
  );
  assert.throws(() => decodeProtobuf(envelope('v1', 'Pod', bytes(1, bytes(1, 'p')))), is415);
  assert.throws(() => decodeProtobuf(Buffer.from('{"kind":"Pod"}')), is415);
  assert.throws(() => decodeProtobuf(Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a, 0x7f])])), is415);
});

test("kubectl drain's Eviction and DeleteOptions: a negative grace period, preconditions, dry run", () => {
  // int64 -1 is a ten-byte varint on the wire.
  const minusOne = [...varint(1 << 3), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
  const opts = [...minusOne, ...bytes(2, [...bytes(1, 'u-1'), ...bytes(2, '42')]), ...bytes(5, 'All')];
  const ev = decodeProtobuf(
    envelope('policy/v1', 'Eviction', [
      ...bytes(1, [...bytes(1, 'web-1'), ...bytes(3, 'demo')]),
      ...bytes(2, opts),
    ]),
  );
  assert.deepEqual(ev, {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: 'web-1', namespace: 'demo' },
    deleteOptions: {
      gracePeriodSeconds: -1,
      preconditions: { uid: 'u-1', resourceVersion: '42' },
      dryRun: ['All'],
    },
  });
  const del = decodeProtobuf(envelope('v1', 'DeleteOptions', [...num(1, 0), ...bytes(4, 'Foreground')]));
  assert.deepEqual(del, {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    gracePeriodSeconds: 0,
    propagationPolicy: 'Foreground',
  });
});
