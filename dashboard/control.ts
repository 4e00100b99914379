// A client of the cluster supervisor's control API: list components, and stop / kill / start / pause /
// resume one of them (the dashboard's buttons that cause a failover).
export interface Component {
  name: string;
  kind: string;
  pid?: number;
  state: 'running' | 'stopped' | 'paused' | string;
  urls?: unknown;
}

export const ACTIONS = ['stop', 'kill', 'start', 'pause', 'resume'] as const;
export type Action = (typeof ACTIONS)[number];

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class ControlClient {
  constructor(readonly url: string) {}

  async components(): Promise<Component[]> {
    const r = await this.fetch('GET', '/components');
    const body = (await r.json()) as unknown;
    // bin/cluster answers {components: [...]}; a bare list is accepted too.
    const list = Array.isArray(body) ? body : (body as { components?: unknown })?.components;
    if (!Array.isArray(list)) throw new ControlError(502, 'control API: /components did not return a list');
    return list as Component[];
  }

  async act(name: string, action: Action): Promise<unknown> {
    const r = await this.fetch('POST', `/components/${encodeURIComponent(name)}/${action}`);
    const text = await r.text();
    try {
      return JSON.parse(text);
    } catch {
      return { ok: true, message: text };
    }
  }

  private async fetch(method: string, path: string): Promise<Response> {
    let r: Response;
    try {
      r = await fetch(new URL(path.replace(/^\//, ''), this.url.endsWith('/') ? this.url : this.url + '/'), {
        method,
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new ControlError(502, `control API at ${this.url} unreachable: ${(err as Error).message}`);
    }
    if (!r.ok)
      throw new ControlError(
        r.status,
        `control API: ${method} ${path}: ${r.status} ${(await r.text()).slice(0, 300)}`,
      );
    return r;
  }
}

/** Every URL string in a component's `urls`, whatever its shape (a list, a map, or one string). */
export function urlsOf(c: Component): string[] {
  const out: string[] = [];
  const walk = (x: unknown, depth: number) => {
    if (depth > 3) return;
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (x && typeof x === 'object') for (const y of Object.values(x)) walk(y, depth + 1);
  };
  walk(c.urls, 0);
  return out;
}

/** True when two URLs name the same host:port (trailing slashes and localhost spelling aside). */
export function sameEndpoint(a: string, b: string): boolean {
  const norm = (s: string) => {
    try {
      const u = new URL(s.includes('://') ? s : `http://${s}`);
      return `${u.hostname === 'localhost' ? '127.0.0.1' : u.hostname}:${u.port}`;
    } catch {
      return s;
    }
  };
  return norm(a) === norm(b);
}
