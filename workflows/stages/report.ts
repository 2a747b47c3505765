// The report stage: hands the run's stage states to an activity that renders
// the HTML report. Runs after its inputs, so their numbers are in.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';

export async function runReport(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const info = workflowInfo();
  const output = await acts.writeStageReport({
    workflowId: info.workflowId,
    runId: info.runId,
    ...(typeof stage.config.title === 'string' ? { title: stage.config.title } : {}),
    startTime: new Date(info.runStartTime.getTime()).toISOString(),
    // Stage configs stay out of the payload: the report draws ids, types and edges.
    plan: { pipeline: input.plan.pipeline, specHash: input.plan.specHash, ...(input.plan.overrides ? { overrides: input.plan.overrides } : {}), stages: input.plan.stages.map((s) => ({ ...s, config: {} })) },
    stages: ctx.snapshot(),
  });
  return { output };
}
