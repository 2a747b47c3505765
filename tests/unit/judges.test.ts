// Matchers on real GSM8K/HotPotQA answers, verdict parsing on messy judge
// output, the GSM8K reference judge, Cohen's kappa, confidence intervals.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { cohensKappa, judgeAgreement, llmOutcomeJudge, llmProcessJudge, MatcherProcessJudgeError, matcherProcessJudge, normalizeJudge } from '../../agents/judges/index.js';
import { answerNumber, bestF1, exactMatch, extractNumber, matchAnswer, normalizeText, numericMatch, tokenF1 } from '../../agents/judges/matchers.js';
import { earlierCalculatorResults, judgeWithReference, referenceValues } from '../../agents/judges/gsm8k-reference.js';
import { parseOutcomeVerdict, parseProcessVerdict } from '../../agents/judges/verdicts.js';
import { ci95, pairedDifference } from '../../activities/evaluate.js';
import { gsm8kFinalAnswer } from '../../activities/dataset-formats.js';

const root = path.resolve(import.meta.dirname, '../..');
const lines = (f: string, n: number) => readFileSync(path.join(root, f), 'utf8').split('\n').filter(Boolean).slice(0, n).map((l) => JSON.parse(l) as Record<string, string>);

describe('matchers', () => {
  it('numeric: GSM8K normalization of $, commas, units, trailing text', () => {
    expect(numericMatch('$18', ['18'])).toBe(true);
    expect(numericMatch('18 dollars', ['18'])).toBe(true);
    expect(numericMatch('1,000', ['1000'])).toBe(true);
    expect(numericMatch('$1,234.00.', ['1234'])).toBe(true);
    expect(numericMatch('The answer is 42.', ['42'])).toBe(true);
    expect(numericMatch('50%', ['50'])).toBe(true);
    expect(numericMatch('1/2', ['0.5'])).toBe(true);
    expect(numericMatch('-3', ['3'])).toBe(false);
    expect(numericMatch('19', ['18'])).toBe(false);
    expect(numericMatch('eighteen', ['18'])).toBe(false);
    expect(extractNumber('no numbers here')).toBeUndefined();
  });

  it('numeric: a number may start with its decimal point', () => {
    expect(extractNumber('.8')).toBe(0.8);
    expect(extractNumber('-.5')).toBe(-0.5);
    expect(numericMatch('.5', ['0.5'])).toBe(true);
    expect(numericMatch('.5', ['5'])).toBe(false);
    expect(numericMatch('$.75 per egg', ['0.75'])).toBe(true);
    expect(numericMatch('1/.5', ['2'])).toBe(true);
  });

  it('numeric: the stated result counts, not the working around it', () => {
    expect(numericMatch('72 clips (48+24)', ['72'])).toBe(true);
    expect(numericMatch('72 clips (48+24)', ['24'])).toBe(false);
    expect(numericMatch('48 + 24 = 72', ['72'])).toBe(true);
    expect(numericMatch('72 = 48 + 24', ['72'])).toBe(true);
    expect(numericMatch('72 = 48 + 24', ['24'])).toBe(false);
    expect(numericMatch('(48 + 24) = 72 clips', ['72'])).toBe(true);
    expect(numericMatch('$1,200 (after 2 raises of $100)', ['1200'])).toBe(true);
    expect(numericMatch('9 * 2 = $1,018 every day', ['1018'])).toBe(true);
    expect(numericMatch('(72)', ['72'])).toBe(true);
    expect(numericMatch('x = 3/4', ['0.75'])).toBe(true);
    expect(answerNumber('The answer is 18.')).toBe(18);
    expect(answerNumber('18 dollars')).toBe(18);
    expect(answerNumber('no number (really)')).toBeUndefined();
    // The outcome matcher uses the same rule.
    expect(matchAnswer('numeric', '72 clips (48+24)', ['72']).correct).toBe(true);
  });

  it('numeric: every gold answer of the first 200 GSM8K test rows matches itself, with $ and commas added', () => {
    for (const row of lines('data/gsm8k/test.jsonl', 200)) {
      const gold = gsm8kFinalAnswer(row.answer!)!;
      expect(numericMatch(gold, [gold])).toBe(true);
      const dressed = `$${Number(gold).toLocaleString('en-US')} in total`;
      expect(numericMatch(dressed, [gold]), dressed).toBe(true);
      expect(numericMatch(String(Number(gold) + 1), [gold])).toBe(false);
    }
  });

  it('exact and F1 on real HotPotQA answers', () => {
    for (const row of lines('data/hotpotqa/questions.jsonl', 200)) {
      const gold = row.answer!;
      expect(exactMatch(gold.toUpperCase(), [gold])).toBe(true);
      expect(exactMatch(`The ${gold}.`, [gold])).toBe(normalizeText(`The ${gold}.`) === normalizeText(gold));
      expect(tokenF1(gold, gold)).toBe(1);
    }
    expect(exactMatch('the Stephen King', ['Stephen King'])).toBe(true);
    expect(tokenF1('Stephen King novel', 'Stephen King')).toBeCloseTo(0.8, 6);
    expect(tokenF1('Latin', 'Greek')).toBe(0);
    expect(bestF1('Latin language', ['Greek', 'Latin'])).toBeCloseTo(2 / 3, 6);
    expect(matchAnswer('f1', 'Latin language', ['Latin'], 0.5).correct).toBe(true);
    expect(matchAnswer('f1', 'Latin language', ['Latin'], 0.9).correct).toBe(false);
    expect(matchAnswer('exact', undefined, ['x']).correct).toBe(false);
  });
});

