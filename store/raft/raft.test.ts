// Unit tests of the Raft rules: election restriction, vote persistence, term handling, log matching, the
// commit rule (figure 8), pre-vote, check-quorum, leader stickiness, flow control, membership guards.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeConfChange } from './confchange.js';
import { ErrProposalDropped } from './errors.js';
import { newMessage, type Message } from './message.js';
import { Network, newTestRaft, persist, takeMessages } from './rafttest/network.js';
import { MemoryStorage } from './storage.js';
import type { Entry } from './types.js';
import { ConfChangeType, EntryType } from './types.js';

const enc = new TextEncoder();

function ent(term: number, index: number, data = ''): Entry {
  return { term, index, type: EntryType.Normal, data: enc.encode(data) };
}

function hup(id: string): Message {
  return newMessage({ type: 'MsgHup', from: id, to: id });
}

function prop(id: string, data: string): Message {
  return newMessage({ type: 'MsgProp', from: id, to: id, entries: [ent(0, 0, data)] });
}

/** A storage holding a log (term of each entry in order) and a hard state at `term`. */
function storageWithLog(
  terms: number[],
  voters: string[],
  term = terms[terms.length - 1] ?? 0,
): MemoryStorage {
  const st = new MemoryStorage({ voters, learners: [] });
  st.append(terms.map((t, i) => ent(t, i + 1)));
  st.setHardState({ term, vote: '', commit: 0 });
  return st;
}

describe('leader election', () => {
  test('a candidate with a majority of votes becomes leader; the others follow', () => {
    const nt = Network.of(3, { preVote: false });
    nt.send(hup('1'));
    assert.equal(nt.get('1').role, 'leader');
    assert.equal(nt.get('2').role, 'follower');
    assert.equal(nt.get('2').lead, '1');
    assert.equal(nt.get('1').term, 1);
  });

  test('with pre-vote the term only moves once the pre-election is won', () => {
    const nt = Network.of(3, { preVote: true });
    nt.isolate('1');
    nt.get('1').step(hup('1'));
    nt.flush();
    assert.equal(nt.get('1').role, 'preCandidate');
    assert.equal(nt.get('1').term, 0, 'pre-candidate keeps its term');
    nt.recover();
    nt.send(hup('1'));
    assert.equal(nt.get('1').role, 'leader');
    assert.equal(nt.get('1').term, 1);
  });

  test('election restriction (§5.4.1): a voter refuses a candidate whose log is less up to date', () => {
    // 1 has [1,1]; 2 and 3 have [1,1,2]: 1 cannot win even though it campaigns first.
    const ids = ['1', '2', '3'];
    const r1 = newTestRaft('1', ids, { preVote: false }, storageWithLog([1, 1], ids, 2));
    const r2 = newTestRaft('2', ids, { preVote: false }, storageWithLog([1, 1, 2], ids, 2));
    const r3 = newTestRaft('3', ids, { preVote: false }, storageWithLog([1, 1, 2], ids, 2));
    const nt = new Network([r1, r2, r3]);
    nt.send(hup('1'));
    assert.equal(r1.role, 'follower', 'lost the election');
    const rejections = nt.delivered.filter((m) => m.type === 'MsgVoteResp' && m.reject);
    assert.equal(rejections.length, 2);
    nt.send(hup('2'));
    assert.equal(r2.role, 'leader');
  });

  test('a log with a higher last term wins over a longer one', () => {
    const ids = ['1', '2', '3'];
    const r1 = newTestRaft('1', ids, { preVote: false }, storageWithLog([1, 3], ids, 3));
    const r2 = newTestRaft('2', ids, { preVote: false }, storageWithLog([1, 2, 2, 2], ids, 3));
    const r3 = newTestRaft('3', ids, { preVote: false }, storageWithLog([1, 2, 2, 2], ids, 3));
    const nt = new Network([r1, r2, r3]);
    nt.send(hup('1'));
    assert.equal(r1.role, 'leader');
  });

  test('vote persistence: one vote per term, kept across a restart', () => {
    const ids = ['1', '2', '3'];
    const st = new MemoryStorage({ voters: ids, learners: [] });
    const r = newTestRaft('2', ids, { preVote: false }, st);
    r.step(newMessage({ type: 'MsgVote', from: '1', to: '2', term: 1, index: 0, logTerm: 0 }));
    assert.equal(r.vote, '1');
    const resp1 = takeMessages(r);
    assert.equal(resp1[0]!.reject, false);
    persist(r);
    // Restart from storage: the vote for 1 in term 1 survives and 3 is refused.
    const again = newTestRaft('2', ids, { preVote: false }, st);
    assert.equal(again.vote, '1');
    again.step(newMessage({ type: 'MsgVote', from: '3', to: '2', term: 1, index: 0, logTerm: 0 }));
    const resp2 = takeMessages(again);
    assert.equal(resp2[0]!.type, 'MsgVoteResp');
    assert.equal(resp2[0]!.reject, true);
    // The same candidate asking again (a retransmission) gets the vote again.
    again.step(newMessage({ type: 'MsgVote', from: '1', to: '2', term: 1, index: 0, logTerm: 0 }));
    assert.equal(takeMessages(again)[0]!.reject, false);
  });

  test('randomized election timeout is in [electionTick, 2*electionTick)', () => {
    const seen = new Set<number>();
    for (const x of [0, 0.1, 0.5, 0.99]) {
      const r = newTestRaft('1', ['1', '2', '3'], { random: () => x });
      seen.add(r.randomizedElectionTimeout);
      assert.ok(r.randomizedElectionTimeout >= 10 && r.randomizedElectionTimeout < 20);
    }
    assert.ok(seen.size > 1);
  });
});

