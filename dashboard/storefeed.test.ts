// Unit tests for how store values, member ids and errors are shown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hexId, shortError, valueText } from './storefeed.js';

describe('store feed helpers', () => {
  it('prints member ids in hex as etcdctl does', () => {
    assert.equal(hexId('10276657743932975437'), '8e9e05c52164694d');
    assert.equal(hexId('0'), '0');
    assert.equal(hexId(undefined), '0');
  });

  it('pretty-prints JSON values and keeps others as text', () => {
    assert.equal(valueText(Buffer.from('{"a":1}')), '{\n  "a": 1\n}');
    assert.equal(valueText(Buffer.from('plain')), 'plain');
    assert.equal(valueText(undefined), '');
  });

  it('bounds a large value', () => {
    const v = valueText(Buffer.alloc(300 * 1024, 'x'));
    assert.ok(v.length < 260 * 1024);
    assert.match(v, /\(307200 bytes, truncated\)$/);
  });

  it('says why a member does not answer', () => {
    assert.match(
      shortError(new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379')),
      /connection refused/,
    );
    assert.match(shortError(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')), /no answer in time/);
    assert.equal(shortError(new Error('x'.repeat(400))).length, 303);
  });
});
