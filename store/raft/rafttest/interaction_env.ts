// The interaction environment behind testdata/*.txt: a small command language that drives a few RawNodes by
// hand (deliver these messages, drop those, tick that node) and prints what each step did.
import { confChangeTypeName, decodeConfChange } from '../confchange.js';
import type { Message } from '../message.js';
import type { LogLevel } from '../raft.js';
import { RawNode, type Ready } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import type { ConfChange, ConfState, Entry, NodeId, Snapshot } from '../types.js';
import { ConfChangeType, EntryType } from '../types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Command {
  name: string;
  args: string[];
  /** key=value arguments */
  kv: Map<string, string>;
  line: number;
}

export function parseCommand(text: string, line: number): Command {
  const parts = text.trim().split(/\s+/);
  const name = parts.shift()!;
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const p of parts) {
    const i = p.indexOf('=');
    if (i > 0) kv.set(p.slice(0, i), p.slice(i + 1));
    else args.push(p);
  }
  return { name, args, kv, line };
}

interface EnvNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  confState: ConfState;
  applied: Entry[];
}

const LEVELS: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3, none: 4 };

function fmtData(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    return `${confChangeTypeName(cc.type)} ${cc.nodeId}`;
  }
  return JSON.stringify(dec.decode(e.data));
}

export function fmtEntry(e: Entry): string {
  return `${e.term}/${e.index} ${e.type === EntryType.ConfChange ? 'ConfChange' : 'Normal'} ${fmtData(e)}`;
}

function fmtConf(cs: ConfState): string {
  return `voters=(${cs.voters.join(' ')})${cs.learners.length > 0 ? ` learners=(${cs.learners.join(' ')})` : ''}`;
}

function fmtSnap(s: Snapshot): string {
  return `Index:${s.metadata.index} Term:${s.metadata.term} ${fmtConf(s.metadata.confState)}`;
}