describe('term handling', () => {
  test('a leader that sees a higher term steps down; lower-term messages are ignored', () => {
    const nt = Network.of(3, { preVote: false });
    nt.send(hup('1'));
    const r1 = nt.get('1');
    r1.step(newMessage({ type: 'MsgApp', from: '2', to: '1', term: 5, index: 0, logTerm: 0 }));
    assert.equal(r1.role, 'follower');
    assert.equal(r1.term, 5);
    assert.equal(r1.lead, '2');
    takeMessages(r1);
    // A stale heartbeat from the old term is answered with our term (so the stale leader steps down).
    r1.step(newMessage({ type: 'MsgHeartbeat', from: '3', to: '1', term: 2 }));
    const out = takeMessages(r1);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type, 'MsgAppResp');
    assert.equal(out[0]!.term, 5);
    assert.equal(r1.lead, '2');
  });

  test('leader stickiness: a follower that heard from its leader ignores a higher-term vote request', () => {
    const nt = Network.of(3, { preVote: false, checkQuorum: true });
    nt.send(hup('1'));
    const r2 = nt.get('2');
    r2.step(newMessage({ type: 'MsgVote', from: '3', to: '2', term: 9, index: 10, logTerm: 9 }));
    assert.equal(r2.term, 1, 'term unchanged');
    assert.equal(takeMessages(r2).length, 0, 'no answer');
    // After an election timeout without the leader, it listens again.
    for (let i = 0; i < 10; i++) r2.tick();
    takeMessages(r2);
    r2.step(newMessage({ type: 'MsgVote', from: '3', to: '2', term: 9, index: 10, logTerm: 9 }));
    assert.equal(r2.term, 9);
  });
});

