import { WorkflowFailedError } from '@temporalio/client';
import { workflowUiUrl } from '../../runtime/connection.js';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT } from '../../runtime/errors.js';
import type { PipelineProgress, PipelineResult, RunSummary, StageState } from '../../workflows/types.js';
import { out, printJson } from '../output.js';
import { describeStages, ProgressView } from '../progress.js';
import { runInput } from '../../runtime/run-input.js';
import { followRun } from './run.js';
import { describeProgress, fanoutProgress, type StageProgress } from '../fanout-progress.js';
import { describeLedger, ledgerSummary, type LedgerSummary } from '../ledger-summary.js';

export interface RunStatus {
  workflowId: string;
  runId: string;
  status: string;
  pipeline?: string;
  startTime?: string;
  closeTime?: string;
  uiUrl?: string;
  stages: Array<Partial<StageState> & Pick<StageState, 'id' | 'type' | 'status'>>;
  failure?: string;
  note?: string;
  /** Why a running run waits besides a user pause: `budget reached (tokens 412 of 300)`. */
  pauseReason?: string;
  /** Per-item stages still running: items done, shards, throughput, ETA. */
  progress?: Record<string, StageProgress>;
  /** LLM call ledger totals of this run (calls made / reused, tokens, cost), when this machine holds the ledger. */
  ledger?: LedgerSummary;
}

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
    if (opts.json) printJson(st);
    else {
      out(`${st.workflowId}  ${st.status}${st.pauseReason ? ` (paused: ${st.pauseReason})` : ''}${st.pipeline ? `  pipeline ${st.pipeline}` : ''}`);
      out(`  started ${st.startTime}${st.closeTime ? `, closed ${st.closeTime}` : ''}`);
      if (st.uiUrl) out(`  web UI: ${st.uiUrl}`);
      for (const line of describeStages(st.stages as StageState[])) out(line);
      for (const [id, p] of Object.entries(st.progress ?? {})) out(`    ${id}: ${describeProgress(p)}`);
      if (st.ledger) for (const line of describeLedger(st.ledger)) out(line);
      if (st.failure) out(`  failure: ${st.failure}`);
      if (st.note) out(`  note: ${st.note}`);
    }
    setCode(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'].includes(st.status) ? EXIT.runFailed : EXIT.ok);
  });
}
