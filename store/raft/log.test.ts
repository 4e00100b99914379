// Unit tests of the log, its unstable tail, MemoryStorage, the inflight window and quorum math.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from './errors.js';
import { Inflights } from './inflights.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult } from './quorum.js';
import { MemoryStorage } from './storage.js';
import type { Entry } from './types.js';
import { EntryType } from './types.js';

function ent(term: number, index: number): Entry {
  return { term, index, type: EntryType.Normal, data: new Uint8Array(0) };
}

function terms(ents: Entry[]): number[] {
  return ents.map((e) => e.term);
}

describe('MemoryStorage', () => {
  test('entries, term, compaction and snapshots answer like etcd', () => {
    const st = new MemoryStorage();
    st.append([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4)]);
    assert.equal(st.firstIndex(), 1);
    assert.equal(st.lastIndex(), 4);
    assert.deepEqual(terms(st.entries(2, 5, Infinity)), [1, 2, 2]);
    assert.equal(st.entries(1, 5, 1).length, 1, 'size limit still returns one entry');
    assert.throws(
      () => st.entries(2, 6, Infinity),
      (e) => e === ErrUnavailable,
    );
    st.createSnapshot(3, { voters: ['1'], learners: [] }, new Uint8Array([7]));
    st.compact(3);
    assert.equal(st.firstIndex(), 4);
    assert.equal(st.term(3), 2, 'the dummy entry keeps the snapshot term');
    assert.throws(
      () => st.term(2),
      (e) => e === ErrCompacted,
    );
    assert.throws(
      () => st.entries(3, 4, Infinity),
      (e) => e === ErrCompacted,
    );
    assert.throws(
      () => st.createSnapshot(2, undefined, new Uint8Array()),
      (e) => e === ErrSnapOutOfDate,
    );
  });

  test('append replaces a conflicting suffix and ignores compacted entries', () => {
    const st = new MemoryStorage();
    st.append([ent(1, 1), ent(1, 2), ent(1, 3)]);
    st.append([ent(2, 2)]);
    assert.deepEqual(terms(st.entries(1, 3, Infinity)), [1, 2]);
    assert.equal(st.lastIndex(), 2);
    st.createSnapshot(2, undefined, new Uint8Array());
    st.compact(2);
    st.append([ent(2, 1), ent(2, 2), ent(3, 3)]);
    assert.equal(st.lastIndex(), 3);
    assert.equal(st.term(3), 3);
    assert.throws(() => st.append([ent(3, 9)]), /missing log entry/);
  });

  test('applySnapshot replaces everything', () => {
    const st = new MemoryStorage();
    st.append([ent(1, 1), ent(1, 2)]);
    st.applySnapshot({
      metadata: { index: 10, term: 3, confState: { voters: ['a'], learners: [] } },
      data: new Uint8Array(),
    });
    assert.equal(st.firstIndex(), 11);
    assert.equal(st.lastIndex(), 10);
    assert.deepEqual(st.initialState().confState.voters, ['a']);
  });
});

