// A founding member that crashed before its bootstrap entries were durable must bootstrap again on restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeConfChange } from './confchange.js';
import { newMessage, type Message } from './message.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { EntryType } from './types.js';

const IDS = ['n1', 'n2', 'n3'];

function start(id: string, storage: MemoryStorage, peers?: string[]): RawNode {
  return new RawNode({
    id,
    storage,
    random: () => 0,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: true,
    checkQuorum: false,
    // One entry per append, as the simulator's 64-byte limit does: the bootstrap entries arrive one by one.
    maxSizePerMsg: 1,
    maxInflightMsgs: 64,
    maxUncommittedEntriesSize: 1 << 20,
    applied: 0,
    ...(peers ? { peers } : {}),
  });
}

/** Persist, apply (conf changes included) and acknowledge one Ready; returns what it asked to send. */
function handle(node: RawNode, storage: MemoryStorage): Message[] {
  if (!node.hasReady()) return [];
  const rd = node.ready();
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  for (const e of rd.committedEntries)
    if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
  node.advance();
  return rd.messages;
}

/** n2 and n3 persisted their bootstrap and elected n2; n1 crashed before its first Ready was durable. */
function clusterWithoutN1(): { leader: RawNode; firstEntryAppend: Message } {
  const s2 = new MemoryStorage();
  const s3 = new MemoryStorage();
  const n2 = start('n2', s2, IDS);
  const n3 = start('n3', s3, IDS);
  handle(n2, s2);
  handle(n3, s3);
  n2.campaign();
  const nodes = new Map([
    ['n2', { node: n2, storage: s2 }],
    ['n3', { node: n3, storage: s3 }],
  ]);
  for (let round = 0; round < 20; round++) {
    for (const { node, storage } of nodes.values()) {
      for (const m of handle(node, storage)) nodes.get(m.to)?.node.step(m);
    }
  }
  assert.equal(n2.raft.role, 'leader');
  // What the leader sends a member whose log is empty: entry 1 alone (the size limit), committed.
  const first = s2.entries(1, 2, 1)[0]!;
  const firstEntryAppend = newMessage({
    type: 'MsgApp',
    from: 'n2',
    to: 'n1',
    term: n2.raft.term,
    index: 0,
    logTerm: 0,
    entries: [first],
    commit: 1,
  });
  return { leader: n2, firstEntryAppend };
}

test('restarted with an empty log and no peers, a founding member can elect itself alone (the hazard)', () => {
  const { leader, firstEntryAppend } = clusterWithoutN1();
  const s1 = new MemoryStorage();
  const n1 = start('n1', s1);
  n1.step(firstEntryAppend);
  handle(n1, s1);
  // Having applied only "add n1", n1 is a cluster of one voter: it wins its own election.
  assert.deepEqual(n1.raft.trk.confState().voters, ['n1']);
  n1.campaign();
  handle(n1, s1);
  assert.equal(n1.raft.role, 'leader');
  assert.equal(leader.raft.role, 'leader', 'two leaders of disjoint memberships');
});

test('bootstrapped again instead, it knows every founding member and cannot win without their votes', () => {
  const { firstEntryAppend } = clusterWithoutN1();
  const s1 = new MemoryStorage();
  const n1 = start('n1', s1, IDS);
  handle(n1, s1);
  n1.step(firstEntryAppend);
  handle(n1, s1);
  assert.deepEqual(n1.raft.trk.confState().voters, IDS);
  n1.campaign();
  handle(n1, s1);
  assert.notEqual(n1.raft.role, 'leader');
  assert.equal(s1.lastIndex(), 3, 'its bootstrap entries match the leader’s');
});