describe('verdict parsing', () => {
  it('takes the last upper-case verdict word', () => {
    expect(parseProcessVerdict('The query is relevant.\nGOOD').verdict).toBe('GOOD');
    expect(parseProcessVerdict('It would be GOOD to search, but this query repeats an earlier one.\n**Verdict: BAD**').verdict).toBe('BAD');
    expect(parseProcessVerdict('Reasoning...\n\nFinal verdict: **GOOD**').verdict).toBe('GOOD');
    expect(parseOutcomeVerdict('The key says 18 and the student says $18. YES').verdict).toBe('YES');
    expect(parseOutcomeVerdict('YES, the format differs... on reflection the number is wrong.\nNO').verdict).toBe('NO');
  });
  it('accepts a lower-case verdict phrase, and records why when there is none', () => {
    expect(parseProcessVerdict('this step looks fine. verdict: good').verdict).toBe('GOOD');
    expect(parseOutcomeVerdict('Answer: no').verdict).toBe('NO');
    const none = parseProcessVerdict('I am not sure what to say here.');
    expect(none).toMatchObject({ verdict: 'BAD', parsed: false });
    expect(none.reason).toContain('no GOOD/BAD verdict');
    expect(parseOutcomeVerdict('')).toMatchObject({ verdict: 'NO', parsed: false });
    // Words that merely contain the verdict do not count.
    expect(parseProcessVerdict('GOODNESS me, BADLY phrased').parsed).toBe(false);
  });
  it('keeps the reasoning before the verdict', () => {
    expect(parseProcessVerdict('The expression computes the crates.\nGOOD').reason).toBe('The expression computes the crates.');
  });
});