describe('RaftLog', () => {
  function logWith(stored: Entry[]): RaftLog {
    const st = new MemoryStorage();
    st.append(stored);
    return new RaftLog(st);
  }

  test('findConflict returns the first index that differs (0 when all match)', () => {
    const l = logWith([ent(1, 1), ent(2, 2), ent(3, 3)]);
    assert.equal(l.findConflict([ent(1, 1), ent(2, 2)]), 0);
    assert.equal(l.findConflict([ent(2, 2), ent(4, 3)]), 3);
    assert.equal(l.findConflict([ent(3, 3), ent(3, 4)]), 4);
  });

  test('findConflictByTerm skips a whole term', () => {
    const l = logWith([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4), ent(5, 5), ent(5, 6)]);
    assert.deepEqual(l.findConflictByTerm(6, 4), { index: 4, term: 2 });
    assert.deepEqual(l.findConflictByTerm(6, 5), { index: 6, term: 5 });
    assert.deepEqual(l.findConflictByTerm(4, 1), { index: 2, term: 1 });
    assert.deepEqual(l.findConflictByTerm(4, 0), { index: 0, term: 0 });
  });

  test('maybeAppend: matching prev appends and commits up to the last new entry only', () => {
    const l = logWith([ent(1, 1), ent(1, 2)]);
    assert.equal(l.maybeAppend(2, 2, 5, [ent(2, 3)]), undefined, 'prev term mismatch');
    assert.equal(l.maybeAppend(2, 1, 5, [ent(2, 3)]), 3);
    assert.equal(l.committed, 3, 'commit bounded by the last new entry');
    assert.throws(() => l.maybeAppend(1, 1, 3, [ent(3, 2)]), /conflict with committed entry/);
  });

  test('maybeCommit only commits an entry of the given term', () => {
    const l = logWith([ent(1, 1), ent(2, 2)]);
    assert.equal(l.maybeCommit(2, 3), false);
    assert.equal(l.maybeCommit(2, 2), true);
    assert.equal(l.committed, 2);
  });

  test('unstable entries become stable only if not overwritten meanwhile', () => {
    const l = logWith([ent(1, 1)]);
    l.append([ent(2, 2), ent(2, 3)]);
    assert.deepEqual(terms(l.unstableEntries()), [2, 2]);
    l.append([ent(3, 3)]);
    l.stableTo(3, 2); // stale acknowledgement of the overwritten entry: ignored
    assert.deepEqual(terms(l.unstableEntries()), [2, 3]);
    l.stableTo(3, 3);
    assert.deepEqual(l.unstableEntries(), []);
  });

  test('slice spans storage and the unstable tail and respects the size limit', () => {
    const l = logWith([ent(1, 1), ent(1, 2)]);
    l.append([ent(2, 3), ent(2, 4)]);
    assert.deepEqual(terms(l.slice(2, 5, Infinity)), [1, 2, 2]);
    assert.equal(l.slice(1, 5, 20).length, 1);
    assert.equal(l.slice(1, 5, 33).length, 2);
  });

  test('committed entries are handed out once, after the snapshot', () => {
    const l = logWith([ent(1, 1), ent(1, 2), ent(1, 3)]);
    l.commitTo(2);
    assert.deepEqual(
      l.nextCommittedEnts().map((e) => e.index),
      [1, 2],
    );
    l.acceptApplying(2);
    assert.deepEqual(l.nextCommittedEnts(), []);
    l.restore({
      metadata: { index: 10, term: 2, confState: { voters: [], learners: [] } },
      data: new Uint8Array(),
    });
    assert.deepEqual(l.nextCommittedEnts(), [], 'nothing before the snapshot is applied');
  });
});

describe('flow control', () => {
  test('inflights: a bounded window by count and bytes', () => {
    const w = new Inflights(3, 100);
    w.add(1, 10);
    w.add(2, 10);
    assert.equal(w.full(), false);
    w.add(5, 90);
    assert.equal(w.full(), true);
    w.freeLE(2);
    assert.equal(w.len(), 1);
    assert.equal(w.full(), false);
    w.add(6, 1);
    w.add(7, 1);
    w.freeFirstOne();
    assert.equal(w.len(), 2);
    assert.throws(() => {
      w.add(8, 1);
      w.add(9, 1);
    }, /full/);
  });

  test('progress: stale rejections are ignored; probe restarts from the hint', () => {
    const pr = new Progress(10, 4, 0, false);
    pr.match = 5;
    pr.becomeReplicate();
    assert.equal(pr.maybeDecrTo(4, 4), false, 'rejection below match is stale');
    assert.equal(pr.maybeDecrTo(8, 6), true);
    assert.equal(pr.next, 6);
    pr.becomeProbe();
    pr.next = 9;
    assert.equal(pr.maybeDecrTo(7, 6), false, 'only the latest probe counts');
    assert.equal(pr.maybeDecrTo(8, 6), true);
    assert.equal(pr.next, 7);
  });
});

describe('quorum', () => {
  test('committed index is the highest index held by a majority', () => {
    const m = new Map([
      ['1', 5],
      ['2', 3],
      ['3', 9],
    ]);
    assert.equal(
      committedIndex(new Set(['1', '2', '3']), (id) => m.get(id)),
      5,
    );
    m.set('4', 1);
    assert.equal(
      committedIndex(new Set(['1', '2', '3', '4']), (id) => m.get(id)),
      3,
    );
  });

  test('vote results: won, lost, pending', () => {
    const v = new Set(['1', '2', '3']);
    assert.equal(voteResult(v, new Map([['1', true]])), 'pending');
    assert.equal(
      voteResult(
        v,
        new Map([
          ['1', true],
          ['2', true],
        ]),
      ),
      'won',
    );
    assert.equal(
      voteResult(
        v,
        new Map([
          ['1', false],
          ['2', false],
        ]),
      ),
      'lost',
    );
  });
});
