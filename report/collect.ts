// Gathers ReportData for a run, finished or still running, from what exists:
// the workflow's result (completed), failure details (failed), progress query
// (running), memo summary (`swirl`, any closed run), its event history (plan,
// attempts, timings when nothing else has them) and the artifact refs' row
// counts. Stage `stats` shapes are read defensively: a missing or malformed
// field leaves the matching part of the page empty, never an exception.
//
// Exports (stable):
//   buildReportData(src: ReportSources): ReportData
//       pure; for callers that already hold the plan and stage states (the
//       `report` pipeline stage passes the workflow's own states);
//   collectReportData(client, workflowId, opts?): Promise<ReportData>
//       everything above, fetched through a Temporal client;
//   compareEvaluations(evals, outcomes?): PairedComparison[]
//
// Assumed stage stats (all optional):
//   filter   { mode, trajectoriesIn, stepsJudged, goodRate, kept, dropped: {reason: n}, goodRates?: number[] }
//            agreement?: { judgeA, judgeB, steps, kappa, agreement, goodRateA, goodRateB, confusion }
//   evaluate { policy, dataset, n, correct, accuracy, ci95: [lo, hi], f1?, avgSteps, toolCallsPerQuestion,
//              processScore?, outcomes?: boolean[] (per question, in question order) }
//            or { results: [ …the same per data set… ] }
//   train    { curve: [{ iteration, loss, meanReward, kl }], rewards?: number[] }
import { existsSync, readFileSync } from 'node:fs';
import { fileSha256 } from '../compiler/files.js';
import path from 'node:path';
import { signalWarnings } from '../workflows/train-curve.js';
import { FsArtifactStore, type ArtifactStore } from '../store/artifacts.js';
import { swirlPaths } from '../runtime/paths.js';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { buildAudit, type AuditReport } from '../cli/audit.js';
import type { Plan } from '../compiler/plan-types.js';
import { existingRun } from '../runtime/run-client.js';
import type { TemporalTarget } from '../runtime/connection.js';
import { SwirlError } from '../runtime/errors.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { PipelineInput, PipelineProgress, PipelineResult, RunSummary } from '../workflows/types.js';
import { mcnemarExact, wilson, Z95 } from './intervals.js';

export { wilson };
import { REPORT_DATA_VERSION, type PairedComparison, type ReportAgreement, type ReportData, type ReportEvaluation, type ReportFilter, type ReportFunnel, type ReportPolicyModel, type ReportStage, type TrainerTotals, type TrainingCurve, type TrainingPoint } from './types.js';

type Event = temporal.api.history.v1.IHistoryEvent;

/** A stage as the engine reports it (StageState or a memo summary entry); stats of any shape. */
export interface StageLike {
  id: string;
  type: string;
  status: string;
  startedAt?: string;
  finishedAt?: string;
  output?: ArtifactRef;
  cached?: boolean;
  counts?: { succeeded: number; failed: number; filtered: number };
  stats?: Record<string, unknown>;
  error?: { type: string; message: string };
}

