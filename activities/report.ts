// The report stage: the run's HTML report written from inside the run, from
// the stage states the workflow hands over (the same page `swirl report RUN`
// writes from outside, later, from history).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { answeredFlagsOf, buildReportData, type StageLike } from '../report/collect.js';
import { renderReport } from '../report/render.js';
import type { Plan } from '../compiler/plan-types.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { swirlPaths } from '../runtime/paths.js';

export interface StageReportInput {
  workflowId: string;
  runId: string;
  title?: string;
  startTime: string;
  plan: Pick<Plan, 'pipeline' | 'specHash' | 'stages' | 'overrides'>;
  stages: StageLike[];
}

export function stageReportPath(workflowId: string): string {
  return path.join(swirlPaths().state, 'reports', `${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.html`);
}

export async function writeStageReport(store: ArtifactStore, input: StageReportInput): Promise<ArtifactRef> {
  const notes = ['Written by the run’s report stage; `swirl report RUN` rewrites it from the finished run’s history.'];
  const answeredFlags = await answeredFlagsOf(input.stages, store, notes);
  const data = buildReportData({
    workflowId: input.workflowId,
    runId: input.runId,
    status: 'RUNNING',
    startTime: input.startTime,
    plan: input.title ? { ...input.plan, pipeline: { ...input.plan.pipeline, name: input.title } } : input.plan,
    stages: input.stages,
    notes,
    ...(Object.keys(answeredFlags).length ? { answeredFlags } : {}),
  });
  const html = renderReport(data);
  const file = stageReportPath(input.workflowId);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, html);
  await rename(tmp, file);
  return store.put('report', [{ path: file, title: input.title ?? input.plan.pipeline.name, bytes: Buffer.byteLength(html), evaluations: data.evaluations }]);
}
