// `swirl rerun RUN [--from STAGE]`: a new run of the same Plan. Unchanged
// stages are served from the stage cache; --from reruns that stage and
// everything downstream of it.
import { existingRun, withClient } from '../../runtime/run-client.js';
import { runInput } from '../../runtime/run-input.js';
import { SwirlError } from '../../runtime/errors.js';
import { forceFrom } from '../plan-diff.js';
import { executePlan, type RunOptions } from './run.js';

export async function rerunAction(workflowId: string, opts: RunOptions & { from?: string }, setCode: (c: number) => void): Promise<void> {
  const input = await withClient(async (client, target) => {
    await existingRun(client, target, workflowId);
    return runInput(client, workflowId);
  });
  let plan = input.plan;
  if (opts.from) {
    if (!plan.stages.some((s) => s.id === opts.from)) throw new SwirlError('E_USAGE', `run ${workflowId} has no stage \`${opts.from}\``, { hint: `stages: ${plan.stages.map((s) => s.id).join(', ')}` });
    plan = forceFrom(plan, opts.from);
  }
  await executePlan(plan, input.projectRoot, `rerun of ${workflowId}${opts.from ? ` from stage ${opts.from}` : ''}`, { ...opts, memo: { rerunOf: workflowId } }, setCode);
}