export interface ReportSources {
  workflowId: string;
  runId?: string;
  /** Temporal status name (RUNNING, COMPLETED, …) or PAUSED. */
  status: string;
  startTime?: string;
  closeTime?: string;
  /** The run's Plan: stage order, edges, configs, pipeline name, spec hash, `--set` overrides. */
  plan?: Pick<Plan, 'pipeline' | 'specHash' | 'stages' | 'overrides'> & Partial<Pick<Plan, 'models'>>;
  stages: StageLike[];
  /** The audit of the run's history: attempts per stage, and timings for stages that have none. */
  audit?: AuditReport;
  failure?: string;
  notes?: string[];
  /** Per train stage: sums over its trainer's updates (trainerTotals, from the checkpoint chain). */
  trainerTotals?: Record<string, TrainerTotals>;
  /** Per evaluate stage: whether each question (in the artifact's order, as `outcomes`) was answered. */
  answeredFlags?: Record<string, boolean[]>;
  /** Clock for generatedAt (tests). */
  now?: Date;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optNum = (v: unknown): number | undefined => (isNum(v) ? v : undefined);

/** A filter's judge agreement stats (kappa, raw agreement, GOOD rates, 2×2 counts); undefined when absent or malformed. */
function agreementOf(v: unknown): ReportAgreement | undefined {
  if (!isObj(v) || !isNum(v.steps) || !isObj(v.confusion)) return undefined;
  const c = v.confusion;
  const count = (x: unknown) => (isNum(x) ? x : 0);
  const out: ReportAgreement = {
    judgeA: typeof v.judgeA === 'string' ? v.judgeA : '?',
    judgeB: typeof v.judgeB === 'string' ? v.judgeB : '?',
    steps: v.steps,
    confusion: { goodGood: count(c.goodGood), goodBad: count(c.goodBad), badGood: count(c.badGood), badBad: count(c.badBad) },
  };
  for (const key of ['kappa', 'agreement', 'goodRateA', 'goodRateB'] as const) if (isNum(v[key])) out[key] = v[key];
  return out;
}
const numbers = (v: unknown): number[] => (Array.isArray(v) ? v.filter(isNum) : []);
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

function evaluationOf(stageId: string, s: Record<string, unknown>, fallback: { policy: string; dataset: string }): (ReportEvaluation & { outcomes?: boolean[] }) | undefined {
  const outcomes = Array.isArray(s.outcomes) && s.outcomes.every((o) => typeof o === 'boolean') ? (s.outcomes as boolean[]) : undefined;
  const n = optNum(s.n) ?? outcomes?.length;
  const correct = optNum(s.correct) ?? (outcomes ? outcomes.filter(Boolean).length : isNum(s.accuracy) && isNum(n) ? Math.round(s.accuracy * n) : undefined);
  if (!isNum(n) || !isNum(correct)) return undefined;
  const accuracy = optNum(s.accuracy) ?? (n > 0 ? correct / n : 0);
  const e: ReportEvaluation & { outcomes?: boolean[] } = {
    stageId,
    policy: typeof s.policy === 'string' && s.policy ? s.policy : fallback.policy,
    dataset: typeof s.dataset === 'string' && s.dataset ? s.dataset : fallback.dataset,
    n,
    correct,
    accuracy,
    // Recomputed, not read: runs before session 4 stored normal intervals.
    ci95: wilson(correct, n),
  };
  for (const k of ['f1', 'avgSteps', 'toolCallsPerQuestion', 'processScore'] as const) if (isNum(s[k])) e[k] = s[k];
  // Stats count answered questions; the report shows the share.
  if (isNum(s.answered) && n > 0 && s.answered <= n) e.answered = s.answered / n;
  if (typeof s.questionsKey === 'string' && s.questionsKey) e.questionsKey = s.questionsKey;
  if (outcomes && outcomes.length === n) e.outcomes = outcomes;
  return e;
}

/**
 * Accuracy differences between evaluations on the same data set and number of
 * questions: b − a, with a the base policy when one side is. Paired interval
 * (mean ± 1.96·sd/√n of per-question differences) when both carry outcomes
 * for all n questions and their questionsKeys (if reported) agree, with the
 * discordant counts and the exact McNemar p-value; else an unpaired interval
 * from the two binomial variances.
 */
export function compareEvaluations(evals: Array<ReportEvaluation & { outcomes?: boolean[]; answeredFlags?: boolean[] }>): PairedComparison[] {
  const out: PairedComparison[] = [];
  for (let i = 0; i < evals.length; i++) {
    for (let j = i + 1; j < evals.length; j++) {
      let [a, b] = [evals[i]!, evals[j]!];
      if (a.dataset !== b.dataset || a.n !== b.n || a.n === 0) continue;
      if (b.policy === 'base' && a.policy !== 'base') [a, b] = [b, a];
      const n = a.n;
      let diff: number;
      let half: number;
      let method: PairedComparison['method'];
      let exact: Pick<PairedComparison, 'discordant' | 'mcnemarP' | 'bothAnswered'> = {};
      // Paired only over the same questions: equal questionsKey when both stages report one.
      const sameQuestions = !a.questionsKey || !b.questionsKey || a.questionsKey === b.questionsKey;
      if (a.outcomes && b.outcomes && sameQuestions) {
        const d = b.outcomes.map((o, k) => Number(o) - Number(a.outcomes![k]));
        diff = d.reduce((s, x) => s + x, 0) / n;
        const variance = n > 1 ? d.reduce((s, x) => s + (x - diff) ** 2, 0) / (n - 1) : 0;
        half = Z95 * Math.sqrt(variance / n);
        method = 'paired';
        const bOnly = d.filter((x) => x > 0).length;
        const aOnly = d.filter((x) => x < 0).length;
        exact = { discordant: { bOnly, aOnly }, mcnemarP: mcnemarExact(bOnly, aOnly) };
        const [fa, fb] = [a.answeredFlags, b.answeredFlags];
        if (fa?.length === n && fb?.length === n) {
          const both = d.map((_, k) => k).filter((k) => fa[k] && fb[k]);
          const bo = both.filter((k) => d[k]! > 0).length;
          const ao = both.filter((k) => d[k]! < 0).length;
          exact.bothAnswered = { n: both.length, aCorrect: both.filter((k) => a.outcomes![k]).length, bCorrect: both.filter((k) => b.outcomes![k]).length, bOnly: bo, aOnly: ao, mcnemarP: mcnemarExact(bo, ao) };
        }
      } else {
        diff = b.accuracy - a.accuracy;
        half = Z95 * Math.sqrt((a.accuracy * (1 - a.accuracy)) / a.n + (b.accuracy * (1 - b.accuracy)) / b.n);
        method = 'unpaired';
      }
      out.push({ a: a.stageId, b: b.stageId, policyA: a.policy, policyB: b.policy, dataset: a.dataset, n, diff, ci95: [clamp(diff - half, -1, 1), clamp(diff + half, -1, 1)], method, ...exact });
    }
  }
  return out;
}

/** Reads `dropped` as an object, or from flat `dropped.<reason>` / `dropped_<reason>` keys. */
function droppedOf(s: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObj(s.dropped)) for (const [k, v] of Object.entries(s.dropped)) if (isNum(v)) out[k] = v;
  for (const [k, v] of Object.entries(s)) {
    const m = /^dropped[._](.+)$/.exec(k);
    if (m && isNum(v)) out[m[1]!] = v;
  }
  return out;
}

