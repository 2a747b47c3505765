import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { resolveTemporal, workflowUiUrl } from '../../runtime/connection.js';
import { openClient } from '../../runtime/clients.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import type { PipelineProgress, PipelineResult, StageState } from '../../workflows/types.js';
import { out, printJson } from '../output.js';
import { describeStages } from '../progress.js';

export interface RunStatus {
  workflowId: string;
  runId: string;
  status: string;
  pipeline?: string;
  startTime?: string;
  closeTime?: string;
  uiUrl?: string;
  stages: StageState[];
  failure?: string;
  note?: string;
}

export async function statusAction(workflowId: string, opts: { json?: boolean }, setCode: (c: number) => void): Promise<void> {
      const target = await resolveTemporal({ autostart: false });
      const { client, connection } = await openClient(target);
      try {
        const handle = client.workflow.getHandle(workflowId);
        let desc;
        try {
          desc = await handle.describe();
        } catch (e) {
          if (e instanceof WorkflowNotFoundError) throw new SwirlError('E_RUN_NOT_FOUND', `no run with workflow id ${workflowId} in namespace ${target.namespace}`, { hint: 'check the id printed by `swirl run`' });
          throw e;
        }
        const st: RunStatus = {
          workflowId,
          runId: desc.runId,
          status: desc.status.name,
          ...(desc.memo?.pipeline ? { pipeline: String(desc.memo.pipeline) } : {}),
          startTime: desc.startTime.toISOString(),
          ...(desc.closeTime ? { closeTime: desc.closeTime.toISOString() } : {}),
          ...(workflowUiUrl(target, workflowId, desc.runId) ? { uiUrl: workflowUiUrl(target, workflowId, desc.runId)! } : {}),
          stages: [],
        };
        if (desc.status.name === 'COMPLETED') {
          st.stages = ((await handle.result()) as PipelineResult).stages;
        } else if (desc.status.name === 'FAILED') {
          try {
            await handle.result();
          } catch (e) {
            if (e instanceof WorkflowFailedError) {
              st.failure = e.cause?.message ?? e.message;
              st.stages = ((e.cause as { details?: unknown[] } | undefined)?.details?.[0] as PipelineResult | undefined)?.stages ?? [];
            }
          }
        } else if (desc.status.name === 'RUNNING') {
          const p = await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
          if (p) st.stages = p.stages;
          else st.note = 'no worker answered the progress query; start one with `swirl worker`';
        }
        if (opts.json) printJson(st);
        else {
          out(`${st.workflowId}  ${st.status}${st.pipeline ? `  pipeline ${st.pipeline}` : ''}`);
          out(`  started ${st.startTime}${st.closeTime ? `, closed ${st.closeTime}` : ''}`);
          if (st.uiUrl) out(`  web UI: ${st.uiUrl}`);
          for (const line of describeStages(st.stages)) out(line);
          if (st.failure) out(`  failure: ${st.failure}`);
          if (st.note) out(`  note: ${st.note}`);
        }
        setCode(st.status === 'FAILED' || st.status === 'TERMINATED' || st.status === 'TIMED_OUT' ? EXIT.runFailed : EXIT.ok);
      } finally {
        await connection.close().catch(() => undefined);
      }
    }
