// A tiny in-memory network of Raft state machines for unit tests: deliver every message until quiet, with
// members that can be isolated and links that can be cut.
import type { Message } from '../message.js';
import { Raft, type Config } from '../raft.js';
import { MemoryStorage } from '../storage.js';
import type { NodeId } from '../types.js';

export function newTestRaft(
  id: NodeId,
  peers: NodeId[],
  opts: Partial<Config> = {},
  storage?: MemoryStorage,
): Raft {
  const st = storage ?? new MemoryStorage({ voters: peers, learners: [] });
  return new Raft({ id, storage: st, random: () => 0, electionTick: 10, heartbeatTick: 1, ...opts });
}

/** Persist what a Raft appended (tests skip the Ready cycle and call this instead). */
export function persist(r: Raft): void {
  const st = r.log.storage as MemoryStorage;
  const ents = r.log.unstableEntries();
  if (r.log.unstable.snapshot) {
    st.applySnapshot(r.log.unstable.snapshot);
    r.log.stableSnapTo(r.log.unstable.snapshot.metadata.index);
  }
  if (ents.length > 0) {
    st.append(ents);
    const last = ents[ents.length - 1]!;
    r.log.stableTo(last.index, last.term);
  }
  st.setHardState({ term: r.term, vote: r.vote, commit: r.log.committed });
}

export function takeMessages(r: Raft): Message[] {
  const m = r.msgs;
  r.msgs = [];
  return m;
}

export class Network {
  readonly peers = new Map<NodeId, Raft>();
  private readonly cut = new Set<string>();
  private readonly isolated = new Set<NodeId>();
  /** Message types to drop everywhere. */
  readonly ignored = new Set<string>();
  delivered: Message[] = [];

  constructor(rafts: Raft[]) {
    for (const r of rafts) this.peers.set(r.id, r);
  }

  static of(n: number, opts: Partial<Config> = {}): Network {
    const ids = Array.from({ length: n }, (_, i) => String(i + 1));
    return new Network(ids.map((id) => newTestRaft(id, ids, opts)));
  }

  get(id: NodeId): Raft {
    const r = this.peers.get(id);
    if (!r) throw new Error(`no peer ${id}`);
    return r;
  }

  /** Step the messages and everything they cause, until no member has anything left to send. */
  send(...msgs: Message[]): void {
    let queue = msgs;
    for (let rounds = 0; queue.length > 0; rounds++) {
      if (rounds > 10000) throw new Error('network did not quiesce');
      const m = queue.shift()!;
      const r = this.peers.get(m.to);
      if (!r || this.dropped(m)) continue;
      this.delivered.push(m);
      r.step(m);
      persist(r);
      queue = queue.concat(takeMessages(r));
    }
  }

  /** Collect what every member has queued (after ticks or local calls) and deliver it. */
  flush(): void {
    const msgs: Message[] = [];
    for (const r of this.peers.values()) {
      persist(r);
      msgs.push(...takeMessages(r));
    }
    this.send(...msgs);
  }

  private dropped(m: Message): boolean {
    return (
      this.cut.has(`${m.from}|${m.to}`) ||
      this.isolated.has(m.from) ||
      this.isolated.has(m.to) ||
      this.ignored.has(m.type)
    );
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}|${b}`);
    this.cut.add(`${b}|${a}`);
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  recover(): void {
    this.cut.clear();
    this.isolated.clear();
    this.ignored.clear();
  }
}
