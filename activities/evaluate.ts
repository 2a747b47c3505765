// The evaluate stage's per-item work: one greedy episode of the policy on a
// held-out question, the outcome judge on its answer and (optionally) the
// process judge on every step; then the accuracy table row with its 95% CI.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { normalizeJudge } from '../agents/judges/index.js';
import { decompose } from '../agents/steps.js';
import type { Trajectory } from '../agents/types.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { wilson } from '../report/intervals.js';
import type { ItemProcessor } from './fanout.js';
import { judgeSteps, makeOutcomeJudge, makeProcessJudge, runIdOf, type JudgeContext, type JudgeFactoryDeps } from './judge.js';
import type { RolloutConfig, RolloutItem } from './rollout.js';

export interface EvaluateConfig extends RolloutConfig, JudgeContext {
  /** Judge refs as the Plan gives them; normalized here. */
  judge: unknown;
  processJudge?: unknown;
}

export interface EvalRecord {
  questionId: string;
  dataset: string;
  status: Trajectory['status'];
  answer?: string;
  gold: string;
  correct: boolean;
  score: number;
  f1: number;
  reason: string;
  /** Actions taken (tool calls + the answer). */
  steps: number;
  toolCalls: number;
  /** Share of this episode's steps the process judge found GOOD (when one is configured). */
  goodRate?: number;
  trajectory: Trajectory;
}

export function evaluateProcessor(rollout: ItemProcessor, deps: JudgeFactoryDeps): ItemProcessor {
  return async (item, ctx) => {
    const cfg = ctx.config as unknown as EvaluateConfig;
    const r = await rollout(item, ctx);
    if (r.outcome !== 'succeeded') return r;
    const t = r.row as Trajectory;
    const q = (item as RolloutItem).question;
    const judge = normalizeJudge(cfg.judge);
    if (!judge) throw ApplicationFailure.nonRetryable('evaluate needs a judge', 'ConfigError');
    const judgeDeps = { ...deps, stageId: ctx.stageId, runId: runIdOf(ctx.shardKey) };
    const o = await makeOutcomeJudge(judge, cfg, judgeDeps).judgeOutcome(
      { question: q.question, gold: q.answer, ...(q.aliases ? { aliases: q.aliases } : {}), answer: t.status === 'answered' ? t.answer : undefined, dataset: q.dataset },
      ctx.signal,
    );
    const rec: EvalRecord = {
      questionId: q.id,
      dataset: q.dataset,
      status: t.status,
      ...(t.answer !== undefined ? { answer: t.answer } : {}),
      gold: q.answer,
      correct: o.correct,
      score: o.score,
      f1: o.f1,
      reason: o.reason,
      steps: t.steps.length,
      // Calls the tool answered: a call past maxSteps ends the episode (max_steps) unexecuted.
      toolCalls: t.steps.filter((s) => s.kind !== 'answer' && s.observation !== undefined).length,
      trajectory: t,
    };
    const processJudge = normalizeJudge(cfg.processJudge);
    if (processJudge && t.steps.length > 0) {
      const g = await judgeSteps(decompose(t), makeProcessJudge(processJudge, cfg, judgeDeps), ctx.signal);
      rec.goodRate = g.steps.filter((s) => s.verdict === 'GOOD').length / g.steps.length;
    }
    return { outcome: 'succeeded', row: rec };
  };
}

export interface EvalStats {
  policy: string;
  dataset: string;
  n: number;
  correct: number;
  accuracy: number;
  /** Normal-approximation 95% interval, p ± 1.96·√(p(1−p)/n), clipped to [0, 1] (swirl-method.md §5). */
  ci95: [number, number];
  f1: number;
  avgSteps: number;
  toolCallsPerQuestion: number;
  answered: number;
  /** Mean per-step GOOD rate (the paper's Tab. 3 process score), when a process judge ran. */
  processScore?: number;
  /** Per-question correctness in question order (first 2,000), for paired comparisons. */
  outcomes: boolean[];
  /** Hash of the question ids in order: equal keys mean two evaluations can be paired. */
  questionsKey: string;
}

/** 95% interval of an accuracy: Wilson score (report/intervals.ts). */
export const ci95 = wilson;

/** Paired difference b − a over the same questions, with a normal 95% interval on the per-question differences. */
export function pairedDifference(a: readonly boolean[], b: readonly boolean[]): { n: number; diff: number; ci95: [number, number] } {
  if (a.length !== b.length) throw new Error('pairedDifference: outcome lists differ in length');
  const n = a.length;
  if (n === 0) return { n: 0, diff: 0, ci95: [0, 0] };
  const d = a.map((x, i) => Number(b[i]) - Number(x));
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  const h = 1.96 * Math.sqrt(variance / n);
  return { n, diff: mean, ci95: [mean - h, mean + h] };
}

export async function summarizeEvaluation(store: ArtifactStore, input: { records: ArtifactRef; policy: string }): Promise<EvalStats> {
  const recs: EvalRecord[] = [];
  for await (const r of store.read<EvalRecord>(input.records)) recs.push(r);
  if (recs.length === 0) throw ApplicationFailure.nonRetryable('evaluation produced no records (every episode failed?)', 'EvalError');
  const n = recs.length;
  const correct = recs.filter((r) => r.correct).length;
  const judged = recs.filter((r) => r.goodRate !== undefined);
  const datasets = [...new Set(recs.map((r) => r.dataset))];
  return {
    policy: input.policy,
    dataset: datasets.join('+'),
    n,
    correct,
    accuracy: correct / n,
    ci95: ci95(correct, n),
    f1: recs.reduce((s, r) => s + r.f1, 0) / n,
    avgSteps: recs.reduce((s, r) => s + r.steps, 0) / n,
    toolCallsPerQuestion: recs.reduce((s, r) => s + r.toolCalls, 0) / n,
    answered: recs.filter((r) => r.status === 'answered').length,
    ...(judged.length ? { processScore: judged.reduce((s, r) => s + r.goodRate!, 0) / judged.length } : {}),
    outcomes: recs.slice(0, 2000).map((r) => r.correct),
    questionsKey: createHash('sha256').update(recs.map((r) => r.questionId).join('\n')).digest('hex').slice(0, 16),
  };
}
