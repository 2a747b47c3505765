// pause / resume / cancel a run.
import { existingRun, withClient } from '../../runtime/run-client.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import { out, printJson } from '../output.js';

export async function controlAction(action: 'pause' | 'resume' | 'cancel', workflowId: string, opts: { json?: boolean; reason?: string }, setCode: (c: number) => void): Promise<void> {
  await withClient(async (client, target) => {
    const { handle, desc } = await existingRun(client, target, workflowId);
    if (desc.status.name !== 'RUNNING') {
      throw new SwirlError('E_RUN_NOT_RUNNING', `run ${workflowId} is ${desc.status.name}; only a running run can be ${action === 'cancel' ? 'cancelled' : `${action}d`}`, {
        hint: action === 'cancel' ? 'nothing to cancel' : 'start a new run with `swirl run`',
      });
    }
    if (action === 'cancel') await handle.cancel();
    else await handle.signal(action);
    const what = { pause: 'pause requested: running stages finish, no new stage or shard starts', resume: 'resumed', cancel: 'cancellation requested: running activities are cancelled; artifacts written so far are kept' }[action];
    if (opts.json) printJson({ ok: true, workflowId, action });
    else out(`${workflowId}: ${what}`);
    setCode(EXIT.ok);
  });
}
