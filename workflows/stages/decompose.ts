// The decompose stage: one activity turns trajectories into step groups.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';

export async function runDecompose(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const source = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'trajectories')!;
  const r = await acts.decomposeTrajectories({ trajectories: ctx.inputs[source]! });
  return { output: r.output, stats: { ...r.stats } };
}
