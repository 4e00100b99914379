// Simple tokens, etcd's default (--auth-token simple): an opaque string handed out by Authenticate and
// sent by clients in the "token" metadata of every call. The Authenticate entry carries the token's
// random part through Raft and each member registers it when applying, so a token works on every member.
// Tokens are not saved: after a restart clients authenticate again (etcd clients do so by themselves on
// "invalid auth token"). A token unused for --auth-token-ttl seconds expires.
import { randomInt } from 'node:crypto';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The random part of a new token (etcd: 16 letters); the applied entry's index is appended to it. */
export function tokenPrefix(): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += LETTERS[randomInt(LETTERS.length)];
  return s;
}

export class SimpleTokens {
  private readonly tokens = new Map<string, { user: string; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  assign(token: string, user: string): void {
    this.tokens.set(token, { user, expires: this.now() + this.ttlMs });
  }

  /** The user a live token belongs to (and its lifetime starts again), or undefined. */
  user(token: string): string | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    const now = this.now();
    if (t.expires <= now) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expires = now + this.ttlMs;
    return t.user;
  }

  /** Drops a user's tokens (deleted, or the password changed). */
  invalidateUser(user: string): void {
    for (const [k, t] of this.tokens) if (t.user === user) this.tokens.delete(k);
  }

  clear(): void {
    this.tokens.clear();
  }

  /** Drops expired tokens (called now and then, so unused ones do not pile up). */
  sweep(): void {
    const now = this.now();
    for (const [k, t] of this.tokens) if (t.expires <= now) this.tokens.delete(k);
  }
}
