// The filter stage: judges each trajectory's steps (and/or its outcome) in the
// sharded fan-out on the llm queue, then keeps the trajectories that pass.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { FilterConfig, FilterMode } from '../../activities/judge.js';
import type { TrajectoryStatus } from '../../agents/types.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';
import { runFanoutStage } from './fanout-stage.js';

interface FilterStageConfig {
  mode: FilterMode;
  processJudge?: unknown;
  outcomeJudge?: unknown;
  keepStatuses?: TrajectoryStatus[];
  /** A second process judge on the same steps, for Cohen's kappa and the confusion counts. */
  agreement?: { judge: unknown };
  shardSize?: number;
}

export async function runFilter(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const cfg = stage.config as unknown as FilterStageConfig;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const source = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'steps')!;
  const config: FilterConfig = {
    mode: cfg.mode,
    keepStatuses: cfg.keepStatuses ?? ['answered'],
    projectRoot: input.projectRoot,
    models: input.plan.models,
    ...(cfg.processJudge !== undefined ? { processJudge: cfg.processJudge } : {}),
    ...(cfg.outcomeJudge !== undefined ? { outcomeJudge: cfg.outcomeJudge } : {}),
    ...(cfg.agreement !== undefined ? { agreementJudge: cfg.agreement.judge } : {}),
  };
  const r = await runFanoutStage(ctx, {
    processor: 'filter',
    items: ctx.inputs[source]!,
    outputKind: 'steps',
    config: config as unknown as Record<string, unknown>,
    shardSize: cfg.shardSize ?? 32,
    taskQueue: input.queues.llm,
  });
  // Without `agreement` the input is what it always was (same activity input in old histories).
  const done = await acts.finishFilter({ judged: r.output, mode: cfg.mode, ...(cfg.agreement !== undefined ? { processJudge: cfg.processJudge, agreementJudge: cfg.agreement.judge } : {}) });
  return { output: done.output, failures: r.failures, counts: r.counts, stats: { ...done.stats } };
}
