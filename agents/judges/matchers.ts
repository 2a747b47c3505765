// Non-LLM outcome matchers: exact (normalized), numeric (GSM8K conventions)
// and token F1 (SQuAD/HotPotQA conventions). Pure functions: used by the
// filter's outcome check, by evaluation and by the benches.

/** HotPotQA's (SQuAD's) answer normalization: lower case, ASCII punctuation deleted, no articles, single spaces. */
export function normalizeText(s: string): string {
  return s
    .toLowerCase()
    .replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export function exactMatch(prediction: string, golds: readonly string[]): boolean {
  const p = normalizeText(prediction);
  return golds.some((g) => normalizeText(g) === p);
}

function tokens(s: string): string[] {
  const n = normalizeText(s);
  return n ? n.split(' ') : [];
}

/** Token-overlap F1 between a prediction and one gold answer. */
export function tokenF1(prediction: string, gold: string): number {
  // HotPotQA's official rule: yes / no / noanswer score only on an exact match.
  const special = ['yes', 'no', 'noanswer'];
  const np = normalizeText(prediction);
  const ng = normalizeText(gold);
  if ((special.includes(np) || special.includes(ng)) && np !== ng) return 0;
  const p = tokens(prediction);
  const g = tokens(gold);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / p.length;
  const recall = common / g.length;
  return (2 * precision * recall) / (precision + recall);
}

export function bestF1(prediction: string, golds: readonly string[]): number {
  return Math.max(0, ...golds.map((g) => tokenF1(prediction, g)));
}

const NUMBER = /-?\d+(?:\.\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?/g;

function parseNumberToken(tok: string): number | undefined {
  const frac = /^(-?\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(tok);
  if (frac) {
    const d = Number(frac[2]);
    return d === 0 ? undefined : Number(frac[1]) / d;
  }
  const v = Number(tok);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * The number an answer states, GSM8K-style: `$1,000.00`, `18 dollars`, `50%`,
 * `The answer is 42.` all yield their number; with several numbers the last one
 * counts (models tend to end with the result). Undefined when there is none.
 */
export function extractNumber(text: string): number | undefined {
  const cleaned = text.replace(/(\d),(?=\d{3}\b)/g, '$1').replace(/[$€£¥]/g, '');
  const found = cleaned.match(NUMBER);
  if (!found) return undefined;
  return parseNumberToken(found[found.length - 1]!.replace(/\s+/g, ''));
}

/** Equal up to a relative tolerance of 1e-6 (and 1e-9 absolute). */
export function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(1e-9, 1e-6 * Math.max(Math.abs(a), Math.abs(b)));
}

export function numericMatch(prediction: string, golds: readonly string[]): boolean {
  const p = extractNumber(prediction);
  if (p === undefined) return false;
  return golds.some((g) => {
    const v = extractNumber(g);
    return v !== undefined && sameNumber(p, v);
  });
}

export type MatcherName = 'exact' | 'numeric' | 'f1';

export interface MatchResult {
  correct: boolean;
  /** exact/numeric: 1 or 0; f1: the token F1. */
  score: number;
  f1: number;
}

/** Scores a model answer against the gold answer(s) with a named matcher. */
export function matchAnswer(matcher: MatcherName, prediction: string | undefined, golds: readonly string[], threshold = 0.5): MatchResult {
  if (prediction === undefined || prediction.trim() === '') return { correct: false, score: 0, f1: 0 };
  const f1 = bestF1(prediction, golds);
  switch (matcher) {
    case 'exact': {
      const ok = exactMatch(prediction, golds);
      return { correct: ok, score: ok ? 1 : 0, f1 };
    }
    case 'numeric': {
      const ok = numericMatch(prediction, golds);
      return { correct: ok, score: ok ? 1 : 0, f1 };
    }
    case 'f1':
      return { correct: f1 >= threshold, score: f1, f1 };
  }
}