describe('GSM8K reference judge', () => {
  const solution = 'Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18';
  it('collects the reference values', () => {
    expect(referenceValues(solution, '18')).toEqual([9, 18, 18]);
  });
  it('judges calculations by their result and answers by the gold answer', () => {
    expect(judgeWithReference({ kind: 'calculator', content: '16-3-4', observation: '9.0' }, solution, '18').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'calculator', content: '16-3', observation: '13.0' }, solution, '18').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'calculator', content: '1/0', observation: 'Error: division by zero' }, solution, '18').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'answer', content: '$18' }, solution, '18').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'answer', content: '9' }, solution, '18').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'search', content: 'eggs' }, solution, '18').verdict).toBe('BAD');
  });
  it('reads leading-dot annotation values', () => {
    expect(referenceValues('2 * .4 = <<2*.4=.8>>.8 and <<.5*10=5>>5\n#### 5', '5')).toEqual([0.8, 5, 5]);
    const s = 'She pays 2*.4 = $<<2*.4=.8>>.8\n#### .8';
    expect(judgeWithReference({ kind: 'calculator', content: '2*.4', observation: '0.8' }, s, '.8').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'calculator', content: '2*4', observation: '8.0' }, s, '.8').verdict).toBe('BAD');
  });
  it('rewards only progress: a reference value already computed is BAD the second time', () => {
    const again = judgeWithReference({ kind: 'calculator', content: '16-3-4', observation: '9.0', earlier: ['9.0'] }, solution, '18');
    expect(again.verdict).toBe('BAD');
    expect(again.reason).toContain('already computed');
    expect(judgeWithReference({ kind: 'calculator', content: '4+5', observation: '9.0', earlier: ['9'] }, solution, '18').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'calculator', content: '9*2', observation: '18.0', earlier: ['9.0'] }, solution, '18').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'calculator', content: '9*2', observation: '18.0', earlier: ['9.0', '18.0'] }, solution, '18').verdict).toBe('BAD');
    // A value the solution computes twice is progress twice, not three times.
    const twice = 'Each pays 3*4 = <<3*4=12>>12 and 2*6 = <<2*6=12>>12, so <<12+12=24>>24.\n#### 24';
    expect(judgeWithReference({ kind: 'calculator', content: '2*6', observation: '12.0', earlier: ['12.0'] }, twice, '24').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'calculator', content: '2*6', observation: '12.0', earlier: ['12.0', '12.0'] }, twice, '24').verdict).toBe('BAD');
  });
  it('a bare number computes nothing and does not score like an answer', () => {
    for (const content of ['18', '18.0', ' 18 ', '(18)', '1,018']) {
      const r = judgeWithReference({ kind: 'calculator', content, observation: '18.0' }, solution, '18');
      expect(r.verdict, content).toBe('BAD');
      expect(r.reason).toContain('computes nothing');
    }
  });
  it('a number restated through an operation that gives it back computes nothing either', () => {
    for (const [content, obs] of [['18*1', '18.0'], ['18+0', '18.0'], ['18/1', '18.0'], ['round(18)', '18'], ['abs(18)', '18'], ['18^1', '18.0']]) {
      const r = judgeWithReference({ kind: 'calculator', content: content!, observation: obs! }, solution, '18');
      expect(r.verdict, content).toBe('BAD');
      expect(r.reason).toContain('restates a number');
    }
    expect(judgeWithReference({ kind: 'calculator', content: '9*2', observation: '18.0' }, solution, '18').verdict).toBe('GOOD');
  });
  it('exponent forms: a literal like 1e24 is a bare number, a result like 1e+24 reads as 1e24 and is out of range', () => {
    // The calculator prints results from 1e21 up as `1e+24`; read naively, that is 24, a reference value of many solutions.
    const natalia = 'Natalia sold 48/2 = <<48/2=24>>24 clips in May. Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.';
    expect(extractNumber('1e+24')).toBe(1e24);
    expect(judgeWithReference({ kind: 'calculator', content: '1e24', observation: '1e+24' }, natalia, '72').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'calculator', content: '10^24', observation: '1e+24' }, natalia, '72').verdict).toBe('BAD');
    expect(judgeWithReference({ kind: 'calculator', content: '10^72', observation: '1e+72' }, natalia, '72').verdict).toBe('BAD');
    expect(answerNumber('1e72')).toBe(1e72);
    expect(judgeWithReference({ kind: 'calculator', content: '48/2', observation: '24.0' }, natalia, '72').verdict).toBe('GOOD');
  });
  it('judges answers by the stated result, with the reading in the reason', () => {
    expect(judgeWithReference({ kind: 'answer', content: '18 dollars (9*2)' }, solution, '18').verdict).toBe('GOOD');
    expect(judgeWithReference({ kind: 'answer', content: '9 * 2 = 18' }, solution, '18').verdict).toBe('GOOD');
    const bad = judgeWithReference({ kind: 'answer', content: '9 eggs (16-3-4)' }, solution, '18');
    expect(bad).toMatchObject({ verdict: 'BAD' });
    expect(bad.reason).toContain('reads as 9');
  });
  it('every calculation of the first 100 GSM8K train solutions is GOOD when replayed in order, and BAD when repeated', () => {
    let repeats = 0;
    for (const row of lines('data/gsm8k/train.jsonl', 100)) {
      const gold = gsm8kFinalAnswer(row.answer!)!;
      const earlier: string[] = [];
      const calcs = [...row.answer!.matchAll(/<<([^<>]*?)=([^<>=]*)>>/g)];
      // A few annotations compute nothing: bare numbers (`<<12=12>>`) and identities that give
      // back one of their numbers (`<<1*2=2>>`); the judge calls those BAD, so they are not replayed.
      const bare = calcs.filter((m) => /^[\d.,\s]+$/.test(m[1]!) || (m[1]!.match(/\d*\.?\d+/g) ?? []).some((x) => Number(x) === Number(m[2]!.replace(/,/g, ''))));
      for (const m of calcs) {
        if (bare.includes(m)) continue;
        const r = judgeWithReference({ kind: 'calculator', content: m[1]!, observation: m[2]!, earlier }, row.answer, gold);
        expect(r.verdict, `${m[0]}: ${r.reason}`).toBe('GOOD');
        earlier.push(m[2]!);
      }
      const last = calcs.filter((m) => !bare.includes(m)).at(-1);
      if (last && bare.length === 0) {
        repeats++;
        expect(judgeWithReference({ kind: 'calculator', content: last[1]!, observation: last[2]!, earlier }, row.answer, gold).verdict).toBe('BAD');
      }
      expect(judgeWithReference({ kind: 'answer', content: gold }, row.answer, gold).verdict).toBe('GOOD');
    }
    expect(repeats).toBeGreaterThan(80);
  });
  it('reads the earlier results from the conversation, not from the question', () => {
    const turns = [
      { role: 'user' as const, content: 'Use <math_exp>48 / 2</math_exp>; the result comes back as "48 / 2 -> 24.0".\nQuestion: 3*12 -> 36?' },
      { role: 'assistant' as const, content: 'Crates. <math_exp>3*12</math_exp>' },
      { role: 'user' as const, content: '3*12 -> 36.0' },
      { role: 'assistant' as const, content: '<search_query>jars 41</search_query>' },
      { role: 'user' as const, content: 'jars 41 -> an article about 41 jars' },
      { role: 'assistant' as const, content: '<math_exp>36/0</math_exp>' },
      { role: 'user' as const, content: '36/0 -> Error: division by zero' },
      { role: 'assistant' as const, content: '<math_exp>36+5</math_exp>' },
    ];
    expect(earlierCalculatorResults(turns)).toEqual(['36.0']);
    expect(earlierCalculatorResults(turns.slice(0, 1))).toEqual([]);
  });
});

