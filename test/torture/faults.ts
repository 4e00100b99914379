// The fault schedule of a torture run: the seed picks which fault, on whom, when and for how long.
// Each fault is injected, held, then healed before the next; faults a cluster this small cannot have
// (partitions of one member, membership churn of the last member) are counted as skipped.
import type { Member, TortureCluster } from './cluster.js';
import { now, type FaultRecord } from './history.js';
import { Rng } from './rng.js';

export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'kill-random',
  'pause',
  'partition-leader',
  'partition-majority',
  'one-way',
  'delay',
  'member-churn',
  'wipe',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that need peers. */
const MULTI: ReadonlySet<FaultKind> = new Set([
  'kill-follower',
  'partition-leader',
  'partition-majority',
  'one-way',
  'delay',
  'member-churn',
  'wipe',
]);

export function parseFaults(s: string | undefined): FaultKind[] {
  if (!s || s === 'all') return [...FAULT_KINDS];
  if (s === 'none') return [];
  const out: FaultKind[] = [];
  for (const k of s.split(',').map((x) => x.trim())) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new Error(`unknown fault kind ${JSON.stringify(k)} (known: ${FAULT_KINDS.join(', ')})`);
    }
    out.push(k as FaultKind);
  }
  return out;
}

export class FaultSchedule {
  readonly records: FaultRecord[] = [];
  private stopped = false;
  private done: Promise<void> | undefined;
  private readonly rng: Rng;
  /** Cycles through the enabled kinds in a seeded order so short runs still cover each kind. */
  private order: FaultKind[] = [];

  constructor(
    private readonly cluster: TortureCluster,
    private readonly kinds: FaultKind[],
    seed: number,
    private readonly log: (s: string) => void,
    /** Hold and gap ranges in ms; CI runs use shorter ones to see every kind in a short run. */
    private readonly pace = { holdMs: [500, 3000], gapMs: [500, 2000] },
  ) {
    this.rng = new Rng(seed ^ 0x5eed);
  }

  start(): void {
    this.done = this.loop();
  }

  /** Stops scheduling and heals whatever is in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private nextKind(): FaultKind {
    if (this.order.length === 0) {
      this.order = [...this.kinds];
      for (let i = this.order.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
      }
    }
    return this.order.shift()!;
  }

  private async sleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopped && Date.now() < until)
      await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
  }

  private async loop(): Promise<void> {
    await this.sleep(500 + this.rng.int(1000));
    while (!this.stopped && this.kinds.length > 0) {
      const kind = this.nextKind();
      const rec: FaultRecord = { kind, start: now(), end: 0 };
      this.records.push(rec);
      if (MULTI.has(kind) && this.cluster.members.length < 3) {
        rec.skipped = `needs at least 3 members, have ${this.cluster.members.length}`;
        rec.end = rec.start;
        continue;
      }
      try {
        await this.inject(kind, rec);
      } catch (err) {
        rec.detail = `${rec.detail ?? ''} error: ${(err as Error).message}`.trim();
        this.log(`fault ${kind} failed: ${(err as Error).message}`);
      }
      await this.healAll();
      rec.end = now();
      this.log(
        `fault ${kind}${rec.target ? ` on ${rec.target}` : ''} ${rec.detail ?? ''} (${Math.round(rec.end - rec.start)} ms)`,
      );
      await this.sleep(this.between(this.pace.gapMs));
    }
  }

  private between([lo, hi]: number[]): number {
    return lo! + this.rng.int(hi! - lo! + 1);
  }

  private hold(): Promise<void> {
    return this.sleep(this.between(this.pace.holdMs));
  }

  private async pickLeader(): Promise<Member | undefined> {
    return this.cluster.leader();
  }

  private async inject(kind: FaultKind, rec: FaultRecord): Promise<void> {
    const c = this.cluster;
    const ms = c.members;
    const random = () => this.rng.pick(ms);
    switch (kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'kill-random': {
        const leader = kind === 'kill-random' ? undefined : await this.pickLeader();
        let m: Member;
        if (kind === 'kill-leader') m = leader ?? random();
        else if (kind === 'kill-follower') m = this.rng.pick(ms.filter((x) => x !== leader));
        else m = random();
        rec.target = m.name;
        await c.kill9(m);
        await this.hold();
        await c.restart(m);
        return;
      }
      case 'pause': {
        const m = random();
        rec.target = m.name;
        c.pause(m);
        await this.hold();
        await c.resume(m);
        return;
      }
      case 'partition-leader': {
        const m = (await this.pickLeader()) ?? random();
        rec.target = m.name;
        for (const o of ms)
          if (o !== m) {
            c.link(m.index, o.index, { kind: 'drop' });
            c.link(o.index, m.index, { kind: 'drop' });
          }
        await this.hold();
        return;
      }
      case 'partition-majority': {
        const shuffled = [...ms].sort(() => this.rng.next() - 0.5);
        const minority = shuffled.slice(0, Math.floor((ms.length - 1) / 2));
        rec.target = minority.map((m) => m.name).join(',');
        for (const a of minority)
          for (const b of ms)
            if (!minority.includes(b)) {
              c.link(a.index, b.index, { kind: 'drop' });
              c.link(b.index, a.index, { kind: 'drop' });
            }
        await this.hold();
        return;
      }
      case 'one-way': {
        // Everything sent to one member is lost; what it sends still arrives (a half-broken NIC or firewall).
        const m = random();
        rec.target = `* -> ${m.name}`;
        for (const o of ms) if (o !== m) c.link(o.index, m.index, { kind: 'drop' });
        await this.hold();
        return;
      }
      case 'delay': {
        const delay = 20 + this.rng.int(130);
        rec.detail = `${delay} ms ± ${Math.round(delay / 2)} ms`;
        for (const a of ms)
          for (const b of ms) c.link(a.index, b.index, { kind: 'delay', ms: delay, jitterMs: delay / 2 });
        await this.hold();
        return;
      }
      case 'member-churn':
      case 'wipe': {
        // Reconfiguration needs the others started (etcd refuses a removal that would leave too few).
        for (const o of ms) await c.waitServing(o, 20_000);
        const m = random();
        rec.target = m.name;
        const oldId = m.id;
        await c.replace(m, kind === 'wipe');
        rec.detail = `id ${oldId} -> ${m.id}`;
        await c.waitServing(m, 30_000).catch((err: Error) => {
          // The new member's own account is the first thing needed to tell why it never served.
          throw new Error(`${err.message}\n--- ${m.name} output ---\n${m.proc?.output().slice(-6000)}`);
        });
        return;
      }
    }
  }

  /** Every member running and not paused, every link passing. */
  async healAll(): Promise<void> {
    this.cluster.healNetwork();
    for (const m of this.cluster.members) {
      if (m.paused) await this.cluster.resume(m);
      if (!this.cluster.running(m)) await this.cluster.restart(m);
    }
  }
}
