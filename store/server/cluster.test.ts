// Member changes as applied: the membership follows the ConfState Raft reached, so a change Raft refused
// changes nothing; MemberUpdate's carrier change is one Raft always refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawNode, MemoryStorage, ConfChangeType, type ConfChange, type ConfState } from '../raft/index.js';
import {
  applyMemberChange,
  confChangeFor,
  decodeMemberContext,
  forceNewClusterChanges,
  nextConfState,
  type MemberContext,
} from './cluster.js';
import { Membership } from './members.js';
import { decodeSnapshotData, encodeSnapshotData } from './snapshot.js';
import { nodeIdOf } from './node.js';

/** The ConfState a Raft member reaches after applying `cc` in configuration `cs` (refused changes keep it). */
function applyToConfStateForTest(cs: ConfState, cc: ConfChange): ConfState {
  const rn = new RawNode({
    id: cs.voters[0]!,
    storage: new MemoryStorage(),
    electionTick: 10,
    heartbeatTick: 1,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 1 << 30,
    applied: 0,
    random: () => 0.5,
    peers: cs.voters,
    learners: cs.learners,
    logger: () => undefined,
  });
  return rn.applyConfChange(cc);
}

function bootstrap(): Membership {
  return Membership.bootstrap(
    new Map([
      ['a', ['http://127.0.0.1:1']],
      ['b', ['http://127.0.0.1:2']],
    ]),
    'tok',
  );
}

test('add, promote, update and remove follow the ConfState', () => {
  const m = bootstrap();
  const voters = [...m.members.keys()].map(nodeIdOf);
  let cs = { voters: [...voters].sort(), learners: [] as string[] };
  const id = 'abcdef0123456789';
  const ctx = (op: MemberContext['op'], extra: Partial<MemberContext> = {}): MemberContext => ({
    op,
    id,
    name: '',
    peerURLs: ['http://127.0.0.1:3'],
    isLearner: true,
    req: 'r',
    ...extra,
  });
  const step = (c: MemberContext) => {
    const cc = confChangeFor(c, id);
    assert.deepEqual(decodeMemberContext(cc.context), c);
    cs = applyToConfStateForTest(cs, cc);
    return applyMemberChange(m, c, cs, id);
  };

  assert.ok(step(ctx('add')).added);
  assert.equal(m.members.get(BigInt('0x' + id))!.isLearner, true);
  // Adding it again: Raft refuses, the membership is unchanged.
  assert.deepEqual(step(ctx('add')), {});
  step(ctx('promote', { isLearner: false }));
  assert.equal(m.members.get(BigInt('0x' + id))!.isLearner, false);
  assert.ok(step(ctx('update', { peerURLs: ['http://127.0.0.1:9'] })).updated);
  assert.deepEqual(m.members.get(BigInt('0x' + id))!.peerURLs, ['http://127.0.0.1:9']);
  assert.deepEqual(cs.voters.includes(id), true, 'update left Raft alone');
  assert.equal(step(ctx('remove')).removed, BigInt('0x' + id));
  assert.equal(m.members.size, 2);
  // Removing a member that is gone: nothing.
  assert.deepEqual(step(ctx('remove')), {});
});

test('a removed id is kept for good: through snapshot data, and Raft re-adding it changes nothing', () => {
  const m = bootstrap();
  const voters = [...m.members.keys()].map(nodeIdOf);
  const gone = voters[1]!;
  const removeCtx: MemberContext = {
    op: 'remove',
    id: gone,
    name: '',
    peerURLs: [],
    isLearner: false,
    req: 'r',
  };
  let cs: ConfState = { voters: [...voters].sort(), learners: [] };
  cs = applyToConfStateForTest(cs, confChangeFor(removeCtx, gone));
  assert.equal(applyMemberChange(m, removeCtx, cs, gone).removed, BigInt('0x' + gone));
  assert.ok(m.removed.has(BigInt('0x' + gone)));

  // A restarted member reads the membership from its newest snapshot: the removal is still there.
  const back = Membership.fromJSON(decodeSnapshotData(encodeSnapshotData(m, Buffer.alloc(0))).membership);
  assert.deepEqual([...back.removed], [BigInt('0x' + gone)]);
  assert.deepEqual(back.list(), m.list());

  // Raft's ConfState forgets removals and would take the id back; the membership does not.
  const addCtx: MemberContext = { ...removeCtx, op: 'add', peerURLs: ['http://127.0.0.1:2'] };
  cs = applyToConfStateForTest(cs, confChangeFor(addCtx, gone));
  assert.ok(cs.voters.includes(gone));
  assert.deepEqual(applyMemberChange(back, addCtx, cs, gone), {});
  assert.equal(back.members.has(BigInt('0x' + gone)), false);

  // Data written before removed ids were kept reads as none removed; a member both listed and removed is
  // corruption, refused loudly.
  const old = JSON.parse(JSON.stringify(m.toJSON())) as Record<string, unknown>;
  delete old['removed'];
  assert.equal(Membership.fromJSON(old).removed.size, 0);
  const bad = JSON.parse(JSON.stringify(bootstrap().toJSON())) as { members: { id: string }[] };
  assert.throws(
    () => Membership.fromJSON({ ...bad, removed: [bad.members[0]!.id] }),
    /corrupt membership: member .* is also removed/,
  );
});

test('nextConfState reaches the ConfState Raft reaches, for every kind of change', () => {
  const sorted = (cs: ConfState) => ({ voters: [...cs.voters].sort(), learners: [...cs.learners].sort() });
  const start: ConfState = { voters: ['01', '02'], learners: ['03'] };
  for (const cc of [
    { type: ConfChangeType.AddNode, nodeId: '04' },
    { type: ConfChangeType.AddLearnerNode, nodeId: '04' },
    { type: ConfChangeType.AddLearnerNode, nodeId: '02' }, // MemberUpdate's carrier on a voter: no-op
    { type: ConfChangeType.PromoteLearner, nodeId: '03' },
    { type: ConfChangeType.RemoveNode, nodeId: '02' },
    { type: ConfChangeType.RemoveNode, nodeId: '03' },
  ] as ConfChange[]) {
    assert.deepEqual(
      sorted(nextConfState(start, cc)),
      sorted(applyToConfStateForTest(start, cc)),
      JSON.stringify(cc),
    );
  }
});

test('--force-new-cluster removes every other voter and learner, with MemberRemove contexts', () => {
  const m = bootstrap();
  const [a, b] = [...m.members.values()];
  const self = nodeIdOf(a!.id);
  const other = nodeIdOf(b!.id);
  const cs: ConfState = { voters: [self, other], learners: ['00000000000000ff'] };
  const changes = forceNewClusterChanges(self, cs, m);
  assert.deepEqual(
    changes.map((c) => [c.type, c.nodeId]),
    [
      [ConfChangeType.RemoveNode, '00000000000000ff'],
      [ConfChangeType.RemoveNode, other],
    ].sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
  );
  const ctx = decodeMemberContext(changes.find((c) => c.nodeId === other)!.context)!;
  assert.equal(ctx.op, 'remove');
  assert.equal(ctx.name, b!.name);
  assert.deepEqual(ctx.peerURLs, b!.peerURLs);
  // Applied in turn, they leave this member alone.
  let after = cs;
  for (const c of changes) after = nextConfState(after, c);
  assert.deepEqual(after, { voters: [self], learners: [] });
});
