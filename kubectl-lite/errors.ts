// Errors printed as kubectl prints them, with kubectl's exit code (1).
import type { Status } from '../apimachinery/index.js';

export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** kubectl's wording for a failed API call; `context` is e.g. `error when creating "web.yaml"`. */
export function statusMessage(s: Status, server: string, context?: string): string {
  if (
    s.code === 503 &&
    s.reason === 'ServiceUnavailable' &&
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH/.test(s.message ?? '')
  ) {
    const host = new URL(server).host;
    return `The connection to the server ${host} was refused - did you specify the right host or port?`;
  }
  if (s.reason === 'Invalid' && s.details) {
    const d = s.details;
    const head =
      d.kind || d.name ? `The ${d.kind ?? ''} "${d.name ?? ''}" is invalid` : 'The request is invalid';
    const causes = (d.causes ?? []).map((c) => (c.field ? `${c.field}: ${c.message}` : (c.message ?? '')));
    if (causes.length === 1) return `${head}: ${causes[0]}`;
    if (causes.length > 1) return `${head}: \n${causes.map((c) => `* ${c}`).join('\n')}`;
    return `${head}: ${s.message ?? ''}`;
  }
  const where = context ? `${context}: ` : '';
  return `Error from server${s.reason ? ` (${s.reason})` : ''}: ${where}${s.message ?? `HTTP ${s.code}`}`;
}
