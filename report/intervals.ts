// Confidence intervals shared by the evaluate stage and the report (pure).

export const Z95 = 1.959964;

/**
 * Wilson score 95% interval for a binomial proportion. The normal (Wald)
 * interval collapses to [0, 0] at 0 correct — "0 of 100" would read as
 * certainty — and is too narrow near 0 and 1, where small models sit.
 * No trials: [0, 1] (nothing is known).
 */
export function wilson(correct: number, n: number): [number, number] {
  if (n <= 0) return [0, 1];
  const p = correct / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.min(1, Math.max(0, centre - half)), Math.min(1, Math.max(0, centre + half))];
}

/**
 * Exact McNemar test for two policies on the same questions: of the n discordant
 * questions (one right, the other wrong), `bOnly` went to b. Under "no
 * difference" bOnly ~ Binomial(n, 1/2); the two-sided p-value is twice the
 * smaller tail, at most 1. No discordant question: p = 1.
 */
export function mcnemarExact(bOnly: number, aOnly: number): number {
  const n = bOnly + aOnly;
  if (n === 0) return 1;
  const k = Math.min(bOnly, aOnly);
  // Sum of C(n, i) / 2^n for i <= k, in logs (n may be in the hundreds).
  let logC = -n * Math.LN2; // log(C(n, 0) / 2^n)
  let tail = Math.exp(logC);
  for (let i = 1; i <= k; i++) {
    logC += Math.log((n - i + 1) / i);
    tail += Math.exp(logC);
  }
  return Math.min(1, 2 * tail);
}

/** A p-value for a table: 3 significant digits, "< 0.001" below that. */
export function pValue(p: number): string {
  return p < 0.001 ? '< 0.001' : p.toPrecision(3).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}
