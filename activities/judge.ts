// The filter stage's per-item work (one trajectory's steps → judged and kept
// or dropped), the judge factory shared with evaluation and training, and the
// yield accounting that ends the stage.
import { ApplicationFailure } from '@temporalio/common';
import type { PlanModel } from '../compiler/plan-types.js';
import {
  judgeAgreement,
  judgeLabel,
  normalizeJudge,
  llmOutcomeJudge,
  llmProcessJudge,
  matcherOutcomeJudge,
  matcherProcessJudge,
  type JudgeAgreement,
  type JudgeSpec,
  type OutcomeJudge,
  type ProcessJudge,
} from '../agents/judges/index.js';
import type { MatcherName } from '../agents/judges/matchers.js';
import { ledgeredModelFor } from '../agents/models.js';
import { defaultLedger } from '../store/ledger-sqlite.js';
import type { LlmLedger } from '../store/ledger.js';
import type { ActionKind } from '../agents/protocol.js';
import { stepState, type StepGroup } from '../agents/steps.js';
import type { TrajectoryStatus } from '../agents/types.js';
import type { ArtifactStore } from '../store/artifacts.js';
import { readPinned } from '../store/pinned-files.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { ItemProcessor } from './fanout.js';

export type FilterMode = 'none' | 'process' | 'outcome' | 'process+outcome';

/** Everything a worker needs to build judges: the specs and the Plan's models. */
export interface JudgeContext {
  projectRoot: string;
  models: Record<string, PlanModel>;
}

export interface JudgeFactoryDeps {
  modelsDir: string;
  /** Every judge call goes through the LLM call ledger (default: the worker's SQLite ledger). */
  ledger?: LlmLedger;
  /** Recorded with each call (not part of the key): which run and stage asked. */
  runId?: string;
  stageId?: string;
}

function promptText(spec: { prompt?: string; promptSha256?: string }, ctx: JudgeContext): string | undefined {
  if (!spec.prompt) return undefined;
  return readPinned(ctx.projectRoot, spec.prompt, spec.promptSha256, 'judge prompt').toString('utf8');
}

function judgeModel(name: string, ctx: JudgeContext, deps: JudgeFactoryDeps) {
  const m = ctx.models[name];
  if (!m) throw ApplicationFailure.nonRetryable(`judge model ${name} is not in the plan`, 'ConfigError');
  // A verdict is keyed by (judge model, prompt with its inputs): re-judging the same step, in
  // another filter mode or another run, is answered from the ledger without a new call.
  return ledgeredModelFor(name, m, { modelsDir: deps.modelsDir, projectRoot: ctx.projectRoot }, deps.ledger ?? defaultLedger(), {
    purpose: 'judge',
    ...(deps.runId ? { runId: deps.runId } : {}),
    ...(deps.stageId ? { stageId: deps.stageId } : {}),
  });
}

/**
 * The judge model's own `maxTokens` (the judge sends it with every call, which
 * would otherwise override the model's setting with its default of 256).
 * Temperature and seed stay 0: verdicts are greedy by design.
 */
function judgeMaxTokens(name: string, ctx: JudgeContext): { maxTokens?: number } {
  const m = ctx.models[name]?.maxTokens;
  return typeof m === 'number' ? { maxTokens: m } : {};
}

export function makeProcessJudge(spec: JudgeSpec, ctx: JudgeContext, deps: JudgeFactoryDeps): ProcessJudge {
  if ('matcher' in spec) return matcherProcessJudge(spec.matcher);
  const template = promptText(spec, ctx);
  return llmProcessJudge({ model: judgeModel(spec.model, ctx, deps), label: judgeLabel(spec), ...judgeMaxTokens(spec.model, ctx), ...(template ? { template } : {}), ...(spec.score ? { score: spec.score } : {}) });
}