/** The model the first evaluate stage runs (what results.json names as the model). */
function policyModelOf(plan: ReportSources['plan']): { policyModel?: ReportPolicyModel } {
  const name = plan?.stages.find((s) => s.type === 'evaluate')?.config.model;
  const m = typeof name === 'string' ? plan?.models?.[name] : undefined;
  if (typeof name !== 'string' || !m) return {};
  return { policyModel: { name, provider: m.provider, ...(typeof m.model === 'string' ? { model: m.model } : {}), ...(typeof m.modelSha256 === 'string' ? { sha256: m.modelSha256 } : {}) } };
}

function trainingOf(stageId: string, s: Record<string, unknown>): TrainingCurve | undefined {
  if (!Array.isArray(s.curve)) return undefined;
  const points: TrainingPoint[] = [];
  for (const p of s.curve) {
    if (!isObj(p) || !isNum(p.iteration)) continue;
    const pt: TrainingPoint = { iteration: p.iteration };
    for (const k of ['loss', 'meanReward', 'kl', 'validActions', 'zeroAdvantage', 'unreadable', 'gradNorm', 'adapterDelta', 'samplerGap'] as const) if (isNum(p[k])) pt[k] = p[k];
    for (const k of ['probeNew', 'probeOld'] as const) if (isNum(p[k])) pt[k] = p[k];
    if (typeof p.served === 'string') pt.served = p.served;
    if (typeof p.servedAdapterHash === 'string') pt.servedAdapterHash = p.servedAdapterHash;
    if (typeof p.probeDistinguishable === 'boolean') pt.probeDistinguishable = p.probeDistinguishable;
    points.push(pt);
  }
  return points.length ? { stageId, points } : undefined;
}

