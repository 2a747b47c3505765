import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { DatasetConfig } from '../../activities/dataset.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { activityOptions, type StageContext } from './context.js';

export async function runDataset(ctx: StageContext): Promise<ArtifactRef> {
  const acts = proxyActivities<Activities>(activityOptions(ctx.stage, ctx.input.queues.orchestration));
  return acts.loadDataset({ stageId: ctx.stage.id, projectRoot: ctx.input.projectRoot, config: ctx.stage.config as unknown as DatasetConfig });
}
