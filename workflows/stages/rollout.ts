// The rollout stage: questions × samples episodes, run by the sharded fan-out
// on the llm queue. Pausing the run pauses the fan-out (no new shards).
import { condition, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { RolloutConfig } from '../../activities/rollout.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { fanoutPauseSignal, fanoutWorkflow } from '../fanout.js';
import type { FanoutResult } from '../fanout-types.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';

interface RolloutStageConfig {
  model: string;
  tools: string[];
  samples?: number;
  maxSteps?: number;
  prompt?: string;
  shardSize?: number;
}

export async function runRollout(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const cfg = stage.config as unknown as RolloutStageConfig;
  const questionsId = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'questions')!;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const items: ArtifactRef = await acts.expandSamples({ questions: ctx.inputs[questionsId]!, samples: cfg.samples ?? 5 });
  const processorConfig: RolloutConfig = {
    modelName: cfg.model,
    model: input.plan.models[cfg.model]!,
    tools: Object.fromEntries(cfg.tools.map((t) => [t, input.plan.tools[t] as { kind: string }])),
    maxSteps: cfg.maxSteps ?? 5,
    projectRoot: input.projectRoot,
    ...(cfg.prompt ? { promptPath: cfg.prompt } : {}),
  };
  const child = await startChild(fanoutWorkflow, {
    workflowId: `${workflowInfo().workflowId}/${stage.id}`,
    taskQueue: input.queues.orchestration,
    args: [
      {
        keyPrefix: `${workflowInfo().workflowId}/${stage.id}`,
        stageId: stage.id,
        processor: 'rollout',
        items,
        outputKind: 'trajectories',
        config: processorConfig as unknown as Record<string, unknown>,
        shardSize: cfg.shardSize ?? 8,
        concurrency: stage.concurrency,
        orchestrationQueue: input.queues.orchestration,
        activity: {
          taskQueue: input.queues.llm,
          startToCloseTimeoutMs: stage.timeoutMs,
          // Shards heartbeat every 2 s (activities/fanout.ts): 20 s of silence means the worker is gone.
          heartbeatTimeoutMs: Math.min(stage.timeoutMs, 20_000),
          retry: { maximumAttempts: stage.retry.maximumAttempts, initialIntervalMs: stage.retry.initialIntervalMs, backoffCoefficient: stage.retry.backoffCoefficient, maximumIntervalMs: stage.retry.maximumIntervalMs },
        },
      },
    ],
  });
  // Forward pause/resume of the run to the fan-out while it runs.
  let done = false;
  const result = child.result().finally(() => void (done = true));
  let sent = false;
  while (!done) {
    await condition(() => done || ctx.isPaused() !== sent);
    if (!done && ctx.isPaused() !== sent) {
      sent = ctx.isPaused();
      await child.signal(fanoutPauseSignal, sent);
    }
  }
  const r: FanoutResult = await result;
  const stats = await acts.summarizeTrajectories(r.output);
  return { output: r.output, failures: r.failures, counts: r.counts, stats };
}
