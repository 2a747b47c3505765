// The training loop of a `train` stage, as a child workflow so that long runs
// can continue as new: per iteration, sample G actions per state with the
// current policy and score them (llm queue; with `sampler: trainer` the train
// queue, where the trainer samples), then one trainer update (train
// queue) that returns the next adapter. A crash anywhere resumes at the last
// finished activity (trainer steps are content-addressed, so a rerun of a
// finished step is free). Pausing takes effect between iterations.
//
// Budget (patch `train-budget-v1`): the sampler's model calls count against
// the run budget like rollouts do. When sampling stops on BudgetReached, the
// loop tells the pipeline (the run shows as paused on its budget), waits for
// `swirl resume RUN --max-tokens N` to raise it, and samples the same batch
// again: the calls finished before the stop come from the ledger. (An open
// circuit breaker stays a retryable activity failure here.)
import { ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, getExternalWorkflowHandle, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { TrainStepResult } from '../activities/train.js';
import { curvePoint, type TrainCurvePoint } from './train-curve.js';
import type { TrainSettings } from './train-settings.js';
import type { PlanModel } from '../compiler/plan-types.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { RunBudget } from './fanout-types.js';
import { budgetReachedSignal, describeStop, stopOf } from './fanout.js';
import { attemptsField, HEARTBEAT_TIMEOUT_MS, heartbeatTimeoutFor } from './heartbeat.js';

export const TRAIN_BUDGET_PATCH = 'train-budget-v1';

// Patch `train-attempts-v1`: the stage's maxAttempts counts the sampling and trainer attempts that
// failed, not those a worker stop interrupted (activities/attempt-log.ts): Temporal retries them
// without limit and the activity gives up itself. Checked per iteration, so a run that started
// before the patch switches at its next iteration once a new worker replays it; the iterations
// (and the activity in flight) recorded before keep the old policy.
export const TRAIN_ATTEMPTS_PATCH = 'train-attempts-v1';

export interface TrainLoopInput {
  runKey: string;
  stageId: string;
  steps: ArtifactRef;
  batches: ArtifactRef;
  iterations: number;
  modelName: string;
  model: PlanModel;
  models: Record<string, PlanModel>;
  projectRoot: string;
  settings: TrainSettings;
  queues: { orchestration: string; llm: string; train: string };
  timeoutMs: number;
  retry: { maximumAttempts: number; initialIntervalMs: number; backoffCoefficient: number; maximumIntervalMs: number };
  carry?: { next: number; last?: TrainStepResult; curve: TrainCurvePoint[]; rewards: number[]; continuedAsNew: number; budget?: RunBudget };
  /** The run's budget when the stage started (raised later by `trainBudget` signals). */
  budget?: RunBudget;
  /** Continue as new after this many history events (default 2000). */
  historyBudget?: number;
}

export interface TrainLoopResult {
  policy: ArtifactRef;
  iterations: number;
  curve: TrainCurvePoint[];
  rewards: number[];
  last: TrainStepResult;
}

export interface TrainProgress {
  stageId: string;
  iteration: number;
  total: number;
  paused: boolean;
  /** Why sampling waits (budget reached, breaker open), while it does. */
  pauseReason?: string;
  last?: TrainCurvePoint;
  /**
   * When the latest iterations of this workflow run finished (workflow clock, ms since the epoch;
   * at most the last 6). Replay rebuilds them from history, so a resumed run still knows its pace.
   */
  recentEnds?: number[];
}

export const trainProgressQuery = defineQuery<TrainProgress>('trainProgress');
export const trainPauseSignal = defineSignal<[boolean]>('trainPause');
/** The run's budget was raised: sampling stopped by it may go on. */
export const trainBudgetSignal = defineSignal<[RunBudget]>('trainBudget');

/** Keeps curves bounded in workflow payloads: past 1,000 points, every other older point is dropped. */
function thin(curve: TrainCurvePoint[]): TrainCurvePoint[] {
  if (curve.length <= 1000) return curve;
  return curve.filter((_, i) => i % 2 === 0 || i >= curve.length - 100);
}

export async function trainLoopWorkflow(input: TrainLoopInput): Promise<TrainLoopResult> {
  const carry = input.carry ?? { next: 0, curve: [], rewards: [], continuedAsNew: 0 };
  const retry = { ...attemptsField(input.retry.maximumAttempts), initialInterval: input.retry.initialIntervalMs, backoffCoefficient: input.retry.backoffCoefficient, maximumInterval: input.retry.maximumIntervalMs };
  // The sampler (llm queue) and trainer (train queue) activities under one retry policy.
  const loopActivities = (r: typeof retry) => ({
    sampler: proxyActivities<Activities>({ taskQueue: input.queues.llm, startToCloseTimeout: input.timeoutMs, heartbeatTimeout: heartbeatTimeoutFor(input.timeoutMs), retry: r }),
    trainer: proxyActivities<Activities>({ taskQueue: input.queues.train, startToCloseTimeout: input.timeoutMs, heartbeatTimeout: heartbeatTimeoutFor(input.timeoutMs), retry: r }),
  });
  const limited = loopActivities(retry);
  // The activities count their failed attempts themselves; the server keeps a backstop of 100 ×
  // the limit for failures that never reach that count (an older worker that ignores it, an
  // activity type a worker does not register).
  const unlimited = loopActivities({ ...retry, ...attemptsField(100 * input.retry.maximumAttempts) });
  const orchestration = proxyActivities<Activities>({ taskQueue: input.queues.orchestration, startToCloseTimeout: '5m', heartbeatTimeout: HEARTBEAT_TIMEOUT_MS, retry });
  let paused = false;
  let last = carry.last;
  let curve = carry.curve;
  let rewards = carry.rewards;
  let i = carry.next;
  const budgeted = patched(TRAIN_BUDGET_PATCH);
  const runtimeLora = input.model.provider === 'openai-compatible' && input.model.lora === 'runtime';
  const onTrainer = input.settings.sampler === 'trainer';
  let budget = carry.budget ?? input.budget;
  let waiting: string | undefined;
  // Read by the progress query only: recording the workflow clock issues no command, so old histories replay unchanged.
  let recentEnds: number[] = [];
  setHandler(trainProgressQuery, () => ({
    stageId: input.stageId,
    iteration: i,
    total: input.iterations,
    paused: paused || waiting !== undefined,
    ...(waiting !== undefined ? { pauseReason: waiting } : {}),
    ...(curve.length ? { last: curve[curve.length - 1]! } : {}),
    ...(recentEnds.length ? { recentEnds } : {}),
  }));
  setHandler(trainPauseSignal, (p: boolean) => void (paused = p));
  setHandler(trainBudgetSignal, (b: RunBudget) => {
    budget = b;
    if (waiting?.startsWith('budget')) waiting = undefined;
  });

  for (; i < input.iterations; i++) {
    await condition(() => !paused);
    if (workflowInfo().historyLength > (input.historyBudget ?? 2000)) {
      await continueAsNew<typeof trainLoopWorkflow>({ ...input, carry: { next: i, ...(last ? { last } : {}), curve, rewards, continuedAsNew: carry.continuedAsNew + 1, ...(budget ? { budget } : {}) } });
    }
    // `sampler: trainer` (issue 20): the persistent trainer samples, on the train queue. Only Plans
    // made after the option existed carry it, so histories of older runs never reach this branch
    // and replay as before (no patch needed): the activity type changes only for new runs.
    const byCount = input.retry.maximumAttempts > 0 && patched(TRAIN_ATTEMPTS_PATCH);
    const { sampler, trainer } = byCount ? unlimited : limited;
    const attempts = byCount ? { attemptLimit: input.retry.maximumAttempts } : {};
    const sampleOn = onTrainer ? trainer.sampleTrainBatchOnTrainer : sampler.sampleTrainBatch;
    const sample = () =>
      sampleOn({
        runKey: input.runKey,
        ...attempts,
        steps: input.steps,
        batches: input.batches,
        index: i,
        modelName: input.modelName,
        model: input.model,
        models: input.models,
        projectRoot: input.projectRoot,
        settings: input.settings,
        ...(last ? { adapterGguf: last.ggufAdapter } : {}),
        // Runtime LoRA (docs/gpu.md): the server loads the PEFT checkpoint as version i and is checked with the trainer's probe.
        ...(last && runtimeLora && !onTrainer ? { adapterCheckpoint: last.checkpoint, adapterStep: i, ...(last.probe ? { probe: last.probe } : {}) } : {}),
        // The trainer samples with the PEFT checkpoint it wrote last (still in its memory).
        ...(last && onTrainer ? { adapterCheckpoint: last.checkpoint } : {}),
        ...(budgeted && budget ? { budget } : {}),
      });
    let batch: Awaited<ReturnType<typeof sample>>;
    for (;;) {
      try {
        batch = await sample();
        waiting = undefined;
        break;
      } catch (err) {
        const stop = budgeted ? stopOf(err) : undefined;
        if (stop?.kind !== 'budget') throw err;
        waiting = describeStop(stop);
        const parent = workflowInfo().parent;
        if (parent) await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(budgetReachedSignal, { stageId: input.stageId, reason: stop.reason, tokens: stop.tokens, costUsd: stop.costUsd });
        await condition(() => waiting === undefined);
      }
    }
    const sampledWith = last?.hash;
    last = await trainer.trainStep({
      runKey: input.runKey,
      ...attempts,
      index: i,
      modelName: input.modelName,
      model: input.model,
      projectRoot: input.projectRoot,
      batch,
      settings: input.settings,
      ...(last ? { inputAdapter: last.checkpoint } : {}),
    });
    const m = last.metrics;
    curve = thin([...curve, curvePoint(i + 1, batch, m, sampledWith)]);
    rewards = [...rewards, ...batch.rewards].slice(-512);
    recentEnds = [...recentEnds, Date.now()].slice(-6);
  }
  // A plain Error here would fail the workflow *task*, which Temporal retries
  // forever (the run hangs); a non-retryable ApplicationFailure fails the stage.
  if (!last) {
    throw ApplicationFailure.nonRetryable(
      `train stage ${input.stageId}: the loop finished without a single update (${input.iterations} batches)`,
      'TrainNoUpdates',
      'the filter kept too few states for one batch: keep more steps (filter mode, keepStatuses), lower batchStates, or generate more rollouts',
    );
  }
  const policy = await orchestration.writePolicy({ modelName: input.modelName, step: last, iterations: input.iterations, curve, ...(runtimeLora ? { runKey: input.runKey } : {}) });
  return { policy, iterations: input.iterations, curve, rewards, last };
}