/** Per stage, from the audit: highest attempt, and the span of its activities (for stages without own times). */
function auditByStage(audit: AuditReport | undefined): Map<string, { attempts: number; start?: number; end?: number }> {
  const m = new Map<string, { attempts: number; start?: number; end?: number }>();
  if (!audit) return m;
  const t0 = audit.startTime ? new Date(audit.startTime).getTime() : 0;
  for (const e of audit.entries) {
    if (e.kind !== 'activity' || !e.stage) continue;
    const cur = m.get(e.stage) ?? { attempts: 1 };
    cur.attempts = Math.max(cur.attempts, e.attempt ?? 1);
    if (isNum(e.durationMs)) {
      const start = t0 + e.offsetMs - e.durationMs;
      const end = t0 + e.offsetMs;
      cur.start = Math.min(cur.start ?? start, start);
      cur.end = Math.max(cur.end ?? end, end);
    }
    m.set(e.stage, cur);
  }
  return m;
}

export function buildReportData(src: ReportSources): ReportData {
  const notes = [...(src.notes ?? [])];
  const planStages = src.plan?.stages ?? [];
  const planById = new Map(planStages.map((s) => [s.id, s]));
  const stateById = new Map(src.stages.map((s) => [s.id, s]));
  const order = [...planStages.map((s) => s.id), ...src.stages.map((s) => s.id).filter((id) => !planById.has(id))];
  const fromAudit = auditByStage(src.audit);
  let estimated = false;

  const stages: ReportStage[] = order.map((id) => {
    const st = stateById.get(id);
    const plan = planById.get(id);
    const a = fromAudit.get(id);
    const stage: ReportStage = { id, type: st?.type ?? plan?.type ?? '?', inputs: plan?.inputs ?? [], status: st?.status ?? 'pending', cacheHit: st?.cached === true };
    if (st?.startedAt) {
      stage.startedAt = st.startedAt;
      const end = st.finishedAt ? new Date(st.finishedAt).getTime() : st.status === 'running' ? (src.now ?? new Date()).getTime() : undefined;
      if (end !== undefined) stage.durationMs = Math.max(0, end - new Date(st.startedAt).getTime());
    } else if (a?.start !== undefined && a.end !== undefined) {
      stage.startedAt = new Date(a.start).toISOString();
      stage.durationMs = a.end - a.start;
      estimated = true;
    }
    if (a) stage.attempts = a.attempts;
    if (st?.counts) stage.counts = st.counts;
    if (st?.output) stage.output = { kind: st.output.kind, rows: st.output.rows, bytes: st.output.bytes, hash: st.output.hash };
    if (isObj(st?.stats)) stage.stats = st.stats;
    if (st?.error) stage.error = st.error;
    return stage;
  });
  if (estimated) notes.push('Some stage times are estimated from the activities in the run history (the run summary keeps no stage times).');

  // Funnel: questions that fed rollouts, trajectories, steps, steps kept.
  // Stages of one type that consume the same inputs are alternatives (an
  // ablation: two filters over one decompose); they are counted once, the
  // first in plan order, and a note names the others. Steps and kept steps
  // come from the decompose and filter stats (their outputs count trajectories).
  const countOf = (type: string, value: (s: ReportStage) => number | undefined, pred: (s: ReportStage) => boolean = () => true) => {
    const groups = new Map<string, ReportStage[]>();
    for (const s of stages) {
      if (s.type !== type || value(s) === undefined || !pred(s)) continue;
      const key = s.inputs.length ? s.inputs.join('\0') : `\0${s.id}`; // sources (data sets) are never alternatives
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    let total: number | undefined;
    for (const g of groups.values()) {
      total = (total ?? 0) + value(g[0]!)!;
      if (g.length > 1 && !notes.some((n) => n.includes(` ${type} stage ${g[0]!.id};`))) notes.push(`The yield funnel counts ${type} stage ${g[0]!.id}; ${g.slice(1).map((x) => x.id).join(', ')} read the same input(s) and are shown in the tables only.`);
    }
    return total;
  };
  const rows = (s: ReportStage) => s.output?.rows;
  const stat = (key: string) => (s: ReportStage) => optNum(s.stats?.[key]);
  const rolloutInputs = new Set(stages.filter((s) => s.type === 'rollout').flatMap((s) => s.inputs));
  const funnel: ReportFunnel = {};
  const set = (key: keyof ReportFunnel, v: number | undefined) => v !== undefined && (funnel[key] = v);
  set('questions', countOf('dataset', rows, (s) => rolloutInputs.size === 0 || rolloutInputs.has(s.id)));
  set('trajectories', countOf('rollout', rows));
  // A decompose stage's output holds one row per trajectory (the state is stored once); its stats count the steps.
  set('steps', countOf('decompose', (s) => stat('steps')(s) ?? (s.stats ? undefined : rows(s))));
  set('kept', countOf('filter', stat('keptSteps')));
  set('keptTrajectories', countOf('filter', (s) => stat('kept')(s) ?? rows(s)));

  const filter: ReportFilter[] = [];
  const goodRates: number[] = [];
  const rewards: number[] = [];
  const training: TrainingCurve[] = [];
  const evals: Array<ReportEvaluation & { outcomes?: boolean[]; answeredFlags?: boolean[] }> = [];
  for (const s of stages) {
    const stats = s.stats;
    if (!stats) continue;
    const config = planById.get(s.id)?.config ?? {};
    if (s.type === 'filter') {
      const f: ReportFilter = { stageId: s.id, mode: typeof stats.mode === 'string' ? stats.mode : typeof config.mode === 'string' ? config.mode : '?', dropped: droppedOf(stats) };
      for (const key of ['trajectoriesIn', 'stepsIn', 'stepsJudged', 'goodRate', 'kept', 'keptSteps'] as const) if (isNum(stats[key])) f[key] = stats[key];
      const agreement = agreementOf(stats.agreement);
      if (agreement) f.agreement = agreement;
      filter.push(f);
      goodRates.push(...numbers(stats.goodRates));
    } else if (s.type === 'train') {
      const c = trainingOf(s.id, stats);
      const totals = src.trainerTotals?.[s.id];
      const objective = typeof config.objective === 'string' ? config.objective : undefined;
      if (c) training.push({ ...c, ...(objective ? { objective } : {}), ...(totals ? { totals } : {}) });
      rewards.push(...numbers(stats.rewards));
    } else if (s.type === 'evaluate') {
      const fallback = {
        policy: typeof config.policy === 'string' ? config.policy : s.inputs.find((i) => planById.get(i)?.type === 'train') ?? 'base',
        dataset: typeof config.dataset === 'string' ? config.dataset : (s.inputs.find((i) => planById.get(i)?.type === 'dataset') ?? '?'),
      };
      const parts = Array.isArray(stats.results) ? stats.results.filter(isObj) : [stats];
      for (const p of parts) {
        const e = evaluationOf(s.id, p, fallback);
        const flags = parts.length === 1 ? src.answeredFlags?.[s.id] : undefined;
        if (e) evals.push(e.outcomes && flags?.length === e.outcomes.length ? { ...e, answeredFlags: flags } : e);
      }
    }
  }
  const comparisons = compareEvaluations(evals);

  const running = ['RUNNING', 'PAUSED'].includes(src.status.toUpperCase());
  if (running) notes.push('The run is still in progress: this report shows the stages finished so far.');
  const data: ReportData = {
    version: REPORT_DATA_VERSION,
    generatedAt: (src.now ?? new Date()).toISOString(),
    run: {
      id: src.workflowId,
      ...(src.runId ? { runId: src.runId } : {}),
      pipeline: src.plan?.pipeline.name ?? src.audit?.pipeline ?? '?',
      ...(src.plan?.pipeline.description ? { description: src.plan.pipeline.description } : {}),
      status: src.status,
      ...(src.startTime ?? src.audit?.startTime ? { startedAt: src.startTime ?? src.audit?.startTime } : {}),
      ...(src.closeTime ?? src.audit?.closeTime ? { closedAt: src.closeTime ?? src.audit?.closeTime } : {}),
      ...(src.plan?.specHash ?? src.audit?.specHash ? { specHash: src.plan?.specHash ?? src.audit?.specHash } : {}),
      ...(src.plan?.overrides?.length ? { overrides: [...src.plan.overrides] } : {}),
      ...(src.failure ? { failure: src.failure.slice(0, 500) } : {}),
      ...policyModelOf(src.plan),
    },
    stages,
    funnel,
    filter,
    evaluations: evals.map(({ outcomes: _drop, answeredFlags: _flags, ...e }) => e),
  };
  if (goodRates.length) data.goodRates = goodRates;
  if (rewards.length) data.rewards = rewards;
  if (training.length) data.training = training;
  for (const t of training) for (const w of signalWarnings(t.points)) notes.push(`Training \`${t.stageId}\`: ${w}.`);
  if (comparisons.length) data.comparisons = comparisons;
  if (notes.length) data.notes = notes;
  return data;
}

// ---------------------------------------------------------------- through a client

function decodeFirst<T>(payloads: temporal.api.common.v1.IPayloads | null | undefined): T | undefined {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p as never) as T;
  } catch {
    return undefined;
  }
}

