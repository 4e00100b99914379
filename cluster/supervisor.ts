// The process supervisor behind `npm start`: runs each component in its own process group, prefixes and
// files its logs, restarts crashed ones with backoff, and stops, kills, pauses and resumes them on request.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../common/index.js';

export type ComponentKind =
  'store' | 'apiserver' | 'controller-manager' | 'scheduler' | 'node-agent' | 'dashboard';
export type ComponentState = 'running' | 'stopped' | 'paused';

export interface ComponentSpec {
  name: string;
  kind: ComponentKind;
  /** The executable (a bin/ shim) and its arguments. */
  cmd: string;
  args: string[];
  urls: string[];
  dataDir?: string;
  /** Resolves true once the component serves; polled until it does. */
  healthy(): Promise<boolean>;
}

/** What GET /components and cluster.json say about one component. */
export interface ComponentInfo {
  name: string;
  kind: ComponentKind;
  pid: number | null;
  state: ComponentState;
  urls: string[];
  dataDir?: string;
  logFile: string;
  restarts: number;
}

/** Backoff after a crash: doubles from the first delay up to the cap; reset after a calm stretch. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CALM_MS = 30_000;
/** How long a component gets to exit after SIGTERM before its whole process group is killed. */
const STOP_GRACE_MS = 10_000;
/** A line longer than this is cut: one runaway line must not hold the supervisor's memory. */
const MAX_LINE = 16 * 1024;

const COLOURS = [36, 32, 33, 35, 34, 96, 92, 93, 95];

class Component {
  child: ChildProcess | undefined;
  state: ComponentState = 'stopped';
  /** Stopped on purpose: not restarted when it exits. */
  held = true;
  restarts = 0;
  private backoffMs = BACKOFF_FIRST_MS;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];
  readonly logFile: string;
  private readonly file: WriteStream;
  private readonly prefix: string;

  constructor(
    readonly spec: ComponentSpec,
    logDir: string,
    colour: number,
    private readonly out: (line: string) => void,
    private readonly log: Logger,
    width: number,
    tty: boolean,
    private readonly changed: () => void,
  ) {
    this.logFile = join(logDir, `${spec.name}.log`);
    this.file = createWriteStream(this.logFile, { flags: 'a' });
    const label = spec.name.padEnd(width);
    this.prefix = tty ? `\x1b[${colour}m${label} |\x1b[0m ` : `${label} | `;
  }

  info(): ComponentInfo {
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      pid: this.alive ? (this.child?.pid ?? null) : null,
      state: this.state,
      urls: this.spec.urls,
      dataDir: this.spec.dataDir,
      logFile: this.logFile,
      restarts: this.restarts,
    };
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.held = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (this.alive) {
      if (this.state === 'paused') this.resume();
      return;
    }
    // detached: its own process group, so a stop reaches grandchildren and Ctrl-C in the terminal
    // reaches only the supervisor, which then stops everything in order.
    const child = spawn(this.spec.cmd, this.spec.args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.state = 'running';
    this.startedAt = Date.now();
    this.pipe(child.stdout!);
    this.pipe(child.stderr!);
    child.on('error', (err) => this.log.error(`${this.spec.name}: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.changed();
  }

  private pipe(stream: NodeJS.ReadableStream): void {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (buf.length > MAX_LINE) {
        this.line(buf.slice(0, MAX_LINE) + ' [cut]');
        buf = '';
      }
    });
    stream.on('end', () => buf && this.line(buf));
  }

  private line(l: string): void {
    this.file.write(l + '\n');
    this.out(this.prefix + l);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.state = 'stopped';
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
    this.changed();
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.held) {
      this.log.info(`${this.spec.name} exited (${how})`);
      return;
    }
    if (Date.now() - this.startedAt > CALM_MS) this.backoffMs = BACKOFF_FIRST_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.log.error(`${this.spec.name} crashed (${how}); restarting in ${delay} ms`, {
      restarts: this.restarts,
      log: this.logFile,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.held) return;
      this.restarts++;
      this.start();
    }, delay);
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid || !this.alive) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // The group may be gone already; fall back to the process itself.
      try {
        process.kill(pid, sig);
      } catch {
        /* already exited */
      }
    }
  }

  private exited(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((r) => this.exitWaiters.push(r));
  }

  /** SIGTERM (SIGKILL after the grace period); stays down until started again. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.hold();
    if (!this.alive) return;
    if (this.state === 'paused') this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited();
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.hold();
    if (!this.alive) return;
    this.signal('SIGKILL');
    await this.exited();
  }

  pause(): void {
    if (!this.alive || this.state === 'paused') return;
    this.signal('SIGSTOP');
    this.state = 'paused';
    this.changed();
  }

  resume(): void {
    if (!this.alive || this.state !== 'paused') return;
    this.signal('SIGCONT');
    this.state = 'running';
    this.changed();
  }

  /** Last resort on the supervisor's own exit: synchronous, no waiting. */
  killNow(): void {
    this.hold();
    this.signal('SIGCONT');
    this.signal('SIGKILL');
  }

  private hold(): void {
    this.held = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  closeLog(): void {
    this.file.end();
  }
}

export class Supervisor {
  private readonly components = new Map<string, Component>();

  constructor(
    specs: ComponentSpec[],
    logDir: string,
    private readonly log: Logger,
    out: (line: string) => void = (l) => process.stdout.write(l + '\n'),
    tty = process.stdout.isTTY === true,
    changed: () => void = () => {},
  ) {
    mkdirSync(logDir, { recursive: true });
    const width = Math.max(...specs.map((s) => s.name.length));
    specs.forEach((s, i) => {
      if (this.components.has(s.name)) throw new Error(`duplicate component ${s.name}`);
      this.components.set(
        s.name,
        new Component(s, logDir, COLOURS[i % COLOURS.length]!, out, log, width, tty, changed),
      );
    });
    // Whatever ends the supervisor, no child outlives it.
    process.on('exit', () => {
      for (const c of this.components.values()) c.killNow();
    });
  }

  names(): string[] {
    return [...this.components.keys()];
  }

  list(): ComponentInfo[] {
    return [...this.components.values()].map((c) => c.info());
  }

  get(name: string): ComponentInfo | undefined {
    return this.components.get(name)?.info();
  }

  start(name: string): void {
    this.must(name).start();
  }

  async waitHealthy(name: string, timeoutMs: number): Promise<void> {
    const c = this.must(name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (c.alive && (await c.spec.healthy().catch(() => false))) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`${name} did not become healthy within ${timeoutMs / 1000}s; see ${c.logFile}`);
  }

  async act(name: string, action: string): Promise<ComponentInfo> {
    const c = this.must(name);
    switch (action) {
      case 'start':
        c.start();
        break;
      case 'stop':
        await c.stop();
        break;
      case 'kill':
        await c.kill();
        break;
      case 'pause':
        c.pause();
        break;
      case 'resume':
        c.resume();
        break;
      default:
        throw new SupervisorError(
          400,
          `unknown action "${action}" (want start, stop, kill, pause or resume)`,
        );
    }
    return c.info();
  }

  /** Stops every component, in the reverse of the start order. */
  async stopAll(): Promise<void> {
    for (const c of [...this.components.values()].reverse()) {
      await c.stop();
      c.closeLog();
    }
  }

  private must(name: string): Component {
    const c = this.components.get(name);
    if (!c) throw new SupervisorError(404, `no component named "${name}" (have ${this.names().join(', ')})`);
    return c;
  }
}

export class SupervisorError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
