// A config error inside a stage fails the run fast (one attempt, no retries),
// and the failure's type and message reach the workflow result and `swirl status`.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { compileFile } from '../../compiler/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { PipelineInput, PipelineResult } from '../../workflows/types.js';
import { swirl, tempStateDir, testWorkers } from './helpers.js';

describe('stage failures', () => {
  const address = inject('temporalAddress');
  const queues = { orchestration: `it-fail-${process.pid}.orchestration`, llm: `it-fail-${process.pid}.llm`, train: `it-fail-${process.pid}.train` };
  let client: Client;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ client, stop } = await testWorkers({ address, roles: ['orchestration'], queues, deps: { store: new MemoryArtifactStore(), cache: new MemoryStageCache(), scratchDir: tempStateDir() } }));
  });

  afterAll(() => stop());

  it('a dataset that changed since compile fails non-retryably, with its type', async () => {
    const compiled = compileFile(path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml'));
    if (!compiled.ok) throw new Error('quickstart must compile');
    const plan = structuredClone(compiled.plan);
    (plan.stages[0]!.config as { pathSha256: string }).pathSha256 = '0'.repeat(64);
    const input: PipelineInput = { plan, projectRoot: compiled.projectRoot, queues };
    const workflowId = `it-fail-${Date.now()}`;
    const handle = await client.workflow.start('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input] });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const details = ((err as WorkflowFailedError).cause as { details?: unknown[] }).details?.[0] as PipelineResult;
    expect(details.stages[0]).toMatchObject({ id: 'questions', status: 'failed', error: { type: 'E_FILE_CHANGED' } });

    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const loadId = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadDataset')!.eventId;
    const attempts = events.filter((e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(loadId)).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]); // not retried

    const st = await swirl(['status', workflowId], { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir() });
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/FAILED/);
    expect(st.stdout).toMatch(/questions \(dataset\).*E_FILE_CHANGED: stage questions: data\/gsm8k\/train\.jsonl changed since the pipeline was compiled/);
  });
});