describe('GSM8K reference judge through matcherProcessJudge', () => {
  const reference = '3*12=<<3*12=36>>36 +5 = <<36+5=41>>41\n#### 41';
  const question = { role: 'user' as const, content: 'Solve it. A result comes back as "3*12 -> 36.0".\nQuestion: How many jars?' };
  const base = { question: 'How many jars?', gold: '41', reference, toolKinds: ['calculator', 'answer'] as const };
  const judge = matcherProcessJudge('gsm8k-reference');
  it('a first calculation of a reference value is GOOD, even when the question shows an example result', async () => {
    const v = await judge.judgeStep({ ...base, messages: [question, { role: 'assistant', content: '<math_exp>3*12</math_exp>' }], actionKind: 'calculator', content: '3*12', observation: '36.0' });
    expect(v).toMatchObject({ verdict: 'GOOD', parsed: true });
  });
  it('repeating an earlier calculation is BAD; the next new value is GOOD', async () => {
    const messages = [question, { role: 'assistant' as const, content: '<math_exp>3*12</math_exp>' }, { role: 'user' as const, content: '3*12 -> 36.0' }];
    const loop = await judge.judgeStep({ ...base, messages: [...messages, { role: 'assistant', content: 'Again. <math_exp>12 * 3</math_exp>' }], actionKind: 'calculator', content: '12 * 3', observation: '36.0' });
    expect(loop.verdict).toBe('BAD');
    expect(loop.reason).toContain('already computed');
    const next = await judge.judgeStep({ ...base, messages: [...messages, { role: 'assistant', content: '<math_exp>36+5</math_exp>' }], actionKind: 'calculator', content: '36+5', observation: '41.0' });
    expect(next.verdict).toBe('GOOD');
  });
  it('a result shown after the judged action does not count as earlier', async () => {
    const messages = [question, { role: 'assistant' as const, content: '<math_exp>3*12</math_exp>' }, { role: 'user' as const, content: '3*12 -> 36.0' }];
    expect((await judge.judgeStep({ ...base, messages, actionKind: 'calculator', content: '3*12', observation: '36.0' })).verdict).toBe('GOOD');
  });
  it('a bare number in math tags is BAD where the same number as an answer is GOOD', async () => {
    const messages = [question];
    expect((await judge.judgeStep({ ...base, messages: [...messages, { role: 'assistant', content: '<math_exp>41</math_exp>' }], actionKind: 'calculator', content: '41', observation: '41.0' })).verdict).toBe('BAD');
    expect((await judge.judgeStep({ ...base, messages: [...messages, { role: 'assistant', content: '<answer>41 jars (36+5)</answer>' }], actionKind: 'answer', content: '41 jars (36+5)' })).verdict).toBe('GOOD');
  });
});

