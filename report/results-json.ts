// docs/results.json (issue 19): the numbers of the report's accuracy and paired-difference
// tables, machine-readable, one entry per evaluated policy ("arm"): base, or a train stage id.
import type { PairedComparison, ReportData, ReportPolicyModel } from './types.js';
import { whenAnswered } from './markdown.js';

export interface ResultsArm {
  /** The evaluate stage the numbers come from. */
  stage: string;
  dataset: string;
  correct: number;
  n: number;
  accuracy: number;
  ci95: [number, number];
  /** This arm minus base on the same questions, with its 95% CI (absent for base). */
  pairedVsBase?: { diff: number; ci95: [number, number]; method: 'paired' | 'unpaired'; discordant?: { bOnly: number; aOnly: number }; mcnemarP?: number; bothAnswered?: PairedComparison['bothAnswered'] };
  toolCallsPerQuestion?: number;
  stepsPerQuestion?: number;
  processScore?: number;
  /** Share of questions answered (not no_action or max_steps). */
  answeredRate?: number;
  /** Correct over answered questions. */
  accuracyWhenAnswered?: number;
  /** Trained arms: sums over the train stage's updates (TrainerTotals), trainer time in hours. */
  training?: { updates: number; tokens: number; actionTokens: number; trainerHours: number; checkpoint?: string; adapterSha256?: string };
}

export interface ResultsJson {
  version: 1;
  generatedAt: string;
  runs: string[];
  pipeline: string;
  specHash?: string;
  status: string;
  model?: ReportPolicyModel;
  arms: Record<string, ResultsArm>;
}

export function resultsJson(data: ReportData): ResultsJson {
  const arms: Record<string, ResultsArm> = {};
  for (const e of data.evaluations) {
    const cmp = data.comparisons?.find((c) => c.b === e.stageId && c.policyA === 'base');
    arms[e.policy] = {
      stage: e.stageId,
      dataset: e.dataset,
      correct: e.correct,
      n: e.n,
      accuracy: e.accuracy,
      ci95: e.ci95,
      ...(cmp ? { pairedVsBase: { diff: cmp.diff, ci95: cmp.ci95, method: cmp.method, ...(cmp.discordant ? { discordant: cmp.discordant } : {}), ...(cmp.mcnemarP !== undefined ? { mcnemarP: cmp.mcnemarP } : {}), ...(cmp.bothAnswered ? { bothAnswered: cmp.bothAnswered } : {}) } } : {}),
      ...(e.toolCallsPerQuestion !== undefined ? { toolCallsPerQuestion: e.toolCallsPerQuestion } : {}),
      ...(e.avgSteps !== undefined ? { stepsPerQuestion: e.avgSteps } : {}),
      ...(e.processScore !== undefined ? { processScore: e.processScore } : {}),
      ...(e.answered !== undefined ? { answeredRate: e.answered } : {}),
      ...(whenAnswered(e) !== undefined ? { accuracyWhenAnswered: whenAnswered(e) } : {}),
      ...trainingOf(data, e.policy),
    };
  }
  return {
    version: 1,
    generatedAt: data.generatedAt,
    runs: [data.run.id],
    pipeline: data.run.pipeline,
    ...(data.run.specHash ? { specHash: data.run.specHash } : {}),
    status: data.run.status,
    ...(data.run.policyModel ? { model: data.run.policyModel } : {}),
    arms,
  };
}

function trainingOf(data: ReportData, policy: string): Pick<ResultsArm, 'training'> {
  const t = data.training?.find((c) => c.stageId === policy)?.totals;
  return t
    ? { training: { updates: t.updates, tokens: t.tokens, actionTokens: t.actionTokens, trainerHours: t.trainerSeconds / 3600, ...(t.checkpoint ? { checkpoint: t.checkpoint } : {}), ...(t.adapterSha256 ? { adapterSha256: t.adapterSha256 } : {}) } }
    : {};
}
