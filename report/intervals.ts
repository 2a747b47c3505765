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