describe('log replication', () => {
  test('log matching: a follower rejects an append whose previous entry does not match, with a hint', () => {
    const ids = ['1', '2'];
    const r = newTestRaft('2', ids, {}, storageWithLog([1, 1, 2, 2, 2], ids, 3));
    r.becomeFollower(3, '1');
    r.step(
      newMessage({ type: 'MsgApp', from: '1', to: '2', term: 3, index: 5, logTerm: 3, entries: [ent(3, 6)] }),
    );
    const out = takeMessages(r);
    assert.equal(out[0]!.reject, true);
    // The follower's last entry with term ≤ 3 is index 5 (term 2): the leader can skip all of term 2 at once.
    assert.equal(out[0]!.rejectHint, 5);
    assert.equal(out[0]!.logTerm, 2);
    assert.equal(r.log.lastIndex(), 5);
  });

  test('a conflicting suffix is replaced; matching entries are kept and a stale append does not truncate', () => {
    const ids = ['1', '2'];
    const r = newTestRaft('2', ids, {}, storageWithLog([1, 1, 2, 2], ids, 3));
    r.becomeFollower(3, '1');
    r.step(
      newMessage({
        type: 'MsgApp',
        from: '1',
        to: '2',
        term: 3,
        index: 2,
        logTerm: 1,
        entries: [ent(3, 3, 'x'), ent(3, 4, 'y'), ent(3, 5, 'z')],
      }),
    );
    assert.deepEqual(
      r.log.allEntries().map((e) => e.term),
      [1, 1, 3, 3, 3],
    );
    // A reordered, older append of a prefix must not cut off entries 4 and 5.
    r.step(
      newMessage({
        type: 'MsgApp',
        from: '1',
        to: '2',
        term: 3,
        index: 2,
        logTerm: 1,
        entries: [ent(3, 3, 'x')],
      }),
    );
    assert.equal(r.log.lastIndex(), 5);
  });

  test('commit rule (§5.4.2, figure 8): a leader never commits an entry of an earlier term by counting replicas', () => {
    const ids = ['1', '2', '3', '4', '5'];
    // 1 holds an entry of term 2 at index 2 that nobody committed; it becomes leader at term 4.
    const st = storageWithLog([1, 2], ids, 3);
    const r = newTestRaft('1', ids, { preVote: false }, st);
    r.step(hup('1'));
    for (const v of ['2', '3']) r.step(newMessage({ type: 'MsgVoteResp', from: v, to: '1', term: 4 }));
    assert.equal(r.role, 'leader');
    assert.equal(r.term, 4);
    assert.equal(r.log.lastIndex(), 3, 'no-op at index 3');
    takeMessages(r);
    // A majority (1, 2, 3) now holds index 2 — but index 2 is of term 2, so it is not committed yet.
    r.step(newMessage({ type: 'MsgAppResp', from: '2', to: '1', term: 4, index: 2 }));
    r.step(newMessage({ type: 'MsgAppResp', from: '3', to: '1', term: 4, index: 2 }));
    assert.equal(r.log.committed, 0, 'entry of an older term committed by counting');
    // Once the current term's no-op is on a majority, it and everything before it commit.
    r.step(newMessage({ type: 'MsgAppResp', from: '2', to: '1', term: 4, index: 3 }));
    assert.equal(r.log.committed, 0);
    r.step(newMessage({ type: 'MsgAppResp', from: '3', to: '1', term: 4, index: 3 }));
    assert.equal(r.log.committed, 3);
  });

  test('a proposal commits on a majority and every member applies the same sequence', () => {
    const nt = Network.of(5);
    nt.send(hup('1'));
    nt.isolate('5');
    nt.send(prop('1', 'a'), prop('1', 'b'));
    for (const id of ['1', '2', '3', '4']) assert.equal(nt.get(id).log.committed, 3);
    assert.equal(nt.get('5').log.committed, 1);
  });

  test('fast back-tracking: a divergent follower is repaired in a few round trips', () => {
    const ids = ['1', '2', '3'];
    // Leader 1: terms [1, 1, 4×20 ...]; follower 2: [1, 1, 2×30]; the leader needs one probe per term.
    const r1 = newTestRaft(
      '1',
      ids,
      { preVote: false },
      storageWithLog([1, 1, ...Array(20).fill(4)], ids, 4),
    );
    const r2 = newTestRaft(
      '2',
      ids,
      { preVote: false },
      storageWithLog([1, 1, ...Array(30).fill(2)], ids, 4),
    );
    const r3 = newTestRaft(
      '3',
      ids,
      { preVote: false },
      storageWithLog([1, 1, ...Array(20).fill(4)], ids, 4),
    );
    const nt = new Network([r1, r2, r3]);
    nt.send(hup('1'));
    assert.equal(r1.role, 'leader');
    const rejects = nt.delivered.filter((m) => m.type === 'MsgAppResp' && m.reject && m.from === '2');
    assert.ok(rejects.length <= 2, `took ${rejects.length} rejections`);
    assert.deepEqual(
      r2.log.allEntries().map((e) => e.term),
      r1.log.allEntries().map((e) => e.term),
    );
  });

  test('flow control: at most maxInflightMsgs appends in flight per follower in replicate state', () => {
    const nt = Network.of(2, { maxInflightMsgs: 3, maxSizePerMsg: 1 });
    nt.send(hup('1'));
    const r1 = nt.get('1');
    assert.equal(r1.trk.progress.get('2')!.state, 'replicate');
    takeMessages(r1);
    for (let i = 0; i < 10; i++) r1.step(prop('1', `p${i}`));
    const apps = takeMessages(r1).filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
    assert.equal(apps.length, 3, 'window of 3');
    assert.equal(r1.trk.progress.get('2')!.isPaused(), true);
    // One acknowledgement frees the window: the leader pipelines the next entries.
    r1.step(newMessage({ type: 'MsgAppResp', from: '2', to: '1', term: 1, index: apps[2]!.index + 1 }));
    const more = takeMessages(r1).filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
    assert.equal(more.length, 3);
  });

  test('flow control: in probe state one append per heartbeat', () => {
    const nt = Network.of(2);
    nt.send(hup('1'));
    const r1 = nt.get('1');
    r1.trk.progress.get('2')!.becomeProbe();
    takeMessages(r1);
    r1.step(prop('1', 'a'));
    r1.step(prop('1', 'b'));
    assert.equal(takeMessages(r1).filter((m) => m.type === 'MsgApp').length, 1);
    r1.step(newMessage({ type: 'MsgHeartbeatResp', from: '2', to: '1', term: 1 }));
    assert.equal(takeMessages(r1).filter((m) => m.type === 'MsgApp').length, 1);
  });

  test('the uncommitted tail is bounded: proposals are dropped once it is full', () => {
    const nt = Network.of(3, { maxUncommittedEntriesSize: 10 });
    nt.send(hup('1'));
    nt.isolate('2');
    nt.isolate('3');
    const r1 = nt.get('1');
    assert.equal(r1.step(prop('1', '12345678')), undefined);
    assert.equal(r1.step(prop('1', '12345678')), ErrProposalDropped);
  });
});

