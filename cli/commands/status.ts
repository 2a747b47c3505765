import { existsSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { stageReportPath } from '../../activities/report.js';
import { workflowUiUrl } from '../../runtime/connection.js';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT } from '../../runtime/errors.js';
import type { PipelineProgress, PipelineResult, RunSummary } from '../../workflows/types.js';
import { out, printJson } from '../output.js';
import { finishedReportFile, ProgressView } from '../progress.js';
import { describeStatus, type RunStatus } from '../status-view.js';
import { runInput } from '../../runtime/run-input.js';
import { followRun } from './run.js';
import { fanoutProgress } from '../fanout-progress.js';
import { ledgerSummary } from '../ledger-summary.js';

export type { RunStatus } from '../status-view.js';

export async function statusAction(workflowId: string, opts: { json?: boolean; follow?: boolean }, setCode: (c: number) => void): Promise<void> {
  await withClient(async (client, target) => {
    let { handle, desc } = await existingRun(client, target, workflowId);
    if (opts.follow && desc.status.name === 'RUNNING') {
      // Progress while waiting (needs a worker somewhere), then the final status below.
      const plan = (await runInput(client, workflowId)).plan;
      const view = opts.json ? undefined : new ProgressView(plan);
      await followRun(client, workflowId, view);
      view?.stop();
      ({ handle, desc } = await existingRun(client, target, workflowId));
    }
    const ui = workflowUiUrl(target, workflowId, desc.runId);
    const st: RunStatus = {
      workflowId,
      runId: desc.runId,
      status: desc.status.name,
      ...(desc.memo?.pipeline ? { pipeline: String(desc.memo.pipeline) } : {}),
      startTime: desc.startTime.toISOString(),
      ...(desc.closeTime ? { closeTime: desc.closeTime.toISOString() } : {}),
      ...(ui ? { uiUrl: ui } : {}),
      stages: [],
    };
    const summary = desc.memo?.swirl as RunSummary | undefined;
    if (desc.status.name === 'RUNNING') {
      // Live progress comes from the workflow itself, through a worker.
      const p = await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
      if (p) {
        st.stages = p.stages;
        if (p.status === 'paused') st.status = 'PAUSED';
        if (p.pauseReason) st.pauseReason = p.pauseReason;
        st.progress = await fanoutProgress(client, workflowId, p.stages);
      } else st.note = 'no worker answered the progress query; start one with `swirl worker`';
    } else if (summary) {
      st.stages = summary.stages; // written by the workflow when it ended: no worker needed
    } else if (desc.status.name === 'COMPLETED') {
      st.stages = ((await handle.result()) as PipelineResult).stages;
    }
    if (desc.status.name === 'FAILED') {
      try {
        await handle.result();
      } catch (e) {
        if (e instanceof WorkflowFailedError) {
          st.failure = e.cause?.message ?? e.message;
          if (st.stages.length === 0) st.stages = ((e.cause as { details?: unknown[] } | undefined)?.details?.[0] as PipelineResult | undefined)?.stages ?? [];
        }
      }
    }
    const ledger = await ledgerSummary(workflowId).catch(() => undefined);
    if (ledger) st.ledger = ledger;
    const reportFile = st.status === 'RUNNING' || st.status === 'PAUSED' ? undefined : finishedReportFile(st.stages, stageReportPath(workflowId), existsSync);
    if (reportFile) st.reportFile = reportFile;
    if (opts.json) printJson(st);
    else for (const line of describeStatus(st)) out(line);
    setCode(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'].includes(st.status) ? EXIT.runFailed : EXIT.ok);
  });
}
