// The training loop of a `train` stage, as a child workflow so that long runs
// can continue as new: per iteration, sample G actions per state with the
// current policy and score them (llm queue), then one trainer update (train
// queue) that returns the next adapter. A crash anywhere resumes at the last
// finished activity (trainer steps are content-addressed, so a rerun of a
// finished step is free). Pausing takes effect between iterations.
import { condition, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { TrainCurvePoint, TrainStepResult } from '../activities/train.js';
import type { TrainSettings } from './train-settings.js';
import type { PlanModel } from '../compiler/plan-types.js';
import type { ArtifactRef } from '../store/artifact-ref.js';

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
  carry?: { next: number; last?: TrainStepResult; curve: TrainCurvePoint[]; rewards: number[]; continuedAsNew: number };
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
  last?: TrainCurvePoint;
}

export const trainProgressQuery = defineQuery<TrainProgress>('trainProgress');
export const trainPauseSignal = defineSignal<[boolean]>('trainPause');

/** Keeps curves bounded in workflow payloads: past 1,000 points, every other older point is dropped. */
function thin(curve: TrainCurvePoint[]): TrainCurvePoint[] {
  if (curve.length <= 1000) return curve;
  return curve.filter((_, i) => i % 2 === 0 || i >= curve.length - 100);
}

export async function trainLoopWorkflow(input: TrainLoopInput): Promise<TrainLoopResult> {
  const carry = input.carry ?? { next: 0, curve: [], rewards: [], continuedAsNew: 0 };
  const retry = { maximumAttempts: input.retry.maximumAttempts, initialInterval: input.retry.initialIntervalMs, backoffCoefficient: input.retry.backoffCoefficient, maximumInterval: input.retry.maximumIntervalMs };
  const sampler = proxyActivities<Activities>({ taskQueue: input.queues.llm, startToCloseTimeout: input.timeoutMs, heartbeatTimeout: Math.min(input.timeoutMs, 120_000), retry });
  const trainer = proxyActivities<Activities>({ taskQueue: input.queues.train, startToCloseTimeout: input.timeoutMs, heartbeatTimeout: Math.min(input.timeoutMs, 60_000), retry });
  const orchestration = proxyActivities<Activities>({ taskQueue: input.queues.orchestration, startToCloseTimeout: '5m', retry });
  let paused = false;
  let last = carry.last;
  let curve = carry.curve;
  let rewards = carry.rewards;
  let i = carry.next;
  setHandler(trainProgressQuery, () => ({ stageId: input.stageId, iteration: i, total: input.iterations, paused, ...(curve.length ? { last: curve[curve.length - 1]! } : {}) }));
  setHandler(trainPauseSignal, (p: boolean) => void (paused = p));

  for (; i < input.iterations; i++) {
    await condition(() => !paused);
    if (workflowInfo().historyLength > (input.historyBudget ?? 2000)) {
      await continueAsNew<typeof trainLoopWorkflow>({ ...input, carry: { next: i, ...(last ? { last } : {}), curve, rewards, continuedAsNew: carry.continuedAsNew + 1 } });
    }
    const batch = await sampler.sampleTrainBatch({
      runKey: input.runKey,
      steps: input.steps,
      batches: input.batches,
      index: i,
      modelName: input.modelName,
      model: input.model,
      models: input.models,
      projectRoot: input.projectRoot,
      settings: input.settings,
      ...(last ? { adapterGguf: last.ggufAdapter } : {}),
    });
    last = await trainer.trainStep({
      runKey: input.runKey,
      index: i,
      modelName: input.modelName,
      model: input.model,
      projectRoot: input.projectRoot,
      batch,
      settings: input.settings,
      ...(last ? { inputAdapter: last.checkpoint } : {}),
    });
    const m = last.metrics;
    curve = thin([
      ...curve,
      { iteration: i + 1, meanReward: batch.meanReward, validActions: batch.validActions, ...(m.loss !== undefined ? { loss: m.loss } : {}), ...(m.kl !== undefined ? { kl: m.kl } : {}) },
    ]);
    rewards = [...rewards, ...batch.rewards].slice(-512);
  }
  if (!last) throw new Error('train loop finished without a single update');
  const policy = await orchestration.writePolicy({ modelName: input.modelName, step: last, iterations: input.iterations, curve });
  return { policy, iterations: input.iterations, curve, rewards, last };
}
