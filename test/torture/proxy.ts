// A TCP proxy for one directed peer link (member A -> member B): passes bytes, blackholes them, drops one
// direction, or delays them, as the fault schedule says. Changing the mode cuts the link's open
// connections, because bytes lost in the middle of an HTTP/2 stream would leave it undecodable; the peer
// transport reconnects, as it must after any real network fault.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type LinkMode =
  | { kind: 'pass' }
  /** Nothing gets through in either direction; connections hang as on a dead network. */
  | { kind: 'drop' }
  /** Requests from A reach B but nothing comes back, or the reverse. */
  | { kind: 'drop-forward' }
  | { kind: 'drop-backward' }
  | { kind: 'delay'; ms: number; jitterMs: number };

export class LinkProxy {
  private server: Server | undefined;
  private readonly conns = new Set<{ a: Socket; b: Socket }>();
  private mode: LinkMode = { kind: 'pass' };
  bytes = 0;

  constructor(
    readonly listenHost: string,
    readonly listenPort: number,
    private readonly targetHost: string,
    private targetPort: number,
    private readonly random: () => number = Math.random,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((a) => this.accept(a));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.listenPort, this.listenHost, () => resolve());
    });
  }

  /** The member behind the link moved (a restart on new ports); cut what is open. */
  retarget(port: number): void {
    this.targetPort = port;
    this.cut();
  }

  setMode(mode: LinkMode): void {
    if (JSON.stringify(mode) === JSON.stringify(this.mode)) return;
    this.mode = mode;
    this.cut();
  }

  getMode(): LinkMode {
    return this.mode;
  }

  cut(): void {
    for (const c of this.conns) {
      c.a.destroy();
      c.b.destroy();
    }
    this.conns.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(a: Socket): void {
    const b = createConnection({ host: this.targetHost, port: this.targetPort });
    const conn = { a, b };
    this.conns.add(conn);
    const end = () => {
      a.destroy();
      b.destroy();
      this.conns.delete(conn);
    };
    a.on('error', end).on('close', end);
    b.on('error', end).on('close', end);
    this.pipe(a, b, 'forward');
    this.pipe(b, a, 'backward');
  }

  private pipe(from: Socket, to: Socket, dir: 'forward' | 'backward'): void {
    // Delayed chunks keep their order: each leaves no earlier than the one before it.
    let lastDue = 0;
    from.on('data', (chunk: Buffer) => {
      const m = this.mode;
      if (m.kind === 'drop' || m.kind === `drop-${dir}`) return;
      this.bytes += chunk.length;
      if (m.kind === 'delay') {
        const due = Math.max(lastDue, Date.now() + m.ms + (this.random() * 2 - 1) * m.jitterMs);
        lastDue = due;
        setTimeout(() => to.destroyed || to.write(chunk), Math.max(0, due - Date.now()));
        return;
      }
      if (!to.destroyed) to.write(chunk);
    });
  }
}
