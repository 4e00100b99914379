// Watchers that run through the whole torture: one Watch stream each on the key prefix, with progress
// notifications, periodic progress requests, and on any disconnect a resume from the last revision they
// know + 1 (on another member if theirs is gone), as Kubernetes' reflectors do. Everything they receive is
// logged for the watch checks.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { EtcdClient } from './client.js';
import { now, type WatcherLog, type WatchEvent } from './history.js';
import { PREFIX, rangeEnd } from './workload.js';

export class Watcher {
  readonly log: WatcherLog;
  private stream: ClientDuplexStream<any, any> | undefined;
  private streamNo = 0;
  /** The highest revision this watcher knows it has everything up to (events and progress). */
  known = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  private attempt = 0;

  constructor(
    id: number,
    private readonly pickClient: (attempt: number) => EtcdClient,
    startRev: number,
    private readonly progressEveryMs = 1000,
  ) {
    this.log = { id, member: '', startRev, responses: [], resumes: [] };
    this.known = startRev - 1;
  }

  start(): void {
    this.open();
    this.timer = setInterval(() => this.tick(), this.progressEveryMs);
  }

  private open(): void {
    const client = this.pickClient(this.attempt);
    this.log.member ||= client.endpoint;
    const stream = client.watch();
    const no = ++this.streamNo;
    this.stream = stream;
    this.lastActivity = now();
    stream.on('data', (r: any) => {
      if (this.stream !== stream) return;
      this.lastActivity = now();
      if (r.created && !r.events?.length) return;
      const headerRev = Number(r.header?.revision ?? 0);
      const events: WatchEvent[] = (r.events ?? []).map((e: any) => ({
        type: e.type === 1 || e.type === 'DELETE' ? 'DELETE' : 'PUT',
        key: Buffer.from(e.kv.key).toString(),
        value: Buffer.from(e.kv.value ?? []).toString(),
        modRev: Number(e.kv.modRevision),
        createRev: Number(e.kv.createRevision),
        version: Number(e.kv.version),
        lease: String(e.kv.lease ?? '0'),
      }));
      const compact = Number(r.compactRevision ?? 0);
      const progress = !r.canceled && !r.created && events.length === 0;
      this.log.responses.push({
        at: now(),
        stream: no,
        headerRev,
        events,
        progress,
        ...(compact ? { compactRevision: compact } : {}),
        ...(r.canceled ? { canceled: true } : {}),
      });
      if (events.length) this.known = Math.max(this.known, events[events.length - 1]!.modRev);
      if (progress) this.known = Math.max(this.known, headerRev);
      if (r.canceled) this.reopen(`canceled: ${r.cancelReason ?? ''}`);
      else this.attempt = 0;
    });
    stream.on('error', (err: Error) => this.stream === stream && this.reopen(`error: ${err.message}`));
    stream.on('end', () => this.stream === stream && this.reopen('stream ended'));
    stream.write({
      createRequest: {
        key: Buffer.from(PREFIX),
        rangeEnd: rangeEnd(PREFIX),
        startRevision: String(this.known + 1),
        progressNotify: true,
      },
    });
  }

  private reopen(reason: string): void {
    const old = this.stream;
    this.stream = undefined;
    old?.removeAllListeners('data');
    old?.on('error', () => undefined);
    old?.cancel();
    if (this.stopped) return;
    this.attempt++;
    this.log.resumes.push({ at: now(), fromRev: this.known + 1, reason });
    // A short pause before resuming, so a dead member is not hammered; bounded by the stop flag.
    setTimeout(() => this.stopped || this.open(), 100);
  }

  private tick(): void {
    if (!this.stream) return;
    // A stream that said nothing for a while may sit on a paused or cut-off member: move on.
    if (now() - this.lastActivity > 4 * this.progressEveryMs + 3000) {
      this.reopen('stalled');
      return;
    }
    this.stream.write({ progressRequest: {} });
  }

  /** Stops once the watcher has seen everything up to `rev`, or the deadline passes. */
  async stop(rev: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.known < rev && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    this.stopped = true;
    clearInterval(this.timer);
    const s = this.stream;
    this.stream = undefined;
    s?.removeAllListeners('data');
    s?.on('error', () => undefined);
    s?.cancel();
    return this.known >= rev;
  }
}
