// The train stage: cut the filtered states into update batches, then run the
// training loop child workflow (continue-as-new safe) and forward pause/resume
// of the run to it between iterations, and raises of the run's budget.
import { proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { trainSettings } from '../train-settings.js';
import { trainInputYield } from '../train-yield.js';
import { trainBudgetSignal, trainLoopWorkflow, trainPauseSignal } from '../train.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';
import { forwardPause } from './fanout-stage.js';

export async function runTrain(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const settings = trainSettings(stage.config);
  const modelName = String(stage.config.model);
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const stepsId = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'steps')!;
  const steps = ctx.inputs[stepsId]!;
  // The upstream yield explains an empty input (an argument only: the command sequence is unchanged).
  const upstream = trainInputYield(input.plan.stages, ctx.snapshot(), stepsId);
  const prepared = await acts.prepareTrainBatches({
    steps,
    batchStates: settings.batchStates,
    epochs: settings.epochs,
    seed: settings.seed,
    ...(settings.maxSteps ? { maxSteps: settings.maxSteps } : {}),
    ...(upstream.length ? { upstream } : {}),
  });
  const runKey = `${workflowInfo().workflowId}/${stage.id}`;
  const budget = ctx.budget?.();
  const child = await startChild(trainLoopWorkflow, {
    workflowId: runKey,
    taskQueue: input.queues.orchestration,
    args: [
      {
        runKey,
        stageId: stage.id,
        steps,
        batches: prepared.batches,
        iterations: prepared.count,
        modelName,
        model: input.plan.models[modelName]!,
        models: input.plan.models,
        projectRoot: input.projectRoot,
        settings,
        queues: input.queues,
        timeoutMs: stage.timeoutMs,
        retry: stage.retry,
        ...(budget ? { budget } : {}),
      },
    ],
  });
  const r = await forwardPause(ctx, child, trainPauseSignal, trainBudgetSignal);
  const curve = r.curve.length > 200 ? r.curve.filter((_, k) => k % Math.ceil(r.curve.length / 200) === 0 || k === r.curve.length - 1) : r.curve;
  return {
    output: r.policy,
    stats: { objective: settings.objective, states: prepared.states, iterations: r.iterations, curve, rewards: r.rewards.slice(-256), checkpoint: r.last.hash, final: r.last.metrics },
  };
}
