// The pipeline workflow: a thin, deterministic interpreter of a compiled Plan.
// Each stage starts once all its inputs have finished; independent stages run
// in parallel. All I/O happens in activities; only ArtifactRefs pass through here.
import {
  ActivityFailure,
  ChildWorkflowFailure,
  ApplicationFailure,
  CancelledFailure,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { mergeBudget } from './budget.js';
import { HEARTBEAT_TIMEOUT_MS } from './heartbeat.js';
import { budgetReachedSignal } from './fanout.js';
import type { RunBudget } from './fanout-types.js';
import { STAGE_HANDLERS } from './stages/index.js';
import type { PipelineInput, PipelineProgress, PipelineResult, RunSummary, StageState } from './types.js';

/** Patch ids, in the order they were introduced. Each guards a change of the command sequence. */
export const STAGE_CACHE_PATCH = 'stage-cache-v1';
export const RUN_SUMMARY_PATCH = 'run-summary-v1';
export const RUN_BUDGET_PATCH = 'run-budget-v1';

export const progressQuery = defineQuery<PipelineProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Raises the run's budget (`swirl resume RUN --max-tokens N --max-cost-usd X`); stages stopped by it go on. */
export const raiseBudgetSignal = defineSignal<[RunBudget]>('raiseBudget');

function failureOf(err: unknown): { type: string; message: string } {
  let cur: unknown = err;
  // Unwrap ActivityFailure / ChildWorkflowFailure (the train loop is a child workflow) → the
  // ApplicationFailure underneath, to report the activity's own type and message, not the wrapper's.
  while ((cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure) && cur.cause) cur = cur.cause;
  if (cur instanceof ApplicationFailure) return { type: cur.type ?? 'ApplicationFailure', message: cur.message };
  if (cur instanceof Error) return { type: cur.name, message: cur.message };
  return { type: 'Error', message: String(cur) };
}

function now(): string {
  // Workflow time is deterministic (it comes from history).
  return new Date().toISOString();
}

/** The compact per-stage summary kept in the run's memo, readable without a worker. */
function summarize(status: RunSummary['status'], stages: StageState[]): RunSummary {
  return {
    status,
    stages: stages.map((s) => ({
      id: s.id,
      type: s.type,
      status: s.status,
      ...(s.output ? { output: s.output } : {}),
      ...(s.cached ? { cached: true } : {}),
      ...(s.counts ? { counts: s.counts } : {}),
      ...(s.stats ? { stats: s.stats } : {}),
      ...(s.error ? { error: { type: s.error.type, message: s.error.message.slice(0, 500) } } : {}),
    })),
  };
}

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineResult> {
  const { plan } = input;
  const states = new Map<string, StageState>(plan.stages.map((s) => [s.id, { id: s.id, type: s.type, status: 'pending' }]));
  let status: PipelineProgress['status'] = 'running';
  let paused = false;
  // The run budget (RUN_BUDGET_PATCH): what the run may spend on LLM calls, and why it waits when spent.
  const budgeted = patched(RUN_BUDGET_PATCH);
  let budget: RunBudget | undefined = plan.budget;
  let budgetStop: string | undefined;
  setHandler(progressQuery, () => ({
    pipeline: plan.pipeline.name,
    status: (paused || budgetStop !== undefined) && status === 'running' ? 'paused' : status,
    stages: [...states.values()],
    ...(budgetStop !== undefined && status === 'running' ? { pauseReason: `budget reached (${budgetStop})` } : {}),
    ...(budget ? { budget } : {}),
  }));
  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(raiseBudgetSignal, (raise: RunBudget) => {
    budget = mergeBudget(budget, raise);
    budgetStop = undefined;
  });
  setHandler(budgetReachedSignal, (r) => void (budgetStop = r.reason));

  // defineSearchAttributeKey('SwirlStatus', KEYWORD) is this plain object; @temporalio/common stays out of workflow code.
  const setStatusAttribute = (value: string) =>
    upsertSearchAttributes([{ key: { name: 'SwirlStatus', type: 'KEYWORD' }, value }] as unknown as Parameters<typeof upsertSearchAttributes>[0]);
  const summaries = patched(RUN_SUMMARY_PATCH);
  const publish = (final: RunSummary['status']) => {
    if (!summaries) return;
    upsertMemo({ swirl: summarize(final, [...states.values()]) });
    if (input.searchAttributes) setStatusAttribute(final);
  };
  if (summaries && input.searchAttributes) setStatusAttribute('running');

  const cacheActs = proxyActivities<Activities>({
    taskQueue: input.queues.orchestration,
    startToCloseTimeout: '1m',
    heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
    retry: { maximumAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  });
  const done = new Map<string, Promise<ArtifactRef | undefined>>();
  const runStage = async (id: string): Promise<ArtifactRef | undefined> => {
    const stage = plan.stages.find((s) => s.id === id)!;
    const state = states.get(id)!;
    const inputs: Record<string, ArtifactRef> = {};
    for (const dep of stage.inputs) {
      const ref = await done.get(dep)!;
      if (!ref) {
        state.status = 'skipped';
        state.error = { type: 'UpstreamFailed', message: `input stage ${dep} did not complete` };
        return undefined;
      }
      inputs[dep] = ref;
    }
    // A paused run starts no new stage; running ones finish. Nor does a run whose budget is spent.
    await condition(() => !paused && budgetStop === undefined);
    const handler = STAGE_HANDLERS[stage.type];
    state.status = 'running';
    state.startedAt = now();
    try {
      if (!handler) throw ApplicationFailure.nonRetryable(`stage type ${stage.type} cannot run in this version of swirl`, 'StageNotImplemented');
      const useCache = patched(STAGE_CACHE_PATCH);
      let key: string | undefined;
      if (useCache) {
        const lookup = await cacheActs.lookupStageCache({ stageType: stage.type, stageHash: stage.hash, inputHashes: stage.inputs.map((i) => inputs[i]!.hash) });
        key = lookup.key;
        state.cacheKey = key;
        if (lookup.hit && stage.cache) {
          state.status = 'completed';
          state.cached = true;
          state.output = lookup.hit;
          if (lookup.stats) state.stats = lookup.stats;
          if (lookup.counts) state.counts = lookup.counts;
          return lookup.hit;
        }
      }
      const outcome = await handler({
        stage,
        input,
        inputs,
        isPaused: () => paused,
        ...(budgeted ? { budget: () => budget } : {}),
        snapshot: () => [...states.values()].map((s) => ({ ...s })),
      });
      const out = outcome.output;
      if (useCache && key) await cacheActs.recordStageCache({ stageId: stage.id, key, output: out, ...(outcome.stats ? { stats: outcome.stats } : {}), ...(outcome.counts ? { counts: outcome.counts } : {}) });
      state.status = 'completed';
      state.output = out;
      if (outcome.counts) state.counts = outcome.counts;
      if (outcome.failures) state.failures = outcome.failures;
      if (outcome.stats) state.stats = outcome.stats;
      return out;
    } catch (err) {
      if (isCancellation(err)) {
        state.status = 'cancelled';
        throw err;
      }
      state.status = 'failed';
      state.error = failureOf(err);
      return undefined;
    } finally {
      state.finishedAt = now();
    }
  };
  // Plan stages are in topological order, so every input's promise exists first.
  for (const s of plan.stages) done.set(s.id, runStage(s.id));
  try {
    await Promise.all(done.values());
  } catch (err) {
    if (err instanceof CancelledFailure || isCancellation(err)) {
      for (const s of states.values()) if (s.status === 'pending') s.status = 'cancelled';
      status = 'cancelled';
      publish('cancelled');
    }
    throw err;
  }

  const stages = [...states.values()];
  const failed = stages.filter((s) => s.status === 'failed');
  status = failed.length ? 'failed' : 'completed';
  publish(status);
  const result: PipelineResult = { pipeline: plan.pipeline.name, specHash: plan.specHash, status, stages };
  if (failed.length) {
    // Fail the workflow so Temporal records it as failed; details keep every stage's state.
    throw ApplicationFailure.create({
      type: 'PipelineFailed',
      message: failed.map((f) => `stage ${f.id} failed: ${f.error?.type}: ${f.error?.message}`).join('; '),
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
