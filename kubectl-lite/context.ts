// What every command gets: the parsed flags, the API client, discovery, and where to write.
import { KubeClient, type Result, type ResourceType } from '../apimachinery/client.js';
import type { KubeObject } from '../apimachinery/index.js';
import { flag, bool, type Args, UsageError } from './args.js';
import { resolveTarget, type Target } from './config.js';
import { Discovery } from './discovery.js';
import { CommandError, statusMessage } from './errors.js';
import type { Table } from './printer.js';

const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

export class Ctx {
  private targetCache: Target | undefined;
  private clientCache: KubeClient | undefined;
  private discoveryCache: Discovery | undefined;

  constructor(
    readonly args: Args,
    readonly out: (s: string) => void = (s) => void process.stdout.write(s),
    readonly err: (s: string) => void = (s) => void process.stderr.write(s),
  ) {}

  get target(): Target {
    return (this.targetCache ??= resolveTarget(this.args));
  }
  get client(): KubeClient {
    return (this.clientCache ??= new KubeClient({
      ...this.target.client,
      userAgent: 'kubectl-lite/v0.1',
      timeoutMs: 30_000,
    }));
  }
  get discovery(): Discovery {
    return (this.discoveryCache ??= new Discovery(this.client));
  }
  get server(): string {
    return this.target.client.server;
  }

  /** -n, else the kubeconfig context's namespace. */
  get namespace(): string {
    return flag(this.args, 'namespace') ?? this.target.namespace;
  }
  get allNamespaces(): boolean {
    return bool(this.args, 'all-namespaces');
  }

  /** The value of a Result, or kubectl's error for its Status. */
  must<T>(r: Result<T>, context?: string): T {
    if (!r.ok) throw new CommandError(statusMessage(r.status, this.server, context));
    return r.value;
  }

  /** GET as a server-side Table (kubectl get's default output). */
  async table(path: string): Promise<Table> {
    const res = await this.fetch(path, { headers: { accept: TABLE_ACCEPT } });
    const body = (await res.json()) as any;
    if (!res.ok)
      throw new CommandError(
        statusMessage(
          body?.kind === 'Status' ? body : { code: res.status, message: `HTTP ${res.status}` },
          this.server,
        ),
      );
    return body as Table;
  }

  /** A watch whose events carry one-row Tables; calls `onEvent` per event until `signal` aborts. */
  async watchTable(
    path: string,
    onEvent: (type: string, t: Table) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.fetch(path, { headers: { accept: TABLE_ACCEPT }, signal });
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => undefined)) as any;
      throw new CommandError(
        statusMessage(
          body?.kind === 'Status' ? body : { code: res.status, message: `HTTP ${res.status}` },
          this.server,
        ),
      );
    }
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as { type: string; object: Table };
          if (ev.type === 'ERROR') throw new CommandError(statusMessage(ev.object as any, this.server));
          onEvent(ev.type, ev.object);
        }
        if (buf.length > 16 * 1024 * 1024) throw new CommandError('error: watch event too large');
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    const headers: Record<string, string> = {
      'user-agent': 'kubectl-lite/v0.1',
      ...(init.headers as Record<string, string>),
    };
    if (this.target.client.token) headers.authorization = `Bearer ${this.target.client.token}`;
    try {
      return await fetch(new URL(path, this.server), { ...init, headers });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      const host = new URL(this.server).host;
      throw new CommandError(
        `The connection to the server ${host} was refused - did you specify the right host or port?`,
        1,
      );
    }
  }

  /** Namespace to use for an object of this resource: none for cluster-scoped ones. */
  nsFor(r: ResourceType, obj?: KubeObject): string | undefined {
    if (!r.namespaced) return undefined;
    const fromFlag = flag(this.args, 'namespace');
    const fromObj = obj?.metadata?.namespace;
    if (fromFlag && fromObj && fromFlag !== fromObj) {
      throw new CommandError(
        `error: the namespace from the provided object "${fromObj}" does not match the namespace "${fromFlag}". You must pass '--namespace=${fromObj}' to perform this operation.`,
      );
    }
    return fromObj ?? this.namespace;
  }

  close(): void {
    this.clientCache?.close();
  }
}

/** `KIND NAME...`, `KIND/NAME...` or `KIND` into a resource word and names. */
export function splitResourceArgs(pos: string[]): { kind: string; names: string[] }[] {
  if (pos.length === 0) throw new UsageError('You must specify the type of resource to get.');
  if (pos[0]!.includes('/')) {
    return pos.map((p) => {
      const [kind, name] = p.split('/');
      if (!kind || !name)
        throw new UsageError(`arguments in resource/name form must have a single resource and name`);
      return { kind, names: [name] };
    });
  }
  return pos[0]!.split(',').map((kind) => ({ kind, names: pos.slice(1) }));
}
