// Judges: process (one step → GOOD/BAD) and outcome (answer vs key → YES/NO).
// A judge is either a matcher (no model) or an LLM runnable: prompt file →
// chat model → verdict parser. The same process judges are the trainer's
// reward model (GOOD = 1, BAD = 0, or P(GOOD) from the verdict token's
// log-probs: agents/judges/probability.ts). Which chat model an LLM judge calls (and
// whether its calls go through the ledger) is decided by the caller.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HumanMessage, type AIMessage } from '@langchain/core/messages';
import { ApplicationFailure } from '@temporalio/common';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { ActionKind } from '../protocol.js';
import type { ChatTurn } from '../types.js';
import { earlierCalculatorResults, judgeWithReference } from './gsm8k-reference.js';
import { matchAnswer, type MatcherName } from './matchers.js';
import { parseOutcomeVerdict, parseProcessVerdict } from './verdicts.js';
import { logprobsOf, verdictProbability } from './probability.js';

/** A judge as the Plan gives it, after normalization (`judge: name` → `{ model: name }`). */
export type JudgeSpec = { matcher: MatcherName | 'gsm8k-reference'; threshold?: number } | { model: string; prompt?: string; promptSha256?: string; score?: JudgeScore };

/** How a process judge's verdict becomes a reward: GOOD = 1 / BAD = 0, or P(GOOD) from log-probs. */
export type JudgeScore = 'verdict' | 'probability';

export function normalizeJudge(ref: unknown): JudgeSpec | undefined {
  if (ref === undefined || ref === null) return undefined;
  if (typeof ref === 'string') return { model: ref };
  const r = ref as { model?: string; matcher?: string; prompt?: string; promptSha256?: string; threshold?: number; score?: JudgeScore };
  if (r.matcher) return { matcher: r.matcher as JudgeSpec extends { matcher: infer M } ? M : never, ...(r.threshold !== undefined ? { threshold: r.threshold } : {}) };
  if (r.model) return { model: r.model, ...(r.prompt ? { prompt: r.prompt, ...(r.promptSha256 ? { promptSha256: r.promptSha256 } : {}) } : {}), ...(r.score === 'probability' ? { score: r.score } : {}) };
  return undefined;
}

export function judgeLabel(j: JudgeSpec): string {
  return 'matcher' in j ? j.matcher : `llm:${j.model}`;
}

/** What a process judge sees: the task, the state and the one action to judge. */
export interface StepView {
  question: string;
  gold: string;
  reference?: string;
  /** Conversation up to and including the judged action. */
  messages: ChatTurn[];
  actionKind: ActionKind;
  content: string;
  observation?: string;
  /** Tools the agent had (shapes the judge's wording). */
  toolKinds: readonly ActionKind[];
}

export interface ProcessVerdict {
  verdict: 'GOOD' | 'BAD';
  reason: string;
  /** False when an LLM judge's output held no verdict (counted as BAD). */
  parsed: boolean;
  /**
   * P(GOOD) at the verdict token, when the judge was asked for probabilities
   * (`score: probability`) and the verdict's alternatives were in the log-probs.
   */
  pGood?: number;
}

/** The reward of one judged action: P(GOOD) when the judge gave one, else GOOD = 1 / BAD = 0. */
export function rewardOf(v: ProcessVerdict): number {
  return v.pGood ?? (v.verdict === 'GOOD' ? 1 : 0);
}

/**
 * A judge asked for probabilities got none: the provider does not return
 * log-probs. A non-retryable ConfigError wherever the judge runs (filter,
 * evaluation, training): retrying cannot help.
 */
export class NoLogprobsError extends ApplicationFailure {
  constructor(message: string) {
    super(message, 'ConfigError', true);
  }
}

/**
 * An answer matcher (`exact`, `numeric`, `f1`) was asked to judge steps. It has
 * no view on a tool call, and counting tool steps GOOD would make every tool
 * call a sure reward of 1 (RL learns never to answer) and let any tool step
 * through a filter. The compiler refuses this (E_MATCHER_PROCESS_JUDGE); a Plan
 * compiled before that check fails here, non-retryably, instead of training on it.
 */
export class MatcherProcessJudgeError extends ApplicationFailure {
  constructor(matcher: string) {
    super(
      `matcher ${matcher} judges answers only and cannot judge steps (a process judge or reward model would count every tool call GOOD); recompile the pipeline, which now refuses this (E_MATCHER_PROCESS_JUDGE), and use {matcher: gsm8k-reference} for GSM8K calculator tasks or an LLM judge model`,
      'ConfigError',
      true,
    );
  }
}

export interface OutcomeInput {
  question: string;
  gold: string;
  aliases?: string[];
  answer: string | undefined;
  dataset: string;
}

export interface OutcomeVerdict {
  correct: boolean;
  score: number;
  f1: number;
  reason: string;
  parsed: boolean;
}

