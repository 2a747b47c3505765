import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { DatasetConfig } from '../../activities/dataset.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';

export async function runDataset(ctx: StageContext): Promise<StageOutcome> {
  const acts = proxyActivities<Activities>(activityOptions(ctx.stage, ctx.input.queues.orchestration));
  return { output: await acts.loadDataset({ stageId: ctx.stage.id, projectRoot: ctx.input.projectRoot, config: ctx.stage.config as unknown as DatasetConfig }) };
}
