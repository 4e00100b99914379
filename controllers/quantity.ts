// Kubernetes resource quantities ("100m", "2", "1.5", "128Mi", "1G", "1e3") as numbers: CPU in millicores,
// everything else in base units (bytes, pods).

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

/** The value of a quantity in base units (may be fractional, e.g. "100m" -> 0.1). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(
    q.trim(),
  );
  if (!m)
    throw new QuantityError(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': "${q}"`,
    );
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const suf = m[3] ?? '';
  return n * (BINARY[suf] ?? DECIMAL[suf] ?? 1);
}

/** CPU quantity in millicores (rounded up, as Kubernetes' MilliValue). */
export function milliCPU(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(parseQuantity(q) * 1000 - 1e-9);
}

/** A quantity in base units, rounded up to an integer (bytes for memory). */
export function intValue(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(parseQuantity(q) - 1e-9);
}
