// Go's duration syntax, the subset etcd's and Kubernetes' flags use: 500ms, 10s, 5m, 1h30m, 2.5s, or 0.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined if `s` is not such a duration. Callers word the error for their own flags. */
export function parseGoDuration(s: string): number | undefined {
  const v = s.trim();
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = re.lastIndex;
  }
  return consumed > 0 && consumed === v.length ? total : undefined;
}
