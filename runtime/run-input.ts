// Reads a run's original input (its Plan) back from its first history event.
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { SwirlError } from './errors.js';
import type { PipelineInput } from '../workflows/types.js';

export async function runInput(client: Client, workflowId: string): Promise<PipelineInput> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!started || started.workflowType?.name !== 'pipelineWorkflow' || !payload) {
    throw new SwirlError('E_NOT_A_PIPELINE_RUN', `${workflowId} is not a swirl pipeline run`, { hint: 'use a workflow id printed by `swirl run` or listed by `swirl list`' });
  }
  return defaultPayloadConverter.fromPayload(payload as never) as PipelineInput;
}