/** The innermost failure message and the PipelineResult the workflow attached to its failure, if any. */
function failureOf(e: Event | undefined): { message?: string; result?: PipelineResult } {
  const f = e?.workflowExecutionFailedEventAttributes?.failure;
  if (!f) return {};
  let cur: temporal.api.failure.v1.IFailure | null | undefined = f;
  let result: PipelineResult | undefined;
  while (cur) {
    result ??= decodeFirst<PipelineResult>(cur.applicationFailureInfo?.details);
    if (!cur.cause) break;
    cur = cur.cause;
  }
  return { message: cur?.message ?? f.message ?? undefined, ...(result ? { result } : {}) };
}

export interface CollectOptions {
  /** Used for the "no such run" message (namespace). */
  target?: TemporalTarget;
  /** How long to wait for a worker to answer the progress query of a running run. */
  queryTimeoutMs?: number;
  /** Where the train stages' checkpoints are (default: the state dir's `checkpoints`). */
  checkpointsDir?: string;
  /** Where the evaluations' rows are (default: the state dir's artifact store). */
  artifactsDir?: string;
  now?: Date;
}

/**
 * Sums a train stage's update metrics over its checkpoint chain: each checkpoint's
 * swirl-checkpoint.json records its step's metrics and its input adapter (`ckpt:<hash>`), back to
 * the base model. Undefined when the final checkpoint is not in `dir` (a report made elsewhere).
 */
