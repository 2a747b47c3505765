// The reference-guided GSM8K process judge: no LLM. GSM8K's gold solutions
// carry their calculator steps (`<<48/2=24>>`), so a calculation is GOOD when
// it makes progress: its result is one of the gold intermediate values or the
// final answer that the conversation has not produced yet. An answer is GOOD
// when it equals the gold answer. Exact, offline and cheap: the embedded
// default for GSM8K, the reward model of RL, and the yardstick for LLM judges.
// As a reward it must not pay for loops, so repeats and bare numbers are BAD.
import { parseAction, type ActionKind } from '../protocol.js';
import type { ChatTurn } from '../types.js';
import { answerNumber, extractNumber, numericMatch, sameNumber } from './matchers.js';

const ANNOTATION = /<<([^<>]*?)=([^<>=]*)>>/g;

/** Every `<<expr=value>>` value of a GSM8K solution, then the `#### N` answer. */
export function referenceValues(solution: string | undefined, finalAnswer: string): number[] {
  const values: number[] = [];
  for (const m of (solution ?? '').matchAll(ANNOTATION)) {
    const v = extractNumber(m[2]!);
    if (v !== undefined) values.push(v);
  }
  const final = extractNumber(finalAnswer);
  if (final !== undefined) values.push(final);
  return values;
}

/**
 * How many times the solution needs value v: its count among the annotations
 * (a solution may compute 12 twice, once per friend), at least once if it is
 * the final answer. The final answer usually repeats the last annotation, so
 * it adds no count of its own.
 */
function neededTimes(v: number, solution: string | undefined, finalAnswer: string): number {
  let n = 0;
  for (const m of (solution ?? '').matchAll(ANNOTATION)) {
    const a = extractNumber(m[2]!);
    if (a !== undefined && sameNumber(a, v)) n++;
  }
  const final = extractNumber(finalAnswer);
  return n === 0 && final !== undefined && sameNumber(final, v) ? 1 : n;
}

export interface ReferenceStep {
  kind: 'calculator' | 'search' | 'answer';
  content: string;
  observation?: string;
  /** Results of the calculations before this step, in order (see earlierCalculatorResults). */
  earlier?: readonly string[];
}

export interface ReferenceVerdict {
  verdict: 'GOOD' | 'BAD';
  reason: string;
}

const isError = (obs: string) => /^error\b/i.test(obs.trim());

/** A single number literal, maybe signed or bracketed: the expression computes nothing. */
const BARE_NUMBER = /^[\s(]*[-+]?\s*(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*%?[\s)]*$/;

/** The number literals an expression is written with (`72*1` → [72, 1]). */
function literals(expression: string): number[] {
  return (expression.replace(/(\d),(?=\d{3}\b)/g, '$1').match(/(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?/g) ?? []).map(Number).filter(Number.isFinite);
}

/**
 * The calculator results of a conversation's earlier tool calls: each user turn
 * that follows an assistant `<math_exp>` call, less its `EXPR -> ` echo. The
 * first user turn is the question, which follows no call, so it is never read;
 * failed calls (`Error: …`) are left out. Search results are left out too: an
 * article's numbers are not computed values.
 */
export function earlierCalculatorResults(messages: readonly ChatTurn[]): string[] {
  const results: string[] = [];
  for (let i = 0; i + 1 < messages.length; i++) {
    const turn = messages[i]!;
    const next = messages[i + 1]!;
    if (turn.role !== 'assistant' || next.role !== 'user') continue;
    const action = parseAction(turn.content, ['calculator', 'search', 'answer'] satisfies ActionKind[]);
    if (action?.kind !== 'calculator') continue;
    const echo = `${action.content} -> `;
    const at = next.content.indexOf(' -> ');
    const result = next.content.startsWith(echo) ? next.content.slice(echo.length) : at >= 0 ? next.content.slice(at + 4) : next.content;
    if (!isError(result)) results.push(result.trim());
  }
  return results;
}

function judgeCalculation(step: ReferenceStep, solution: string | undefined, gold: string): ReferenceVerdict {
  if (BARE_NUMBER.test(step.content)) {
    return { verdict: 'BAD', reason: `the calculation "${step.content}" computes nothing: a bare number is an answer, not a calculation` };
  }
  const obs = step.observation ?? '';
  if (obs === '' || isError(obs)) return { verdict: 'BAD', reason: `the calculation failed: ${obs || 'no result'}` };
  const v = extractNumber(obs);
  if (v === undefined) return { verdict: 'BAD', reason: `the calculator result "${obs}" is not a number` };
  // `72*1`, `72+0`, `round(72)`: a number restated through an operation that leaves it as it was.
  if (literals(step.content).some((x) => sameNumber(x, v))) {
    return { verdict: 'BAD', reason: `the calculation "${step.content}" gives back ${obs}, one of its own numbers: it restates a number, it computes nothing` };
  }
  // Results the calculator prints in exponent form (1e21 and up) are no GSM8K quantity.
  if (/\d[eE][-+]?\d/.test(obs)) return { verdict: 'BAD', reason: `result ${obs} is out of any GSM8K solution's range` };
  const values = referenceValues(solution, gold);
  if (!values.some((r) => sameNumber(r, v))) {
    return { verdict: 'BAD', reason: `result ${obs} is not among the reference values [${values.join(', ')}]` };
  }
  const done = (step.earlier ?? []).filter((e) => {
    const x = extractNumber(e);
    return x !== undefined && sameNumber(x, v);
  }).length;
  const needed = neededTimes(v, solution, gold);
  if (done >= needed) {
    return { verdict: 'BAD', reason: `result ${obs} is a reference value the conversation already computed (${done} time${done === 1 ? '' : 's'}, the solution needs it ${needed}): a repeat, no progress` };
  }
  return { verdict: 'GOOD', reason: `result ${obs} is a new value of the reference solution` };
}

export function judgeWithReference(step: ReferenceStep, solution: string | undefined, gold: string): ReferenceVerdict {
  switch (step.kind) {
    case 'answer': {
      const ok = numericMatch(step.content, [gold]);
      const read = answerNumber(step.content);
      const stated = read === undefined ? 'states no number' : `reads as ${read}`;
      return { verdict: ok ? 'GOOD' : 'BAD', reason: ok ? `answer ${step.content} equals the gold answer ${gold}` : `answer ${step.content} (${stated}) differs from the gold answer ${gold}` };
    }
    case 'calculator':
      return judgeCalculation(step, solution, gold);
    case 'search':
      return { verdict: 'BAD', reason: 'the GSM8K reference judge has no reference for search steps' };
  }
}