export interface ProcessJudge {
  label: string;
  judgeStep(v: StepView, signal?: AbortSignal): Promise<ProcessVerdict>;
}

export interface OutcomeJudge {
  label: string;
  judgeOutcome(o: OutcomeInput, signal?: AbortSignal): Promise<OutcomeVerdict>;
}

const PROMPT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'prompts');
export const DEFAULT_PROCESS_PROMPT = readFileSync(path.join(PROMPT_DIR, 'process.txt'), 'utf8');
export const DEFAULT_OUTCOME_PROMPT = readFileSync(path.join(PROMPT_DIR, 'outcome.txt'), 'utf8');

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (all, k: string) => (k in vars ? vars[k]! : all));
}

/** The conversation after the instruction turn, labelled for the judge. */
export function renderConversation(messages: readonly ChatTurn[]): string {
  return messages
    .slice(1)
    .map((m) => (m.role === 'assistant' ? `STUDENT: ${m.content}` : `RESULT: ${m.content}`))
    .join('\n\n');
}

const isMath = (kinds: readonly ActionKind[]) => kinds.includes('calculator') && !kinds.includes('search');

function processCriterion(v: StepView): string {
  const math = isMath(v.toolKinds);
  switch (v.actionKind) {
    case 'search':
      return 'The last message is a search query. Is it likely to help answer the question? It is BAD if it is irrelevant, repeats an earlier query, or cannot move the search forward.';
    case 'calculator':
      return 'The last message is a calculation. Is the expression correct and useful for solving the problem? It is BAD if it computes the wrong thing or contains an arithmetic mistake in how the problem is set up.';
    case 'answer':
      return math
        ? 'The last message is the final answer. Judge whether it follows from the problem and the calculations shown. It is BAD if the calculations do not support it.'
        : 'The last message is the final answer. Judge ONLY whether it follows from the search results shown in the conversation, not whether it is true by your own knowledge. It is BAD if the results do not contain enough information to support it; watch for answers that only look supported.';
  }
}

function outcomeCriterion(dataset: string): string {
  return dataset === 'gsm8k'
    ? 'Numbers written in equivalent formats count as equal (10, 10.00, $10, 10 dollars).'
    : 'Check the answer only against the answer key; do not use your own knowledge. Small wording differences that keep the meaning are fine.';
}

export interface LlmJudgeOptions {
  model: BaseChatModel;
  label: string;
  /** Prompt template text (defaults to the built-in prompt). */
  template?: string;
  maxTokens?: number;
  /** `probability`: request log-probs and report P(GOOD) with each verdict. */
  score?: JudgeScore;
}

/** How many alternatives per token a probability judge asks for (OpenAI allows up to 20). */
export const JUDGE_TOP_LOGPROBS = 10;

function textOf(m: AIMessage): string {
  return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
}

export function llmProcessJudge(o: LlmJudgeOptions): ProcessJudge {
  const template = o.template ?? DEFAULT_PROCESS_PROMPT;
  return {
    label: o.label,
    async judgeStep(v, signal) {
      const prompt = fill(template, {
        question: v.question,
        conversation: renderConversation(v.messages),
        criterion: processCriterion(v),
        toolDescription: v.toolKinds.includes('search') ? 'a search engine' : 'a calculator',
      });
      const probability = o.score === 'probability';
      const res = (await o.model.invoke([new HumanMessage(prompt)], {
        ...(signal ? { signal } : {}),
        ...({ temperature: 0, seed: 0, maxTokens: o.maxTokens ?? 256, ...(probability ? { logprobs: true, topLogprobs: JUDGE_TOP_LOGPROBS } : {}) } as object),
      })) as AIMessage;
      const text = textOf(res);
      const p = parseProcessVerdict(text);
      if (!probability) return { verdict: p.verdict, reason: p.reason, parsed: p.parsed };
      const tokens = logprobsOf(res.response_metadata);
      if (!tokens) throw new NoLogprobsError(`judge ${o.label} was asked for log-probs (score: probability) but its answer carries none; the provider must support logprobs (openai, openai-compatible, llama-cpp)`);
      // No verdict word: BAD, as with binary verdicts. A verdict whose alternatives hold no verdict token: its own 0/1.
      const vp = p.parsed && p.at !== undefined ? verdictProbability(tokens, p.at, 'GOOD', 'BAD') : undefined;
      return { verdict: p.verdict, reason: p.reason, parsed: p.parsed, ...(vp ? { pGood: vp.p } : {}) };
    },
  };
}

