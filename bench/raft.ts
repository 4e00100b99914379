// Benchmark: proposals committed per second by a 3-member Raft cluster in one process, no I/O, batched.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EntryType, MemoryStorage, RawNode, type Message } from '../store/raft/index.js';

interface Row {
  batch: number;
  payloadBytes: number;
  proposals: number;
  seconds: number;
  proposalsPerSec: number;
  readyCycles: number;
}

interface Member {
  id: string;
  storage: MemoryStorage;
  node: RawNode;
  applied: number;
}

function parse(args: string[]): { seconds: number; batches: number[]; size: number } {
  const out = { seconds: 2, batches: [1, 16, 128, 1024], size: 128 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--seconds') out.seconds = Number(args[++i]);
    else if (a === '--batch') out.batches = String(args[++i]).split(',').map(Number);
    else if (a === '--size') out.size = Number(args[++i]);
    else throw new Error(`unknown flag ${a} (flags: --seconds S --batch 1,16,128 --size BYTES)`);
  }
  return out;
}

/** A deterministic source for election timeouts (the benchmark does not need randomness). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

function cluster(): Member[] {
  const ids = ['1', '2', '3'];
  return ids.map((id, i) => {
    const storage = new MemoryStorage();
    const node = new RawNode({
      id,
      storage,
      peers: ids,
      random: lcg(i + 1),
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 1 << 30,
    });
    return { id, storage, node, applied: 0 };
  });
}

/** One round of every member's Ready loop, then deliver everything sent. Returns whether anything happened. */
function pump(members: Member[], byId: Map<string, Member>): boolean {
  const out: Message[] = [];
  let any = false;
  for (const m of members) {
    if (!m.node.hasReady()) continue;
    any = true;
    const rd = m.node.ready();
    if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) out.push(msg);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.length > 0) m.applied++;
    }
    m.node.advance();
    // Compact as a server would, so that memory stays bounded.
    const st = m.node.status();
    if (st.applied - (m.storage.firstIndex() - 1) > 20000) {
      m.storage.createSnapshot(st.applied, { voters: st.voters, learners: st.learners }, new Uint8Array());
      m.storage.compact(st.applied - 1000);
    }
  }
  for (const msg of out) byId.get(msg.to)!.node.step(msg);
  return any || out.length > 0;
}

function runOne(batch: number, size: number, seconds: number): Row {
  const members = cluster();
  const byId = new Map(members.map((m) => [m.id, m]));
  while (pump(members, byId)) {
    // apply the bootstrap entries
  }
  members[0]!.node.campaign();
  while (pump(members, byId)) {
    // elect
  }
  const leader = members.find((m) => m.node.status().role === 'leader');
  if (!leader) throw new Error('no leader elected');
  const payload = new Uint8Array(size).fill(120);
  const datas = Array.from({ length: batch }, () => payload);
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let cycles = 0;
  let proposed = 0;
  const base = leader.applied;
  for (;;) {
    const err = leader.node.proposeBatch(datas);
    if (err) throw err;
    proposed += batch;
    // Drive the cluster until this batch is applied on the leader (a commit round trip per cycle).
    while (leader.applied - base < proposed) {
      if (!pump(members, byId)) throw new Error('cluster stalled');
      cycles++;
    }
    if (process.hrtime.bigint() >= deadline) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const committed = leader.applied - base;
  return {
    batch,
    payloadBytes: size,
    proposals: committed,
    seconds: Number(secs.toFixed(3)),
    proposalsPerSec: Math.round(committed / secs),
    readyCycles: cycles,
  };
}

export async function run(args: string[]): Promise<void> {
  const opts = parse(args);
  const rows: Row[] = [];
  console.log(`raft: 3-member in-process cluster, ${opts.size}-byte proposals, ${opts.seconds}s per row`);
  console.log('batch  proposals   seconds  proposals/s  ready-cycles');
  for (const b of opts.batches) {
    const r = runOne(b, opts.size, opts.seconds);
    rows.push(r);
    console.log(
      `${String(b).padStart(5)}  ${String(r.proposals).padStart(9)}  ${r.seconds.toFixed(2).padStart(8)}  ${String(r.proposalsPerSec).padStart(11)}  ${String(r.readyCycles).padStart(12)}`,
    );
  }
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const best = rows.reduce((a, b) => (b.proposalsPerSec > a.proposalsPerSec ? b : a));
  writeFileSync(
    join(dir, 'raft.json'),
    JSON.stringify(
      { benchmark: 'raft', node: process.version, date: new Date().toISOString(), best, rows },
      null,
      2,
    ) + '\n',
  );
  console.log(
    `best: ${best.proposalsPerSec} proposals/s (batch ${best.batch}); wrote ${join(dir, 'raft.json')}`,
  );
}

/** The repository root (with package.json), whether this runs from dist/bench or through tsx. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}
