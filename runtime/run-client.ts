// Opens a client for commands that address an existing run, and maps "no such
// workflow" to a clear error.
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { resolveTemporal, type TemporalTarget } from './connection.js';
import { openClient } from './clients.js';
import { SwirlError } from './errors.js';

export async function withClient<T>(fn: (client: Client, target: TemporalTarget) => Promise<T>): Promise<T> {
  const target = await resolveTemporal({ autostart: false });
  const { client, connection } = await openClient(target);
  try {
    return await fn(client, target);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The handle of an existing run; throws E_RUN_NOT_FOUND when there is none. */
export async function existingRun(client: Client, target: TemporalTarget, workflowId: string): Promise<{ handle: WorkflowHandle; desc: Awaited<ReturnType<WorkflowHandle['describe']>> }> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    return { handle, desc: await handle.describe() };
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new SwirlError('E_RUN_NOT_FOUND', `no run with workflow id ${workflowId} in namespace ${target.namespace}`, { hint: 'list runs with `swirl list`' });
    throw e;
  }
}