export function llmOutcomeJudge(o: LlmJudgeOptions): OutcomeJudge {
  const template = o.template ?? DEFAULT_OUTCOME_PROMPT;
  return {
    label: o.label,
    async judgeOutcome(x, signal) {
      const golds = [x.gold, ...(x.aliases ?? [])];
      const f1 = matchAnswer('f1', x.answer, golds).f1;
      if (x.answer === undefined || x.answer.trim() === '') return { correct: false, score: 0, f1, reason: 'no answer', parsed: true };
      const prompt = fill(template, { question: x.question, gold: golds.join(' / '), answer: x.answer, criterion: outcomeCriterion(x.dataset) });
      const res = (await o.model.invoke([new HumanMessage(prompt)], { ...(signal ? { signal } : {}), ...({ temperature: 0, seed: 0, maxTokens: o.maxTokens ?? 256 } as object) })) as AIMessage;
      const p = parseOutcomeVerdict(textOf(res));
      return { correct: p.verdict === 'YES', score: p.verdict === 'YES' ? 1 : 0, f1, reason: p.reason, parsed: p.parsed };
    },
  };
}

export function matcherOutcomeJudge(matcher: MatcherName, threshold?: number): OutcomeJudge {
  return {
    label: matcher,
    async judgeOutcome(x) {
      const r = matchAnswer(matcher, x.answer, [x.gold, ...(x.aliases ?? [])], threshold);
      return { ...r, reason: `${matcher} match ${r.correct ? 'succeeded' : 'failed'}${matcher === 'f1' ? ` (F1 ${r.f1.toFixed(2)})` : ''}`, parsed: true };
    },
  };
}

/**
 * The one matcher that judges steps: `gsm8k-reference`, every step against the
 * gold solution. The answer matchers (`exact`, `numeric`, `f1`) have no view on
 * tool calls and throw MatcherProcessJudgeError when asked (the compiler
 * refuses them where steps are judged; this catches older Plans). The type
 * admits them because a Plan's judge ref is data.
 */
export function matcherProcessJudge(matcher: MatcherName | 'gsm8k-reference'): ProcessJudge {
  if (matcher !== 'gsm8k-reference') throw new MatcherProcessJudgeError(matcher);
  return {
    label: matcher,
    async judgeStep(v) {
      // Only results before the judged action (the last assistant turn) count as earlier.
      const judged = v.messages.map((m) => m.role).lastIndexOf('assistant');
      const earlier = earlierCalculatorResults(judged >= 0 ? v.messages.slice(0, judged) : v.messages);
      const r = judgeWithReference({ kind: v.actionKind, content: v.content, earlier, ...(v.observation !== undefined ? { observation: v.observation } : {}) }, v.reference, v.gold);
      return { ...r, parsed: true };
    },
  };
}

/** Cohen's kappa between two judges' binary verdicts on the same items. */
export function cohensKappa(a: readonly boolean[], b: readonly boolean[]): number {
  if (a.length !== b.length) throw new Error('cohensKappa: the two verdict lists differ in length');
  const n = a.length;
  if (n === 0) return NaN;
  let agree = 0;
  let aYes = 0;
  let bYes = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) agree++;
    if (a[i]) aYes++;
    if (b[i]) bYes++;
  }
  const po = agree / n;
  const pe = (aYes / n) * (bYes / n) + (1 - aYes / n) * (1 - bYes / n);
  return pe === 1 ? (po === 1 ? 1 : 0) : (po - pe) / (1 - pe);
}

/** How two process judges agree on the same steps (A: the filter's judge, B: the second one). */
export interface JudgeAgreement {
  judgeA: string;
  judgeB: string;
  /** Steps both judges saw. */
  steps: number;
  /** Cohen's kappa; null when no step was judged by both. */
  kappa: number | null;
  /** Raw agreement: share of steps with the same verdict. */
  agreement: number | null;
  goodRateA: number | null;
  goodRateB: number | null;
  /** 2×2 counts, A's verdict first: goodBad = A said GOOD, B said BAD. */
  confusion: { goodGood: number; goodBad: number; badGood: number; badBad: number };
}

/** Agreement statistics from paired verdicts (true = GOOD), A's first. */
export function judgeAgreement(judgeA: string, judgeB: string, pairs: ReadonlyArray<readonly [boolean, boolean]>): JudgeAgreement {
  const c = { goodGood: 0, goodBad: 0, badGood: 0, badBad: 0 };
  for (const [a, b] of pairs) {
    if (a && b) c.goodGood++;
    else if (a) c.goodBad++;
    else if (b) c.badGood++;
    else c.badBad++;
  }
  const n = pairs.length;
  const share = (k: number) => (n > 0 ? k / n : null);
  return {
    judgeA,
    judgeB,
    steps: n,
    kappa: n > 0 ? cohensKappa(pairs.map((p) => p[0]), pairs.map((p) => p[1])) : null,
    agreement: share(c.goodGood + c.badBad),
    goodRateA: share(c.goodGood + c.goodBad),
    goodRateB: share(c.goodGood + c.badGood),
    confusion: c,
  };
}
