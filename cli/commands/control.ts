// pause / resume / cancel a run. `resume --max-tokens N --max-cost-usd X`
// raises the run's budget first (signal `raiseBudget`), so a run paused on its
// budget goes on where it stopped.
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
    if (raise) await handle.signal('raiseBudget', raise);
    if (action === 'cancel') await handle.cancel();
    else await handle.signal(action);
    const what = { pause: 'pause requested: running stages finish, no new stage or shard starts', resume: raise ? `budget raised to ${JSON.stringify(raise)}; resumed` : 'resumed', cancel: 'cancellation requested: running activities are cancelled; artifacts written so far are kept' }[action];
    // A run stopped by its budget stays paused until the budget is raised: say so.
    let note: string | undefined;
    if (action === 'resume' && !raise) {
      const p = await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
      if (p?.pauseReason) note = `still paused: ${p.pauseReason}; raise the budget with \`swirl resume ${workflowId} --max-tokens N\` or \`--max-cost-usd X\``;
    }
    if (opts.json) printJson({ ok: true, workflowId, action, ...(raise ? { budget: raise } : {}), ...(note ? { note } : {}) });
    else out(`${workflowId}: ${what}${note ? `\n  ${note}` : ''}`);
    setCode(EXIT.ok);
  });
}
