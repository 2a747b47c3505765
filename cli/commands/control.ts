// pause / resume / cancel a run. `resume --max-tokens N --max-cost-usd X`
// raises the run's budget first (signal `raiseBudget`), so a run paused on its
// budget goes on where it stopped.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import type { RunBudget } from '../../workflows/fanout-types.js';
import type { PipelineProgress } from '../../workflows/types.js';
import { out, printJson } from '../output.js';

/** The budget raise given on the command line, checked; undefined when none. */
export function budgetRaise(opts: { maxTokens?: string; maxCostUsd?: string }): RunBudget | undefined {
  const raise: RunBudget = {};
  if (opts.maxTokens !== undefined) {
    const n = Number(opts.maxTokens);
    if (!Number.isInteger(n) || n < 1) throw new SwirlError('E_USAGE', `--max-tokens must be a whole number of tokens >= 1 (got \`${opts.maxTokens}\`)`, { hint: 'e.g. `--max-tokens 200000`; it replaces the run budget\'s maxTokens' });
    raise.maxTokens = n;
  }
  if (opts.maxCostUsd !== undefined) {
    const x = Number(opts.maxCostUsd);
    if (!Number.isFinite(x) || x <= 0) throw new SwirlError('E_USAGE', `--max-cost-usd must be a number of USD > 0 (got \`${opts.maxCostUsd}\`)`, { hint: 'e.g. `--max-cost-usd 12.5`; it replaces the run budget\'s maxCostUsd' });
    raise.maxCostUsd = x;
  }
  return Object.keys(raise).length ? raise : undefined;
}

export async function controlAction(action: 'pause' | 'resume' | 'cancel', workflowId: string, opts: { json?: boolean; reason?: string; maxTokens?: string; maxCostUsd?: string }, setCode: (c: number) => void): Promise<void> {
  const raise = action === 'resume' ? budgetRaise(opts) : undefined;
  await withClient(async (client, target) => {
    const { handle, desc } = await existingRun(client, target, workflowId);
    if (desc.status.name !== 'RUNNING') {
      throw new SwirlError('E_RUN_NOT_RUNNING', `run ${workflowId} is ${desc.status.name}; only a running run can be ${action === 'cancel' ? 'cancelled' : `${action}d`}`, {
        hint: action === 'cancel' ? 'nothing to cancel' : 'start a new run with `swirl run`',
      });
    }
    // Resuming a run that is not paused changes nothing: say so, and whether
    // any worker polls its queues (a run that does not move usually has none).
    const before = action === 'resume' ? await progressWithin(handle, 3000) : undefined;
    if (action === 'resume' && !raise && before && before.status !== 'paused' && !before.pauseReason) {
      const polled = await pollerReport(client, target.namespace, desc.taskQueue);
      throw new SwirlError('E_RUN_NOT_PAUSED', `run ${workflowId} is not paused (it is ${before.status}); there is nothing to resume`, { hint: polled.hint ?? `workers poll its queues (${polled.summary}); follow it with \`swirl status ${workflowId}\`` });
    }
    if (raise) await handle.signal('raiseBudget', raise);
    if (action === 'cancel') await handle.cancel();
    else await handle.signal(action);
    const what = { pause: 'pause requested: running stages finish, no new stage or shard starts', resume: raise ? `budget raised to ${JSON.stringify(raise)}; resumed` : 'resumed', cancel: 'cancellation requested: running activities are cancelled; artifacts written so far are kept' }[action];
    // A run stopped by its budget stays paused until the budget is raised: say so.
    let note: string | undefined;
    if (action === 'resume' && !raise && before) {
      const p = await progressWithin(handle, 3000);
      if (p?.pauseReason) note = `still paused: ${p.pauseReason}; raise the budget with \`swirl resume ${workflowId} --max-tokens N\` or \`--max-cost-usd X\``;
    }
    // No worker answered the progress query: the signal waits in the history until one polls.
    if (action === 'resume' && !before) {
      const polled = await pollerReport(client, target.namespace, desc.taskQueue);
      note = polled.hint ? `the resume is recorded, but nothing will move: ${polled.hint}` : `no worker answered within 3 s (${polled.summary}); follow it with \`swirl status ${workflowId}\``;
    }
    if (opts.json) printJson({ ok: true, workflowId, action, ...(raise ? { budget: raise } : {}), ...(note ? { note } : {}) });
    else out(`${workflowId}: ${what}${note ? `\n  ${note}` : ''}`);
    setCode(EXIT.ok);
  });
}

/** The run's progress query, or undefined when no worker answers within `ms`. */
async function progressWithin(handle: WorkflowHandle, ms: number): Promise<PipelineProgress | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Who polls the run's task queues (DescribeTaskQueue): the workflow queue it
 * runs on and the llm / train activity queues beside it. `hint` is set when a
 * queue has no poller, with the command that starts one.
 */
export async function pollerReport(client: Client, namespace: string, workflowQueue: string): Promise<{ summary: string; hint?: string }> {
  const prefix = workflowQueue.endsWith('.orchestration') ? workflowQueue.slice(0, -'.orchestration'.length) : undefined;
  const queues: Array<{ name: string; type: 1 | 2; role: string }> = [
    { name: workflowQueue, type: 1, role: 'orchestration' },
    ...(prefix ? [{ name: `${prefix}.orchestration`, type: 2 as const, role: 'orchestration' }, { name: `${prefix}.llm`, type: 2 as const, role: 'llm' }, { name: `${prefix}.train`, type: 2 as const, role: 'train' }] : []),
  ];
  const counts = await Promise.all(
    queues.map(async (q) => {
      try {
        const r = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: q.name }, taskQueueType: q.type });
        return r.pollers?.length ?? 0;
      } catch {
        return undefined;
      }
    }),
  );
  const label = (i: number) => `${queues[i]!.name}${queues[i]!.type === 1 ? ' (workflows)' : ''}`;
  const summary = counts.map((n, i) => `${label(i)}: ${n === undefined ? 'unknown' : `${n} poller${n === 1 ? '' : 's'}`}`).join(', ');
  const idle = counts.map((n, i) => (n === 0 ? i : -1)).filter((i) => i >= 0);
  if (idle.length === 0) return { summary };
  const roles = [...new Set(idle.map((i) => queues[i]!.role))];
  const start = roles.length === 3 || roles.includes('orchestration') ? 'swirl worker' : `swirl worker --queue ${roles.join(',')}`;
  return { summary, hint: `no worker polls ${idle.map(label).join(', ')}; start one with \`${start}\`${prefix && prefix !== 'swirl' ? ` (with SWIRL_TASK_QUEUE_PREFIX=${prefix})` : ''}` };
}
