// The rollout stage: questions × samples episodes, run by the sharded fan-out
// on the llm queue. Pausing the run pauses the fan-out (no new shards).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { RolloutConfig } from '../../activities/rollout.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';
import { runFanoutStage, stageLayout } from './fanout-stage.js';

export interface RolloutStageConfig {
  model: string;
  tools: string[];
  samples?: number;
  maxSteps?: number;
  prompt?: string;
  promptSha256?: string;
  shardSize?: number;
  protocol?: 'tags' | 'tool-calls';
}

/** The episode settings a rollout-like stage (rollout, evaluate) hands to the processor. */
export function rolloutConfigOf(ctx: StageContext, cfg: RolloutStageConfig): RolloutConfig {
  const { input } = ctx;
  return {
    modelName: cfg.model,
    model: input.plan.models[cfg.model]!,
    tools: Object.fromEntries(cfg.tools.map((t) => [t, input.plan.tools[t] as { kind: string }])),
    maxSteps: cfg.maxSteps ?? 5,
    projectRoot: input.projectRoot,
    ...(cfg.prompt ? { promptPath: cfg.prompt } : {}),
    // The worker checks the prompt file against the Plan's hash (E_FILE_CHANGED); activity inputs are not replay-checked.
    ...(cfg.prompt && cfg.promptSha256 ? { promptSha256: cfg.promptSha256 } : {}),
    ...(cfg.protocol ? { protocol: cfg.protocol } : {}),
  };
}

export async function runRollout(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const cfg = stage.config as unknown as RolloutStageConfig;
  const questionsId = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'questions')!;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const items: ArtifactRef = await acts.expandSamples({ questions: ctx.inputs[questionsId]!, samples: cfg.samples ?? 5 });
  const r = await runFanoutStage(ctx, {
    processor: 'rollout',
    items,
    outputKind: 'trajectories',
    config: rolloutConfigOf(ctx, cfg) as unknown as Record<string, unknown>,
    ...stageLayout(items.rows, stage.concurrency, cfg.shardSize, 8),
    taskQueue: input.queues.llm,
  });
  const stats = await acts.summarizeTrajectories(r.output);
  return { output: r.output, failures: r.failures, counts: r.counts, stats };
}
