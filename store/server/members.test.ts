// Member and cluster ids derived exactly as etcd derives them (values read from a real etcd 3.4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, clusterId, memberId, parseInitialCluster } from './members.js';

test('member and cluster ids match etcd 3.4 for the same peer URL and token', () => {
  // `etcd --name ref --initial-cluster ref=http://127.0.0.1:23801` reports these in `member list -w json`.
  const id = memberId(['http://127.0.0.1:23801'], 'etcd-cluster');
  assert.equal(id, 13668033151171901709n);
  assert.equal(clusterId([id]), 15118495548433857066n);
});

test('the token and the URL order matter as in etcd: tokens separate clusters, URLs are sorted', () => {
  const a = memberId(['http://a:2380', 'http://b:2380'], 't');
  assert.equal(memberId(['http://b:2380', 'http://a:2380'], 't'), a);
  assert.notEqual(memberId(['http://a:2380', 'http://b:2380'], 'other'), a);
});

test('--initial-cluster parsing and bootstrap', () => {
  const ic = parseInitialCluster('s1=http://127.0.0.1:2380,s2=http://127.0.0.1:2381,s1=http://10.0.0.1:2380');
  assert.deepEqual(ic.get('s1'), ['http://127.0.0.1:2380', 'http://10.0.0.1:2380']);
  assert.throws(() => parseInitialCluster('s1'), /name=url/);
  assert.throws(() => parseInitialCluster('s1=ftp://x'), /scheme/);
  const m = Membership.bootstrap(ic, 'etcd-cluster');
  assert.equal(m.members.size, 2);
  const back = Membership.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
  assert.equal(back.clusterId, m.clusterId);
  assert.deepEqual(back.list(), m.list());
});
