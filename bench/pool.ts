// Pure helpers for the benches: a bounded Promise pool (the in-process
// baseline the engine is compared with) and small statistics.

/**
 * Runs `fn(0) … fn(n-1)` with at most `concurrency` calls in flight, each
 * worker taking the next index as soon as its previous call settled (dynamic
 * balancing, like any hand-written pool). Results are in index order; the
 * first rejection rejects the pool (after the calls in flight settle).
 */
export async function promisePool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`pool concurrency must be a positive integer, got ${concurrency}`);
  const out = new Array<T>(n);
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (!failed && next < n) {
        const i = next++;
        try {
          out[i] = await fn(i);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    }),
  );
  return out;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('mean of no values');
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Linear-interpolated quantile (q in [0, 1]) of unsorted values. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('quantile of no values');
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}