class Scripted extends FakeListChatModel {
  override async _generate(messages: Parameters<FakeListChatModel['_generate']>[0], options: Parameters<FakeListChatModel['_generate']>[1], rm?: Parameters<FakeListChatModel['_generate']>[2]) {
    return super._generate(messages, { ...options, stop: undefined } as typeof options, rm);
  }
}

describe('LLM judges (scripted model)', () => {
  const view = {
    question: 'How many jars?',
    gold: '41',
    messages: [
      { role: 'user' as const, content: 'instructions' },
      { role: 'assistant' as const, content: 'First the crates. <math_exp>3*12</math_exp>' },
    ],
    actionKind: 'calculator' as const,
    content: '3*12',
    observation: '36.0',
    toolKinds: ['calculator', 'answer'] as const,
  };
  it('parses the process verdict and records unparseable output as BAD', async () => {
    const j = llmProcessJudge({ model: new Scripted({ responses: ['Correct setup.\nGOOD', 'hmm'] }), label: 'llm:judge' });
    expect(await j.judgeStep(view)).toMatchObject({ verdict: 'GOOD', parsed: true });
    expect(await j.judgeStep(view)).toMatchObject({ verdict: 'BAD', parsed: false });
  });
  it('outcome judge: YES/NO with F1 alongside', async () => {
    const j = llmOutcomeJudge({ model: new Scripted({ responses: ['Same number.\nYES'] }), label: 'llm:judge' });
    expect(await j.judgeOutcome({ question: 'q', gold: '41', answer: '41 jars', dataset: 'gsm8k' })).toMatchObject({ correct: true, score: 1 });
    expect(await j.judgeOutcome({ question: 'q', gold: '41', answer: undefined, dataset: 'gsm8k' })).toMatchObject({ correct: false, reason: 'no answer' });
  });
  it('matcher process judges: gsm8k-reference judges steps; answer matchers refuse, non-retryably', async () => {
    const reference = '3*12=<<3*12=36>>36 +5 = <<36+5=41>>41\n#### 41';
    expect((await matcherProcessJudge('gsm8k-reference').judgeStep({ ...view, reference })).verdict).toBe('GOOD');
    expect((await matcherProcessJudge('gsm8k-reference').judgeStep({ ...view, reference, actionKind: 'answer', content: '40' })).verdict).toBe('BAD');
    // A tool step must never be a free GOOD (a sure reward of 1): a Plan compiled before E_MATCHER_PROCESS_JUDGE fails here.
    for (const m of ['exact', 'numeric', 'f1'] as const) {
      const err = (() => {
        try {
          matcherProcessJudge(m);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(MatcherProcessJudgeError);
      expect(err).toMatchObject({ type: 'ConfigError', nonRetryable: true });
      expect((err as Error).message).toContain('gsm8k-reference');
    }
  });
  it('normalizes judge refs', () => {
    expect(normalizeJudge('judge')).toEqual({ model: 'judge' });
    expect(normalizeJudge({ matcher: 'f1', threshold: 0.5 })).toEqual({ matcher: 'f1', threshold: 0.5 });
    expect(normalizeJudge(undefined)).toBeUndefined();
  });
});

describe('statistics', () => {
  it("Cohen's kappa", () => {
    expect(cohensKappa([true, false, true, false], [true, false, true, false])).toBe(1);
    // 10 items: both yes 4, both no 3, a-only 2, b-only 1 → po 0.7, pe 0.6·0.5+0.4·0.5 = 0.5, κ 0.4
    const a = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0].map(Boolean);
    const b = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1].map(Boolean);
    expect(cohensKappa(a, b)).toBeCloseTo(0.4, 10);
  });
  it('judge agreement: kappa, raw agreement, both GOOD rates and the 2×2 counts', () => {
    const a = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0].map(Boolean);
    const b = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1].map(Boolean);
    const r = judgeAgreement('gsm8k-reference', 'llm:judge', a.map((x, i) => [x, b[i]!] as const));
    expect(r).toMatchObject({ judgeA: 'gsm8k-reference', judgeB: 'llm:judge', steps: 10, confusion: { goodGood: 4, goodBad: 2, badGood: 1, badBad: 3 } });
    expect(r.kappa).toBeCloseTo(0.4, 10);
    expect(r.agreement).toBeCloseTo(0.7, 10);
    expect(r.goodRateA).toBeCloseTo(0.6, 10);
    expect(r.goodRateB).toBeCloseTo(0.5, 10);
    // Opposite verdicts everywhere, both judges at 50% GOOD: κ = −1.
    expect(judgeAgreement('a', 'b', [[true, false], [false, true]]).kappa).toBeCloseTo(-1, 10);
    // Both always GOOD: perfect agreement, κ 1 (chance agreement is 1 too).
    expect(judgeAgreement('a', 'b', [[true, true]]).kappa).toBe(1);
    // No step judged by both: no statistic, not 0 or NaN.
    expect(judgeAgreement('a', 'b', [])).toEqual({ judgeA: 'a', judgeB: 'b', steps: 0, kappa: null, agreement: null, goodRateA: null, goodRateB: null, confusion: { goodGood: 0, goodBad: 0, badGood: 0, badBad: 0 } });
  });
  it('95% interval and paired difference', () => {
    // Wilson score intervals (hand-computed): 50/100 → [0.4038, 0.5962]; 0/100 → [0, 0.0370]; 1/100 → [0.0018, 0.0545].
    const [lo, hi] = ci95(50, 100);
    expect(lo).toBeCloseTo(0.4038, 4);
    expect(hi).toBeCloseTo(0.5962, 4);
    expect(ci95(0, 100)[0]).toBe(0);
    expect(ci95(0, 100)[1]).toBeCloseTo(0.037, 4);
    expect(ci95(1, 100)[0]).toBeCloseTo(0.0018, 4);
    expect(ci95(1, 100)[1]).toBeCloseTo(0.0545, 4);
    expect(ci95(10, 10)[1]).toBeCloseTo(1, 12);
    expect(ci95(0, 0)).toEqual([0, 1]);
    const p = pairedDifference([false, false, true, true], [true, false, true, true]);
    expect(p.diff).toBeCloseTo(0.25, 10);
    expect(p.ci95[0]).toBeLessThan(0.25);
    expect(p.ci95[1]).toBeGreaterThan(0.25);
  });
});
