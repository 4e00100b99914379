// Auto-compaction as etcd does it: `periodic` keeps roughly the last retention period of history (it
// samples the revision every retention/10 and compacts to the sample taken one retention ago);
// `revision` keeps the last N revisions, checked every 5 minutes (or sooner for small retentions).
import type { Logger } from '../../common/index.js';
import type { StoreConfig } from './config.js';

export interface CompactionTarget {
  revision(): number;
  compact(rev: number): Promise<void>;
  isLeader(): boolean;
}

const REVISION_MODE_INTERVAL_MS = 5 * 60_000;

export class AutoCompactor {
  private timer: NodeJS.Timeout | undefined;
  private samples: number[] = [];
  private lastCompacted = 0;

  constructor(
    private readonly cfg: Pick<StoreConfig, 'autoCompactionMode' | 'autoCompactionRetention'>,
    private readonly log: Logger,
    private readonly target: CompactionTarget,
  ) {}

  start(): void {
    const r = this.cfg.autoCompactionRetention;
    if (r <= 0) return;
    const interval =
      this.cfg.autoCompactionMode === 'periodic'
        ? Math.max(100, Math.floor(r / 10))
        : Math.min(REVISION_MODE_INTERVAL_MS, Math.max(1000, r * 10));
    this.timer = setInterval(() => void this.step(), interval);
    this.timer.unref();
    this.log.info('auto-compaction enabled', {
      mode: this.cfg.autoCompactionMode,
      retention: r,
      intervalMs: interval,
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async step(): Promise<void> {
    if (!this.target.isLeader()) {
      this.samples = [];
      return;
    }
    const rev = this.target.revision();
    let to: number;
    if (this.cfg.autoCompactionMode === 'periodic') {
      this.samples.push(rev);
      // 11 samples span one full retention period; the oldest is the revision from `retention` ago.
      if (this.samples.length < 11) return;
      to = this.samples.shift()!;
    } else {
      to = rev - this.cfg.autoCompactionRetention;
    }
    if (to <= this.lastCompacted || to <= 0) return;
    try {
      await this.target.compact(to);
      this.lastCompacted = to;
      this.log.info('auto-compacted', { revision: to });
    } catch (err) {
      const msg = (err as Error).message;
      // Someone compacted further already: fine, remember it and move on.
      if (msg.includes('compacted')) this.lastCompacted = to;
      else this.log.warn('auto-compaction failed', { revision: to, error: msg });
    }
  }
}
