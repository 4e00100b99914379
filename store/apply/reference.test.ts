// Runs one scripted sequence of requests against real etcd 3.4 (through the etcd3 client) and against the
// StateMachine directly, and asserts the same revisions, key-values, counts and errors come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { hasCommand, startRealEtcd } from '../../test/support/index.js';
import { StateMachine, type RaftRequest, type RangeRequest } from './index.js';
import { askEtcd, askOurs, type Step } from './reference-harness.js';

const b = (s: string) => Buffer.from(s);

const LEASE = 0x7e57n;
const LEASE2 = 0x7e58n;

/** The script: each step's request; both sides must answer alike. */
function script(): Step[] {
  const s: Step[] = [];
  const add = (name: string, req: RaftRequest | { range: RangeRequest }) => s.push({ name, ...req } as Step);
  add('empty store', { range: { key: b('a') } });
  add('compact -1', { compaction: { revision: -1 } });
  add('compact 0 on a never compacted store', { compaction: { revision: 0 } });
  add('compact 0 again', { compaction: { revision: 0 } });
  add('put a', { put: { key: b('a'), value: b('1') } });
  add('put a again with prev', { put: { key: b('a'), value: b('2'), prevKv: true } });
  add('put b', { put: { key: b('b'), value: b('b1') } });
  add('put c', { put: { key: b('c'), value: b('c1') } });
  add('put d', { put: { key: b('d/x'), value: b('zz') } });
  add('put d/y', { put: { key: b('d/y'), value: b('aa') } });
  add('put empty key', { put: { key: b(''), value: b('x') } });
  add('ignore value without key', { put: { key: b('nokey'), ignoreValue: true } });
  add('ignore value with value', { put: { key: b('a'), value: b('v'), ignoreValue: true } });
  add('ignore lease with lease', { put: { key: b('a'), lease: 5n, ignoreLease: true } });
  add('put with missing lease', { put: { key: b('a'), value: b('v'), lease: 12345n } });
  add('ignore value', { put: { key: b('b'), ignoreValue: true, prevKv: true } });
  add('get single', { range: { key: b('a') } });
  add('get range', { range: { key: b('a'), rangeEnd: b('d') } });
  add('get prefix', { range: { key: b('d/'), rangeEnd: b('d0') } });
  add('get from key', { range: { key: b('b'), rangeEnd: Buffer.from([0]) } });
  add('get all', { range: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) } });
  add('get limit', { range: { key: b('a'), rangeEnd: b('z'), limit: 2 } });
  add('get limit exact', { range: { key: b('a'), rangeEnd: b('z'), limit: 5 } });
  add('get count only', { range: { key: b('a'), rangeEnd: b('z'), countOnly: true } });
  add('get keys only', { range: { key: b('a'), rangeEnd: b('z'), keysOnly: true } });
  add('get at rev 3', { range: { key: b('a'), rangeEnd: b('z'), revision: 3 } });
  add('get future rev', { range: { key: b('a'), revision: 1000 } });
  add('sort desc by key', { range: { key: b('a'), rangeEnd: b('z'), sortOrder: 2 } });
  add('sort by value (default asc)', { range: { key: b('a'), rangeEnd: b('z'), sortTarget: 4 } });
  add('sort by value desc limit', {
    range: { key: b('a'), rangeEnd: b('z'), sortTarget: 4, sortOrder: 2, limit: 2 },
  });
  add('sort by mod desc', { range: { key: b('a'), rangeEnd: b('z'), sortTarget: 3, sortOrder: 2 } });
  add('sort by create asc', { range: { key: b('a'), rangeEnd: b('z'), sortTarget: 2, sortOrder: 1 } });
  add('sort by version, limit pushed down', {
    range: { key: b('a'), rangeEnd: b('z'), sortTarget: 1, limit: 2 },
  });
  add('min mod', { range: { key: b('a'), rangeEnd: b('z'), minModRevision: 4 } });
  add('max mod', { range: { key: b('a'), rangeEnd: b('z'), maxModRevision: 4, limit: 1 } });
  add('min/max create', {
    range: { key: b('a'), rangeEnd: b('z'), minCreateRevision: 3, maxCreateRevision: 5 },
  });
  add('range end before key', { range: { key: b('c'), rangeEnd: b('a') } });
  add('empty key range', { range: { key: b('') } });
  add('txn compare value equal', {
    txn: {
      compare: [{ key: b('a'), target: 3, result: 0, value: b('2') }],
      success: [{ requestPut: { key: b('t1'), value: b('s') } }, { requestRange: { key: b('t1') } }],
      failure: [{ requestPut: { key: b('t1'), value: b('f') } }],
    },
  });
  add('txn compare mod greater fails', {
    txn: {
      compare: [{ key: b('a'), target: 2, result: 1, modRevision: 100 }],
      success: [{ requestPut: { key: b('t2'), value: b('s') } }],
      failure: [{ requestRange: { key: b('a'), rangeEnd: b('b') } }],
    },
  });
  add('txn compare missing key create == 0', {
    txn: {
      compare: [{ key: b('missing'), target: 1, result: 0, createRevision: 0 }],
      success: [{ requestPut: { key: b('missing'), value: b('now') } }],
    },
  });
  add('txn compare value on missing key fails', {
    txn: {
      compare: [{ key: b('nope'), target: 3, result: 3, value: b('x') }],
      success: [{ requestPut: { key: b('t3'), value: b('x') } }],
    },
  });
  add('txn compare version less over a range', {
    txn: {
      compare: [{ key: b('a'), rangeEnd: b('e'), target: 0, result: 2, version: 3 }],
      success: [{ requestDeleteRange: { key: b('t1'), prevKv: true } }],
    },
  });
  add('txn compare lease', {
    txn: {
      compare: [{ key: b('a'), target: 4, result: 0, lease: 0n }],
      success: [{ requestPut: { key: b('t4'), value: b('l') } }],
    },
  });
  add('txn read-only', {
    txn: { success: [{ requestRange: { key: b('a') } }, { requestRange: { key: b('b') } }] },
  });
  add('txn empty', { txn: {} });
  add('txn delete nothing', { txn: { success: [{ requestDeleteRange: { key: b('zzz') } }] } });
  add('txn nested', {
    txn: {
      success: [
        { requestPut: { key: b('n1'), value: b('1') } },
        {
          requestTxn: {
            compare: [{ key: b('n1'), target: 0, result: 0, version: 0 }],
            success: [
              { requestPut: { key: b('n2'), value: b('seen-before') } },
              { requestRange: { key: b('n1') } },
            ],
            failure: [{ requestPut: { key: b('n2'), value: b('seen-after') } }],
          },
        },
        { requestRange: { key: b('n'), rangeEnd: b('o') } },
      ],
    },
  });
  add('txn duplicate put', {
    txn: { success: [{ requestPut: { key: b('x') } }, { requestPut: { key: b('x') } }] },
  });
  add('txn put inside delete range', {
    txn: {
      success: [{ requestDeleteRange: { key: b('a'), rangeEnd: b('c') } }, { requestPut: { key: b('b') } }],
    },
  });
  add('txn overlapping deletes are fine', {
    txn: {
      success: [
        { requestDeleteRange: { key: b('t'), rangeEnd: b('u') } },
        { requestDeleteRange: { key: b('t2') } },
      ],
    },
  });
  add('txn nested duplicate', {
    txn: {
      success: [
        { requestPut: { key: b('y') } },
        { requestTxn: { success: [{ requestPut: { key: b('y') } }] } },
      ],
    },
  });
  add('txn nested then/else same key ok', {
    txn: {
      success: [
        {
          requestTxn: {
            compare: [{ key: b('a'), target: 0, result: 0, version: 1 }],
            success: [{ requestPut: { key: b('z'), value: b('t') } }],
            failure: [{ requestPut: { key: b('z'), value: b('f') } }],
          },
        },
      ],
    },
  });
  add('txn from-key delete and put', {
    txn: {
      success: [
        { requestDeleteRange: { key: b('q'), rangeEnd: Buffer.from([0]) } },
        { requestPut: { key: b('r'), value: b('1') } },
      ],
    },
  });
  add('txn empty key in compare', { txn: { compare: [{ key: b(''), target: 0, result: 0 }] } });
  add('txn too many ops', {
    txn: { success: Array.from({ length: 129 }, (_, i) => ({ requestRange: { key: b(`k${i}`) } })) },
  });
  add('txn 128 ops', {
    txn: {
      success: Array.from({ length: 128 }, (_, i) => ({ requestPut: { key: b(`op${i}`), value: b('v') } })),
    },
  });
  add('txn range future rev', { txn: { success: [{ requestRange: { key: b('a'), revision: 10_000 } }] } });
  add('txn put ignore value missing key', {
    txn: { success: [{ requestPut: { key: b('absent'), ignoreValue: true } }] },
  });
  add('delete single prev', { deleteRange: { key: b('c'), prevKv: true } });
  add('delete missing', { deleteRange: { key: b('c') } });
  add('delete prefix', { deleteRange: { key: b('op1'), rangeEnd: b('op2'), prevKv: true } });
  add('delete empty key', { deleteRange: { key: b('') } });
  add('re-create c', { put: { key: b('c'), value: b('again') } });
  add('c new generation', { range: { key: b('c') } });
  add('lease grant', { leaseGrant: { ID: LEASE, TTL: 1000 } });
  add('lease grant dup', { leaseGrant: { ID: LEASE, TTL: 1000 } });
  add('lease grant 2', { leaseGrant: { ID: LEASE2, TTL: 1000 } });
  add('put on lease', { put: { key: b('l1'), value: b('v'), lease: LEASE } });
  add('put on lease 2', { put: { key: b('l2'), value: b('v'), lease: LEASE } });
  add('put l3 on lease 2', { put: { key: b('l3'), value: b('v'), lease: LEASE2 } });
  add('move l2 to lease 2', { put: { key: b('l2'), value: b('w'), lease: LEASE2 } });
  add('ignore lease keeps it', { put: { key: b('l3'), value: b('new'), ignoreLease: true } });
  add('detach l1 with lease 0', { put: { key: b('l1'), value: b('plain') } });
  add('txn compare lease', {
    txn: {
      compare: [{ key: b('l2'), target: 4, result: 0, lease: LEASE2 }],
      success: [{ requestRange: { key: b('l'), rangeEnd: b('m') } }],
    },
  });
  add('revoke lease 2 deletes l2,l3 in one revision', { leaseRevoke: { ID: LEASE2 } });
  add('after revoke', { range: { key: b('l'), rangeEnd: b('m') } });
  add('revoke again', { leaseRevoke: { ID: LEASE2 } });
  add('revoke lease 1 (no keys left)', { leaseRevoke: { ID: LEASE } });
  add('compact future', { compaction: { revision: 100_000 } });
  add('compact 5', { compaction: { revision: 5 } });
  add('compact 5 again', { compaction: { revision: 5 } });
  add('compact 4', { compaction: { revision: 4 } });
  add('read at compacted rev', { range: { key: b('a'), revision: 4 } });
  add('read at compact rev', { range: { key: b('a'), rangeEnd: b('z'), revision: 5 } });
  add('txn range at compacted rev', { txn: { success: [{ requestRange: { key: b('a'), revision: 3 } }] } });
  add('final', { range: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) } });
  return s;
}

test(
  'the StateMachine answers a scripted sequence exactly as etcd 3.4 does',
  { skip: !hasCommand('etcd') },
  async () => {
    const etcd = await startRealEtcd();
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      const sm = new StateMachine();
      let index = 0;
      // A fresh etcd answers its first request at revision 1, as we do.
      for (const step of script()) {
        const want = await askEtcd(client, step);
        const got = askOurs(sm, () => ++index, step);
        if (process.env.REF_DEBUG) console.log(step.name, JSON.stringify(want));
        assert.deepEqual(
          got,
          want,
          `step "${step.name}": ours ${JSON.stringify(got)} vs etcd ${JSON.stringify(want)}`,
        );
      }
    } finally {
      client.close();
      await etcd.stop();
    }
  },
);