describe('check-quorum and pre-vote', () => {
  test('a leader that hears from no quorum for an election timeout steps down', () => {
    const nt = Network.of(3, { checkQuorum: true });
    nt.send(hup('1'));
    const r1 = nt.get('1');
    assert.equal(r1.role, 'leader');
    nt.isolate('1');
    for (let i = 0; i < 20; i++) {
      r1.tick();
      nt.flush();
    }
    assert.equal(r1.role, 'follower');
  });

  test('pre-vote: a member that was partitioned does not disrupt the leader when it returns', () => {
    const nt = Network.of(3, { preVote: true, checkQuorum: true });
    nt.send(hup('1'));
    nt.isolate('3');
    const r3 = nt.get('3');
    for (let i = 0; i < 100; i++) {
      r3.tick();
      nt.flush();
    }
    assert.equal(r3.term, 1, 'term did not grow while partitioned');
    nt.recover();
    for (let i = 0; i < 5; i++) {
      nt.get('1').tick();
      nt.get('2').tick();
      r3.tick();
      nt.flush();
    }
    assert.equal(nt.get('1').role, 'leader');
    assert.equal(nt.get('1').term, 1);
    assert.equal(r3.lead, '1');
  });

  test('without pre-vote the same return would bump the term (what pre-vote prevents)', () => {
    const nt = Network.of(3, { preVote: false, checkQuorum: false });
    nt.send(hup('1'));
    nt.isolate('3');
    const r3 = nt.get('3');
    for (let i = 0; i < 40; i++) {
      r3.tick();
      nt.flush();
    }
    assert.ok(r3.term > 1);
  });
});