export function fmtMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  if (m.type === 'MsgApp' || m.type === 'MsgVote' || m.type === 'MsgPreVote')
    s += ` Log:${m.logTerm}/${m.index}`;
  else if (m.index !== 0 || m.type === 'MsgAppResp') s += ` Index:${m.index}`;
  if (m.commit !== 0 || m.type === 'MsgApp' || m.type === 'MsgHeartbeat') s += ` Commit:${m.commit}`;
  if (m.reject && m.type === 'MsgAppResp') {
    s += ` Rejected (Hint: ${m.rejectHint}${m.logTerm ? `, LogTerm: ${m.logTerm}` : ''})`;
  } else if (m.reject) s += ' Rejected';
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(fmtEntry).join(', ')}]`;
  if (m.snapshot) s += ` Snapshot: ${fmtSnap(m.snapshot)}`;
  if (m.context.byteLength > 0) s += ` Context:${dec.decode(m.context)}`;
  return s;
}

export class InteractionEnv {
  private readonly nodes = new Map<NodeId, EnvNode>();
  private messages: Message[] = [];
  private out: string[] = [];
  private level = LEVELS['none']!;
  private readonly blocked = new Set<string>();
  private electionTick = 10;
  private maxSizePerMsg = 1 << 20;
  private readonly heartbeatTick = 1;

  private write(line: string): void {
    this.out.push(line);
  }

  private logger(id: NodeId): (level: LogLevel, msg: string) => void {
    return (level, msg) => {
      if (LEVELS[level]! >= this.level) this.write(`${level.toUpperCase()} ${msg}`);
      void id;
    };
  }

  /** Run one command; returns its output (never empty: "ok" when nothing happened). */
  handle(cmd: Command): string {
    this.out = [];
    switch (cmd.name) {
      case 'log-level':
        this.level = LEVELS[cmd.args[0] ?? 'none'] ?? LEVELS['none']!;
        break;
      case 'add-nodes':
        this.addNodes(cmd);
        break;
      case 'campaign':
        this.check(this.get(cmd.args[0]).node.campaign());
        break;
      case 'propose':
        this.check(this.get(cmd.args[0]).node.propose(enc.encode(cmd.args[1] ?? '')));
        break;
      case 'propose-conf-change':
        this.check(this.get(cmd.args[0]).node.proposeConfChange(this.parseConfChange(cmd)));
        break;
      case 'transfer-leader':
        this.check(this.get(cmd.kv.get('from')).node.transferLeader(cmd.kv.get('to') ?? ''));
        break;
      case 'read-index':
        this.check(this.get(cmd.args[0]).node.readIndex(enc.encode(cmd.args[1] ?? '')));
        break;
      case 'tick-election':
        for (const id of cmd.args) for (let i = 0; i < this.electionTick * 1.5; i++) this.get(id).node.tick();
        break;
      case 'tick': {
        const n = this.get(cmd.args[0]);
        for (let i = 0; i < Number(cmd.args[1] ?? '1'); i++) n.node.tick();
        break;
      }
      case 'tick-heartbeat':
        for (const id of cmd.args) for (let i = 0; i < this.heartbeatTick; i++) this.get(id).node.tick();
        break;
      case 'process-ready':
        for (const id of this.ids(cmd.args)) this.processReady(this.get(id));
        break;
      case 'deliver-msgs':
        for (const id of this.ids(cmd.args)) this.deliver(id);
        break;
      case 'drop-msgs':
        for (const id of this.ids(cmd.args)) this.drop(id);
        break;
      case 'stabilize':
        this.stabilize(this.ids(cmd.args));
        break;
      case 'partition':
        this.partition(cmd.args);
        break;
      case 'heal':
        this.blocked.clear();
        break;
      case 'report-unreachable':
        this.get(cmd.args[0]).node.reportUnreachable(cmd.args[1] ?? '');
        break;
      case 'compact':
        this.compact(this.get(cmd.args[0]), Number(cmd.args[1]));
        break;
      case 'restart':
        this.restart(this.get(cmd.args[0]));
        break;
      case 'raft-state':
        for (const n of this.nodes.values()) {
          const s = n.node.status();
          const kind = s.voters.includes(n.id)
            ? 'Voter'
            : s.learners.includes(n.id)
              ? 'Learner'
              : 'NonMember';
          this.write(
            `${n.id}: ${s.role} (${kind}) Term:${s.term} Lead:${s.lead || '-'} Commit:${s.commit} Applied:${s.applied}`,
          );
        }
        break;
      case 'status': {
        const s = this.get(cmd.args[0]).node.status();
        if (s.role !== 'leader') this.write(`${s.id} is ${s.role}: no progress`);
        for (const [id, pr] of Object.entries(s.progress)) {
          this.write(
            `${id}: ${pr.state} match=${pr.match} next=${pr.next}${pr.isLearner ? ' learner' : ''}${pr.inflight ? ` inflight=${pr.inflight}` : ''}${pr.pendingSnapshot ? ` pendingSnap=${pr.pendingSnapshot}` : ''}`,
          );
        }
        break;
      }
      case 'raft-log': {
        const n = this.get(cmd.args[0]);
        const first = n.storage.firstIndex();
        const last = n.storage.lastIndex();
        if (last < first) this.write(`log is empty: first index=${first}, last index=${last}`);
        else
          for (const e of n.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER))
            this.write(fmtEntry(e));
        break;
      }
      case 'applied': {
        const n = this.get(cmd.args[0]);
        this.write(
          n.applied
            .filter((e) => e.type === EntryType.Normal && e.data.length > 0)
            .map(fmtData)
            .join(' ') || '(none)',
        );
        break;
      }
      default:
        throw new Error(`line ${cmd.line}: unknown command ${cmd.name}`);
    }
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  private check(err: Error | undefined): void {
    if (err) this.write(`error: ${err.message}`);
  }

  private get(id: string | undefined): EnvNode {
    const n = id === undefined ? undefined : this.nodes.get(id);
    if (!n) throw new Error(`no node ${String(id)}`);
    return n;
  }

  private ids(args: string[]): NodeId[] {
    return args.length > 0 ? args : [...this.nodes.keys()];
  }

  private parseConfChange(cmd: Command): ConfChange {
    const kinds: Record<string, ConfChangeType> = {
      add: ConfChangeType.AddNode,
      'add-learner': ConfChangeType.AddLearnerNode,
      promote: ConfChangeType.PromoteLearner,
      remove: ConfChangeType.RemoveNode,
    };
    for (const [k, t] of Object.entries(kinds)) {
      const id = cmd.kv.get(k);
      if (id !== undefined) return { type: t, nodeId: id };
    }
    throw new Error(`line ${cmd.line}: propose-conf-change needs add=, add-learner=, promote= or remove=`);
  }

  private newRawNode(
    id: NodeId,
    storage: MemoryStorage,
    applied: number,
    peers?: NodeId[],
    learners?: NodeId[],
  ): RawNode {
    return new RawNode({
      id,
      storage,
      // Every randomized election timeout is 1.5 × electionTick: `tick 2 10` ends 2's leader lease without
      // making it campaign, `tick-election 2` makes it campaign.
      random: () => 0.5,
      electionTick: this.electionTick,
      heartbeatTick: this.heartbeatTick,
      maxSizePerMsg: this.maxSizePerMsg,
      maxInflightMsgs: 256,
      applied,
      logger: this.logger(id),
      ...(peers ? { peers } : {}),
      ...(learners && learners.length > 0 ? { learners } : {}),
    });
  }

  /**
   * add-nodes N [voters=(1,2,3)] [learners=(4)] [election-tick=10] [max-size-per-msg=BYTES]: without voters,
   * nodes join empty.
   */
  private addNodes(cmd: Command): void {
    const n = Number(cmd.args[0] ?? '1');
    const list = (k: string): NodeId[] | undefined => {
      const v = cmd.kv.get(k);
      return v === undefined
        ? undefined
        : v
            .replace(/[()]/g, '')
            .split(',')
            .filter((x) => x !== '');
    };
    const voters = list('voters');
    const learners = list('learners');
    if (cmd.kv.has('election-tick')) this.electionTick = Number(cmd.kv.get('election-tick'));
    if (cmd.kv.has('max-size-per-msg')) this.maxSizePerMsg = Number(cmd.kv.get('max-size-per-msg'));
    for (let i = 0; i < n; i++) {
      const id = String(this.nodes.size + 1);
      const storage = new MemoryStorage();
      const node = this.newRawNode(id, storage, 0, voters, learners);
      this.nodes.set(id, { id, storage, node, confState: { voters: [], learners: [] }, applied: [] });
    }
  }

  private processReady(n: EnvNode): void {
    if (!n.node.hasReady()) return;
    const rd = n.node.ready();
    this.write(`> ${n.id} handling Ready`);
    this.printReady(rd);
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    this.messages.push(...rd.messages);
    if (rd.snapshot) n.confState = rd.snapshot.metadata.confState;
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type === EntryType.ConfChange) {
        n.confState = n.node.applyConfChange(decodeConfChange(e.data));
        this.write(`  ${n.id} applied ${fmtData(e)}: ${fmtConf(n.confState)}`);
      }
    }
    n.node.advance();
  }

  private printReady(rd: Ready): void {
    const w = (s: string): void => this.write('  ' + s);
    w(`Ready MustSync=${rd.mustSync}:`);
    if (rd.softState) w(`State:${rd.softState.role} Lead:${rd.softState.lead || '-'}`);
    if (rd.hardState)
      w(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote || '-'} Commit:${rd.hardState.commit}`);
    if (rd.entries.length > 0) {
      w('Entries:');
      for (const e of rd.entries) w(fmtEntry(e));
    }
    if (rd.snapshot) w(`Snapshot ${fmtSnap(rd.snapshot)}`);
    if (rd.committedEntries.length > 0) {
      w('CommittedEntries:');
      for (const e of rd.committedEntries) w(fmtEntry(e));
    }
    if (rd.messages.length > 0) {
      w('Messages:');
      for (const m of rd.messages) w(fmtMessage(m));
    }
    if (rd.readStates.length > 0) {
      w('ReadStates:');
      for (const rs of rd.readStates) w(`Index:${rs.index} Ctx:${dec.decode(rs.ctx)}`);
    }
  }

  private deliver(id: NodeId): boolean {
    const mine = this.messages.filter((m) => m.to === id);
    if (mine.length === 0) return false;
    this.messages = this.messages.filter((m) => m.to !== id);
    const n = this.get(id);
    for (const m of mine) {
      if (this.blocked.has(`${m.from}|${m.to}`)) {
        this.write(`dropped: ${fmtMessage(m)}`);
        continue;
      }
      this.write(fmtMessage(m));
      const err = n.node.step(m);
      if (err) this.write(`  error: ${err.message}`);
    }
    return true;
  }

  private drop(id: NodeId): void {
    for (const m of this.messages.filter((x) => x.to === id)) this.write(`dropped: ${fmtMessage(m)}`);
    this.messages = this.messages.filter((m) => m.to !== id);
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const id of ids) {
        if (this.get(id).node.hasReady()) {
          this.processReady(this.get(id));
          any = true;
        }
      }
      for (const id of ids) {
        if (this.messages.some((m) => m.to === id)) {
          this.write(`> ${id} receiving messages`);
          this.deliver(id);
          any = true;
        }
      }
      if (!any) return;
    }
    throw new Error('stabilize did not converge in 1000 rounds');
  }

  /** partition 1 / 2 3: members on different sides cannot talk. */
  private partition(args: string[]): void {
    const sides: NodeId[][] = [[]];
    for (const a of args) {
      if (a === '/') sides.push([]);
      else sides[sides.length - 1]!.push(a);
    }
    this.blocked.clear();
    for (let i = 0; i < sides.length; i++) {
      for (let j = 0; j < sides.length; j++) {
        if (i === j) continue;
        for (const a of sides[i]!) for (const b of sides[j]!) this.blocked.add(`${a}|${b}`);
      }
    }
  }

  private compact(n: EnvNode, index: number): void {
    n.storage.createSnapshot(index, n.confState, enc.encode(`snap@${index}`));
    n.storage.compact(index);
    this.write(`${n.id}: compacted log to ${index} (first index ${n.storage.firstIndex()})`);
  }

  /** Crash and restart: what was handed out in a Ready is on disk; anything not yet processed is lost. */
  private restart(n: EnvNode): void {
    const snap = n.storage.snapshot();
    n.confState = snap.metadata.confState;
    n.applied = [];
    n.node = this.newRawNode(n.id, n.storage, snap.metadata.index);
    const st = n.node.status();
    this.write(
      `${n.id} restarted: term ${st.term} commit ${st.commit} applied ${st.applied} last index ${st.lastIndex}`,
    );
  }
}

/** Run a script (the file's text); returns the text with every command's output replaced by the actual one. */
export function runScript(text: string): {
  rewritten: string;
  mismatches: { line: number; cmd: string; want: string; got: string }[];
} {
  const env = new InteractionEnv();
  const lines = text.split('\n');
  const out: string[] = [];
  const mismatches: { line: number; cmd: string; want: string; got: string }[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      i++;
      continue;
    }
    const cmdLine = i + 1;
    out.push(line);
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after command "${line}"`);
    out.push('----');
    i++;
    const want: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') want.push(lines[i++]!);
    let got: string;
    try {
      got = env.handle(parseCommand(line, cmdLine));
    } catch (err) {
      got = `panic: ${(err as Error).message}`;
    }
    if (got !== want.join('\n')) mismatches.push({ line: cmdLine, cmd: line, want: want.join('\n'), got });
    out.push(got);
  }
  return { rewritten: out.join('\n'), mismatches };
}
