// The reference-guided GSM8K process judge: no LLM. GSM8K's gold solutions
// carry their calculator steps (`<<48/2=24>>`), so a calculation is GOOD when
// its result is one of the gold intermediate values or the final answer, and
// an answer is GOOD when it equals the gold answer. Exact, offline and cheap:
// the embedded default for GSM8K, and the yardstick for LLM judges.
import { extractNumber, numericMatch, sameNumber } from './matchers.js';

/** Every `<<expr=value>>` value of a GSM8K solution, then the `#### N` answer. */
export function referenceValues(solution: string | undefined, finalAnswer: string): number[] {
  const values: number[] = [];
  for (const m of (solution ?? '').matchAll(/<<([^<>]*?)=([^<>=]*)>>/g)) {
    const v = extractNumber(m[2]!);
    if (v !== undefined) values.push(v);
  }
  const final = extractNumber(finalAnswer);
  if (final !== undefined) values.push(final);
  return values;
}

export interface ReferenceStep {
  kind: 'calculator' | 'search' | 'answer';
  content: string;
  observation?: string;
}

export interface ReferenceVerdict {
  verdict: 'GOOD' | 'BAD';
  reason: string;
}

export function judgeWithReference(step: ReferenceStep, solution: string | undefined, gold: string): ReferenceVerdict {
  switch (step.kind) {
    case 'answer': {
      const ok = numericMatch(step.content, [gold]);
      return { verdict: ok ? 'GOOD' : 'BAD', reason: ok ? `answer ${step.content} equals the gold answer ${gold}` : `answer ${step.content} differs from the gold answer ${gold}` };
    }
    case 'calculator': {
      const obs = step.observation ?? '';
      if (obs === '' || /^error\b/i.test(obs.trim())) return { verdict: 'BAD', reason: `the calculation failed: ${obs || 'no result'}` };
      const v = extractNumber(obs);
      if (v === undefined) return { verdict: 'BAD', reason: `the calculator result "${obs}" is not a number` };
      const values = referenceValues(solution, gold);
      const hit = values.find((r) => sameNumber(r, v));
      return hit !== undefined
        ? { verdict: 'GOOD', reason: `result ${obs} is a value of the reference solution` }
        : { verdict: 'BAD', reason: `result ${obs} is not among the reference values [${values.join(', ')}]` };
    }
    case 'search':
      return { verdict: 'BAD', reason: 'the GSM8K reference judge has no reference for search steps' };
  }
}