export function trainerTotalsOf(dir: string, finalHash: string, maxSteps = 100_000): TrainerTotals | undefined {
  const totals: TrainerTotals = { updates: 0, tokens: 0, actionTokens: 0, trainerSeconds: 0 };
  let hash: string | undefined = finalHash;
  const seen = new Set<string>();
  while (hash && !seen.has(hash) && totals.updates < maxSteps) {
    seen.add(hash);
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(readFileSync(path.join(dir, hash, 'swirl-checkpoint.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      break;
    }
    const m = isObj(meta.metrics) ? meta.metrics : {};
    totals.updates++;
    totals.tokens += optNum(m.tokens) ?? 0;
    totals.actionTokens += optNum(m.actionTokens) ?? 0;
    totals.trainerSeconds += optNum(m.wallSeconds) ?? 0;
    hash = typeof meta.input === 'string' && meta.input.startsWith('ckpt:') ? meta.input.slice(5) : undefined;
  }
  if (!totals.updates) return undefined;
  // The adapter the evaluations loaded: its hash ties a reported accuracy to a file (`swirl export` copies it).
  const gguf = path.join(dir, finalHash, 'adapter.gguf');
  return { ...totals, checkpoint: finalHash, ...(existsSync(gguf) ? { adapterSha256: fileSha256(gguf) } : {}) };
}

export async function collectReportData(client: Client, workflowId: string, opts: CollectOptions = {}): Promise<ReportData> {
  const target = opts.target ?? ({ namespace: client.options.namespace } as TemporalTarget);
  const { handle, desc } = await existingRun(client, target, workflowId);
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const input = started?.workflowType?.name === 'pipelineWorkflow' ? decodeFirst<PipelineInput>(started.input) : undefined;
  if (!input?.plan) throw new SwirlError('E_NOT_A_PIPELINE_RUN', `${workflowId} is not a swirl pipeline run`, { hint: 'use a workflow id printed by `swirl run` or listed by `swirl list`' });
  const audit = buildAudit(workflowId, events);
  const notes: string[] = [];
  let status = desc.status.name as string;
  let stages: StageLike[] = [];
  let failure: string | undefined;
  const last = events[events.length - 1];

  if (status === 'RUNNING') {
    const timeout = opts.queryTimeoutMs ?? 5000;
    const p = await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeout).unref())]);
    if (p) {
      stages = p.stages;
      if (p.status === 'paused') status = 'PAUSED';
    } else notes.push('No worker answered the progress query, so stage states are missing; start one with `swirl worker` and rerun `swirl report`.');
  } else {
    const completed = last?.workflowExecutionCompletedEventAttributes ? decodeFirst<PipelineResult>(last.workflowExecutionCompletedEventAttributes.result) : undefined;
    const failed = failureOf(last);
    failure = failed.message;
    const full = completed ?? failed.result;
    const summary = desc.memo?.swirl as RunSummary | undefined;
    if (full?.stages) stages = full.stages;
    else if (summary?.stages) stages = summary.stages;
  }

  const trainerTotals: Record<string, TrainerTotals> = {};
  const checkpoints = opts.checkpointsDir ?? path.join(swirlPaths().state, 'checkpoints');
  for (const s of stages) {
    const ckpt = s.type === 'train' && s.status === 'completed' ? s.stats?.checkpoint : undefined;
    const t = typeof ckpt === 'string' ? trainerTotalsOf(checkpoints, ckpt) : undefined;
    const iterations = s.stats?.iterations;
    // A chain cut short (a checkpoint removed) would understate the cost: leave it out and say so.
    if (t && typeof iterations === 'number' && t.updates !== iterations) notes.push(`Training cost of \`${s.id}\` left out: its checkpoint chain has ${t.updates} of ${iterations} updates on this machine.`);
    else if (t) trainerTotals[s.id] = t;
  }

  const answeredFlags = await answeredFlagsOf(stages, new FsArtifactStore(opts.artifactsDir ?? swirlPaths().artifacts), notes);

  return buildReportData({
    workflowId,
    runId: desc.runId,
    ...(Object.keys(trainerTotals).length ? { trainerTotals } : {}),
    ...(Object.keys(answeredFlags).length ? { answeredFlags } : {}),
    status,
    startTime: desc.startTime.toISOString(),
    ...(desc.closeTime ? { closeTime: desc.closeTime.toISOString() } : {}),
    plan: input.plan,
    stages,
    audit,
    ...(failure ? { failure } : {}),
    notes,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

/**
 * Per completed evaluate stage, whether each question was answered, in the artifact's row order
 * (the order of its stats' `outcomes`). An artifact not on this machine (a report
 * made elsewhere) leaves its stage out, with a note.
 */
export async function answeredFlagsOf(stages: StageLike[], store: Pick<ArtifactStore, 'read'>, notes: string[]): Promise<Record<string, boolean[]>> {
  const out: Record<string, boolean[]> = {};
  for (const s of stages) {
    if (s.type !== 'evaluate' || s.status !== 'completed' || !s.output) continue;
    const flags: boolean[] = [];
    try {
      // Used only where its length equals the stats' outcomes (kept for evaluations of up to 2,000 questions).
      for await (const row of store.read<{ status?: unknown }>(s.output)) flags.push(row.status === 'answered');
      out[s.id] = flags;
    } catch {
      notes.push(`The comparison on questions both policies answered leaves out \`${s.id}\`: its rows (artifact ${s.output.hash.slice(0, 12)}) are not readable on this machine.`);
    }
  }
  return out;
}