export function makeOutcomeJudge(spec: JudgeSpec, ctx: JudgeContext, deps: JudgeFactoryDeps): OutcomeJudge {
  if ('matcher' in spec) {
    if (spec.matcher === 'gsm8k-reference') return matcherOutcomeJudge('numeric');
    return matcherOutcomeJudge(spec.matcher as MatcherName, spec.threshold);
  }
  const template = promptText(spec, ctx);
  return llmOutcomeJudge({ model: judgeModel(spec.model, ctx, deps), label: judgeLabel(spec), ...judgeMaxTokens(spec.model, ctx), ...(template ? { template } : {}) });
}

/** The run's workflow id from a shard key `<run>/<stage>/shard-N`. */
export function runIdOf(shardKey: string): string {
  return shardKey.split('/')[0]!;
}

export function toolKindsOf(g: StepGroup): ActionKind[] {
  const kinds = new Set<ActionKind>(g.steps.map((s) => s.actionKind));
  if (!kinds.has('search') && !kinds.has('calculator')) kinds.add(g.dataset === 'gsm8k' ? 'calculator' : 'search');
  kinds.add('answer');
  return [...kinds];
}

/** Judges every step of a group in order; returns the group with verdicts filled in. */
export async function judgeSteps(g: StepGroup, judge: ProcessJudge, signal?: AbortSignal): Promise<StepGroup> {
  const toolKinds = toolKindsOf(g);
  const steps = [];
  for (let i = 0; i < g.steps.length; i++) {
    const s = g.steps[i]!;
    const v = await judge.judgeStep(
      {
        question: g.question,
        gold: g.gold,
        ...(g.reference ? { reference: g.reference } : {}),
        messages: [...stepState(g, i), g.messages[s.stateLength]!],
        actionKind: s.actionKind,
        content: s.content,
        ...(s.observation !== undefined ? { observation: s.observation } : {}),
        toolKinds,
      },
      signal,
    );
    steps.push({ ...s, verdict: v.verdict, verdictReason: v.parsed ? v.reason : `unparseable verdict: ${v.reason}` });
  }
  return { ...g, steps };
}

export interface FilterConfig extends JudgeContext {
  mode: FilterMode;
  /** Judge refs as the Plan gives them (a model name or an object); normalized here. */
  processJudge?: unknown;
  outcomeJudge?: unknown;
  /** A second process judge that judges the same steps, for agreement statistics only (it never drops a trajectory). */
  agreementJudge?: unknown;
  keepStatuses: TrajectoryStatus[];
}

/** Filter processor: every trajectory comes out annotated (kept or not); the stage keeps the kept ones. */
export function filterProcessor(deps: JudgeFactoryDeps): ItemProcessor {
  return async (item, ctx) => {
    const cfg = ctx.config as unknown as FilterConfig;
    let g = item as StepGroup;
    const reasons: string[] = [];
    if (!cfg.keepStatuses.includes(g.status)) reasons.push(`status:${g.status}`);
    const wantsProcess = cfg.mode === 'process' || cfg.mode === 'process+outcome';
    const wantsOutcome = cfg.mode === 'outcome' || cfg.mode === 'process+outcome';
    // Trajectories already dropped for their status are not judged (no judge calls wasted).
    if (reasons.length === 0 && wantsProcess) {
      const spec = normalizeJudge(cfg.processJudge);
      if (!spec) throw ApplicationFailure.nonRetryable(`filter mode ${cfg.mode} needs a processJudge`, 'ConfigError');
      const judged = await judgeSteps(g, makeProcessJudge(spec, cfg, { ...deps, stageId: ctx.stageId, runId: runIdOf(ctx.shardKey) }), ctx.signal);
      const second = normalizeJudge(cfg.agreementJudge);
      if (second) {
        // The same step views, so an LLM judge's calls are keyed (and reused from the ledger) like the filter's own.
        const other = await judgeSteps(g, makeProcessJudge(second, cfg, { ...deps, stageId: ctx.stageId, runId: runIdOf(ctx.shardKey) }), ctx.signal);
        g = { ...judged, steps: judged.steps.map((s, i) => ({ ...s, agreementVerdict: other.steps[i]!.verdict!, agreementReason: other.steps[i]!.verdictReason! })) };
      } else g = judged;
      if (g.steps.some((s) => s.verdict !== 'GOOD')) reasons.push('process');
    }
    if (reasons.length === 0 && wantsOutcome) {
      const spec = normalizeJudge(cfg.outcomeJudge);
      if (!spec) throw ApplicationFailure.nonRetryable(`filter mode ${cfg.mode} needs an outcomeJudge`, 'ConfigError');
      const o = await makeOutcomeJudge(spec, cfg, { ...deps, stageId: ctx.stageId, runId: runIdOf(ctx.shardKey) }).judgeOutcome({ question: g.question, gold: g.gold, ...(g.aliases ? { aliases: g.aliases } : {}), answer: g.answer, dataset: g.dataset }, ctx.signal);
      g = { ...g, outcome: { correct: o.correct, score: o.score, reason: o.reason } };
      if (!o.correct) reasons.push('outcome');
    }
    return { outcome: 'succeeded', row: { ...g, kept: reasons.length === 0, ...(reasons.length ? { dropReasons: reasons } : {}) } };
  };
}

