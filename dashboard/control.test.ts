// Unit tests for matching the supervisor's components to store members by URL.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sameEndpoint, urlsOf } from './control.js';

describe('control API helpers', () => {
  it('finds URLs in any shape of "urls"', () => {
    const base = { name: 's1', kind: 'store', state: 'running' };
    assert.deepEqual(urlsOf({ ...base, urls: ['http://a:1', 'http://b:2'] }), ['http://a:1', 'http://b:2']);
    assert.deepEqual(urlsOf({ ...base, urls: { client: 'http://a:1', peer: ['http://p:3'] } }), [
      'http://a:1',
      'http://p:3',
    ]);
    assert.deepEqual(urlsOf({ ...base, urls: 'http://a:1' }), ['http://a:1']);
    assert.deepEqual(urlsOf({ ...base }), []);
  });

  it('compares endpoints by host and port', () => {
    assert.ok(sameEndpoint('http://127.0.0.1:2379', 'http://127.0.0.1:2379/'));
    assert.ok(sameEndpoint('http://localhost:2379', '127.0.0.1:2379'));
    assert.ok(!sameEndpoint('http://127.0.0.1:2379', 'http://127.0.0.1:22379'));
  });
});
