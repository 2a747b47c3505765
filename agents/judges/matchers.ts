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

// A number literal may start with its decimal point (`.8`, as GSM8K's
// annotations write it: `<<2*.4=.8>>`); `a/b` reads as a fraction.
// An exponent belongs to its number: the calculator writes results from 1e21 up as `1e+24`,
// which must read as 1e24, not as its exponent 24.
const UNSIGNED = String.raw`(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?`;
const NUMBER = new RegExp(String.raw`-?${UNSIGNED}(?:\s*\/\s*${UNSIGNED})?`, 'g');
const FRACTION = new RegExp(String.raw`^(-?${UNSIGNED})\s*\/\s*(${UNSIGNED})$`);

function parseNumberToken(tok: string): number | undefined {
  const frac = FRACTION.exec(tok);
  if (frac) {
    const d = Number(frac[2]);
    return d === 0 ? undefined : Number(frac[1]) / d;
  }
  const v = Number(tok);
  return Number.isFinite(v) ? v : undefined;
}

/** Thousands separators and currency signs out, so `$1,000.00` reads as one number. */
function cleanNumbers(text: string): string {
  return text.replace(/(\d),(?=\d{3}\b)/g, '$1').replace(/[$€£¥]/g, '');
}

function numbersIn(cleaned: string): string[] {
  return (cleaned.match(NUMBER) ?? []).map((t) => t.replace(/\s+/g, ''));
}

/**
 * The last number of a text: `$1,000.00`, `18 dollars`, `50%`, `.5` all yield
 * their number; undefined when there is none. For single values (calculator
 * results, gold answers, annotation values); a model's answer goes through
 * answerNumber instead.
 */
export function extractNumber(text: string): number | undefined {
  const found = numbersIn(cleanNumbers(text));
  return found.length === 0 ? undefined : parseNumberToken(found[found.length - 1]!);
}

// A binary operation between numbers (`48+24`, `3 x 4`): a worked expression, not a result.
const OPERATION = /(?:\d|\))\s*[-+*/×x^]\s*[\d(.]/;

/**
 * The number a model's answer states. Models add their working to the answer
 * (`72 clips (48+24)`, `48 + 24 = 72`, `72 = 48 + 24`), so the last number is
 * not the result. The rule: parenthesised parts are dropped; the answer is cut
 * at `=`, and the last part that is not itself a calculation gives the number
 * (else the last part with a number); within a part the first number counts.
 * Plain answers (`$1,200`, `18 dollars`, `The answer is 18.`, `1/2`) read as
 * before. Undefined when there is no number.
 */
export function answerNumber(text: string): number | undefined {
  const cleaned = cleanNumbers(text);
  const unbracketed = cleaned.replace(/\([^()]*\)/g, ' ');
  // An answer that is all brackets (`(72)`) keeps them.
  const body = numbersIn(unbracketed).length > 0 ? unbracketed : cleaned;
  const parts = body.split('=').filter((p) => numbersIn(p).length > 0);
  if (parts.length === 0) return undefined;
  const results = parts.filter((p) => !OPERATION.test(p));
  const chosen = results.length > 0 ? results[results.length - 1]! : parts[parts.length - 1]!;
  return parseNumberToken(numbersIn(chosen)[0]!);
}

/** Equal up to a relative tolerance of 1e-6 (and 1e-9 absolute). */
export function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(1e-9, 1e-6 * Math.max(Math.abs(a), Math.abs(b)));
}

/** A model answer against gold answers: answerNumber of the prediction equals a gold's number. */
export function numericMatch(prediction: string, golds: readonly string[]): boolean {
  const p = answerNumber(prediction);
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