describe('membership', () => {
  test('a new leader accepts no conf change until it has applied an entry of its own term', () => {
    const nt = Network.of(3);
    nt.send(hup('1'));
    const r1 = nt.get('1');
    const cc = newMessage({
      type: 'MsgProp',
      from: '1',
      to: '1',
      entries: [
        {
          term: 0,
          index: 0,
          type: EntryType.ConfChange,
          data: encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: '4' }),
        },
      ],
    });
    // Committed, but not applied yet.
    assert.equal(r1.log.committed, 1);
    assert.equal(r1.step(cc), ErrProposalDropped);
    r1.log.appliedTo(1);
    assert.equal(r1.step(cc), undefined);
    // One change at a time: a second one waits for the first to be applied.
    nt.flush();
    assert.equal(r1.step(cc), ErrProposalDropped);
  });

  test('a learner replicates but never votes, campaigns or counts for commit', () => {
    const st = (id: string) =>
      newTestRaft(id, [], {}, new MemoryStorage({ voters: ['1', '2'], learners: ['3'] }));
    const nt = new Network([st('1'), st('2'), st('3')]);
    const r3 = nt.get('3');
    for (let i = 0; i < 50; i++) r3.tick();
    nt.flush();
    assert.equal(r3.role, 'follower', 'learner never campaigns');
    nt.send(hup('1'));
    assert.equal(nt.get('1').role, 'leader');
    nt.isolate('2');
    nt.send(prop('1', 'x'));
    assert.equal(r3.log.lastIndex(), 2, 'learner got the entries');
    assert.equal(nt.get('1').log.committed, 1, 'learner does not count for commit');
  });

  test('removing the leader: it steps down once applied and a remaining voter takes over', () => {
    const nt = Network.of(3);
    nt.send(hup('1'));
    const r1 = nt.get('1');
    r1.log.appliedTo(r1.log.committed);
    r1.applyConfChange({ type: ConfChangeType.RemoveNode, nodeId: '1' });
    assert.equal(r1.role, 'follower');
    nt.flush();
    const leaders = ['2', '3'].filter((id) => nt.get(id).role === 'leader');
    assert.equal(leaders.length, 1, 'MsgTimeoutNow elected a remaining voter');
  });
});

describe('leadership transfer', () => {
  test('proposals are refused during a transfer; the transfer is abandoned after an election timeout', () => {
    const nt = Network.of(3);
    nt.send(hup('1'));
    nt.isolate('3');
    const r1 = nt.get('1');
    r1.step(newMessage({ type: 'MsgTransferLeader', from: '3', to: '1' }));
    assert.equal(r1.leadTransferee, '3');
    assert.equal(r1.step(prop('1', 'x')), ErrProposalDropped);
    for (let i = 0; i < 10; i++) r1.tick();
    assert.equal(r1.leadTransferee, '');
    assert.equal(r1.step(prop('1', 'x')), undefined);
  });
});

describe('ReadIndex', () => {
  test('the leader answers once a quorum confirmed its leadership, with its commit index', () => {
    const nt = Network.of(3);
    nt.send(hup('1'));
    const r1 = nt.get('1');
    nt.isolate('2');
    nt.isolate('3');
    r1.step(newMessage({ type: 'MsgReadIndex', context: enc.encode('ctx') }));
    nt.flush();
    assert.equal(r1.readStates.length, 0, 'no quorum, no read');
    nt.recover();
    r1.step(newMessage({ type: 'MsgReadIndex', context: enc.encode('ctx2') }));
    nt.flush();
    assert.deepEqual(
      r1.readStates.map((rs) => [rs.index, new TextDecoder().decode(rs.ctx)]),
      [
        [1, 'ctx'],
        [1, 'ctx2'],
      ],
    );
  });
});