export interface FilterStats {
  mode: FilterMode;
  trajectoriesIn: number;
  stepsIn: number;
  stepsJudged: number;
  /** Trajectories whose final answer the outcome judge saw. */
  outcomeJudged: number;
  good: number;
  goodRate: number | null;
  kept: number;
  keptSteps: number;
  dropped: Record<string, number>;
  /** Per judged trajectory: share of GOOD steps (first 1,000, two decimals), for the report's histogram. */
  goodRates: number[];
  /** Agreement of the process judge with the `agreement` judge on the steps both judged (when configured). */
  agreement?: JudgeAgreement;
  /** The annotated trajectories, kept and dropped (for audits and re-filtering). */
  judged: ArtifactRef;
}

/** Writes the kept trajectories as the stage output and counts the yield. */
export interface FinishFilterInput {
  judged: ArtifactRef;
  mode: FilterMode;
  /** Judge refs as the Plan gives them, to label the agreement statistics (only with `agreementJudge`). */
  processJudge?: unknown;
  agreementJudge?: unknown;
}

function labelOf(ref: unknown): string {
  const j = normalizeJudge(ref);
  return j ? judgeLabel(j) : '?';
}

export async function finishFilter(store: ArtifactStore, input: FinishFilterInput): Promise<{ output: ArtifactRef; stats: FilterStats }> {
  const stats: FilterStats = { mode: input.mode, trajectoriesIn: 0, stepsIn: 0, stepsJudged: 0, outcomeJudged: 0, good: 0, goodRate: null, kept: 0, keptSteps: 0, dropped: {}, goodRates: [], judged: input.judged };
  const pairs: Array<[boolean, boolean]> = [];
  async function* kept() {
    for await (const g of store.read<StepGroup>(input.judged)) {
      stats.trajectoriesIn++;
      stats.stepsIn += g.steps.length;
      const judged = g.steps.filter((s) => s.verdict !== undefined);
      stats.stepsJudged += judged.length;
      for (const s of judged) if (s.agreementVerdict !== undefined) pairs.push([s.verdict === 'GOOD', s.agreementVerdict === 'GOOD']);
      if (g.outcome) stats.outcomeJudged++;
      const good = judged.filter((s) => s.verdict === 'GOOD').length;
      stats.good += good;
      if (judged.length > 0 && stats.goodRates.length < 1000) stats.goodRates.push(Math.round((good / judged.length) * 100) / 100);
      for (const r of g.dropReasons ?? []) {
        const key = r.startsWith('status:') ? r : r;
        stats.dropped[key] = (stats.dropped[key] ?? 0) + 1;
      }
      if (g.kept) {
        stats.kept++;
        stats.keptSteps += g.steps.length;
        yield g;
      }
    }
  }
  const output = await store.put('steps', kept());
  stats.goodRate = stats.stepsJudged > 0 ? stats.good / stats.stepsJudged : null;
  if (input.agreementJudge !== undefined) stats.agreement = judgeAgreement(labelOf(input.processJudge), labelOf(input.agreementJudge), pairs);
  return { output, stats };
}
