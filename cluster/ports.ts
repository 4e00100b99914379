// Port checks before anything starts: a port already taken gets a message naming it and its component.
import { createServer } from 'node:net';

export class PortInUseError extends Error {}

function tryListen(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(undefined)));
  });
}

/** Throws PortInUseError for the first port of `wanted` ([port, component, flag]) that is taken. */
export async function assertPortsFree(wanted: [number, string, string][]): Promise<void> {
  const seen = new Map<number, string>();
  for (const [port, component, flag] of wanted) {
    const other = seen.get(port);
    if (other)
      throw new PortInUseError(`port ${port} is given to both ${other} and ${component}; change --${flag}`);
    seen.set(port, component);
    const err = await tryListen(port);
    if (err?.code === 'EADDRINUSE') {
      throw new PortInUseError(
        `port ${port} for ${component} is already in use on 127.0.0.1 (another cluster?); ` +
          `pick another with --${flag}, or use --ports auto`,
      );
    }
    if (err) throw new PortInUseError(`port ${port} for ${component}: ${err.message}`);
  }
}

/**
 * Hands out ports the OS says are free now, never the same one twice: a port just released by one probe is
 * often the next probe's answer, so two components of one cluster could otherwise be given the same port.
 * `reserved` are ports already taken by this cluster (kept from a previous run).
 */
export class PortPicker {
  private readonly given: Set<number>;

  constructor(reserved: number[] = []) {
    this.given = new Set(reserved);
  }

  async next(): Promise<number> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = await freePort();
      if (!this.given.has(port)) {
        this.given.add(port);
        return port;
      }
    }
    throw new PortInUseError('could not find a free port on 127.0.0.1 after 100 tries');
  }
}

/** A port the OS says is free now (there is a window before the component binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
