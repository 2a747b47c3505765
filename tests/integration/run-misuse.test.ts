// Misuse that used to hang or print `internal error`: starting a run whose
// --id is already running, resuming a run that is not paused (and has no
// worker on a queue it needs), and a train loop that ends with no update
// (a plain Error failed the workflow task, which Temporal retries forever).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { compileFile } from '../../compiler/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { TrainLoopInput } from '../../workflows/train.js';
import type { PipelineInput, PipelineProgress } from '../../workflows/types.js';
import { swirl, tempStateDir, testWorkers } from './helpers.js';

describe('run misuse', () => {
  const address = inject('temporalAddress');
  const tag = `it-misuse-${process.pid}`;
  const queues = { orchestration: `${tag}.orchestration`, llm: `${tag}.llm`, train: `${tag}.train` };
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: tag };
  const spec = path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'rollout-small.yaml');
  const compiled = compileFile(spec);
  if (!compiled.ok) throw new Error('rollout-small must compile');
  const input: PipelineInput = { plan: compiled.plan, projectRoot: compiled.projectRoot, queues };
  let client: Client;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // Only the orchestration queue has a worker: a rollout's shards (llm queue) never start.
    ({ client, stop } = await testWorkers({ address, queues, roles: ['orchestration'], deps: { store: new MemoryArtifactStore(), cache: new MemoryStageCache(), scratchDir: tempStateDir() } }));
  });
  afterAll(async () => {
    for (const id of [`${tag}-busy`]) await client.workflow.getHandle(id).terminate('test done').catch(() => undefined);
    await stop();
  });

  it('`run --id` of a running run: exit 2 E_RUN_EXISTS, not an internal error; `resume` says it is not paused and which queue has no worker', async () => {
    const workflowId = `${tag}-busy`;
    const handle = await client.workflow.start('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input] });
    // Running (the dataset stage done, the rollout waiting for an llm worker).
    await expect.poll(async () => (await handle.query<PipelineProgress>('progress')).stages.find((s) => s.id === 'rollouts')?.status, { timeout: 60_000 }).toBe('running');

    const again = await swirl(['run', spec, '--id', workflowId, '--no-worker', '--detach'], env);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/E_RUN_EXISTS: a run with id .*-busy is already running/);
    expect(again.stderr).toMatch(/swirl status/);
    expect(again.stderr).not.toMatch(/internal error/);

    const resumed = await swirl(['resume', workflowId], env);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(2);
    expect(resumed.stdout).not.toMatch(/resumed/);
    expect(resumed.stderr).toMatch(/E_RUN_NOT_PAUSED: run .*-busy is not paused \(it is running\)/);
    expect(resumed.stderr).toContain(`no worker polls ${queues.llm}`);
    expect(resumed.stderr).toMatch(/start one with `swirl worker --queue llm,train` \(with SWIRL_TASK_QUEUE_PREFIX=it-misuse-\d+\)/);
  });

  it('the same `swirl run FILE --id X` again, after the process that ran X died, continues X with its own worker', async () => {
    // Started detached with no worker anywhere on its queues: the state a killed `swirl run` leaves behind.
    const alone = `${tag}-alone`;
    const envAlone = { ...env, SWIRL_TASK_QUEUE_PREFIX: alone };
    const small = path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml');
    const workflowId = `${alone}-run`;
    const first = await swirl(['run', small, '--id', workflowId, '--no-worker', '--detach'], envAlone);
    expect(first.code, first.stderr).toBe(0);
    const again = await swirl(['run', small, '--id', workflowId], envAlone);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain(`run ${workflowId} is already running this spec: continuing it with this process's worker`);
    expect(again.stdout).toMatch(/run completed in/);
    // Another spec under a running id is still refused.
    const other = `${alone}-other`;
    expect((await swirl(['run', small, '--id', other, '--no-worker', '--detach'], envAlone)).code).toBe(0);
    try {
      const clash = await swirl(['run', spec, '--id', other], envAlone);
      expect(clash.code).toBe(2);
      expect(clash.stderr).toMatch(/E_RUN_EXISTS: a run with id .*-other is already running another spec/);
    } finally {
      await client.workflow.getHandle(other).terminate('test done').catch(() => undefined);
    }
  });

  it('`retry.maxAttempts: 0` (unlimited) runs: Temporal takes no maximumAttempts rather than 0', async () => {
    const envZero = { ...env, SWIRL_TASK_QUEUE_PREFIX: `${tag}-zero` };
    const small = path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml');
    const r = await swirl(['run', small, '--set', 'defaults.retry.maxAttempts=0'], envZero);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/run completed in/);
  });

  it('`resume` of a run no worker answers for records the signal and says nothing will move', async () => {
    const lonely = { orchestration: `${tag}-none.orchestration`, llm: `${tag}-none.llm`, train: `${tag}-none.train` };
    const workflowId = `${tag}-lonely`;
    const handle = await client.workflow.start('pipelineWorkflow', { taskQueue: lonely.orchestration, workflowId, args: [{ ...input, queues: lonely }] });
    try {
      const r = await swirl(['resume', workflowId], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`nothing will move: no worker polls ${lonely.orchestration} (workflows)`);
      expect(r.stdout).toMatch(/start one with `swirl worker`/);
    } finally {
      await handle.terminate('test done').catch(() => undefined);
    }
  });

  it('a train loop that ends without an update fails with TrainNoUpdates instead of hanging', async () => {
    const ref = { kind: 'steps', hash: '0'.repeat(64), rows: 0, bytes: 0 };
    const loop = {
      runKey: `${tag}-train/trained`,
      stageId: 'trained',
      steps: ref,
      batches: { ...ref, kind: 'items' },
      iterations: 0,
      modelName: 'policy',
      model: compiled.plan.models.policy!,
      models: compiled.plan.models,
      projectRoot: compiled.projectRoot,
      settings: {},
      queues,
      timeoutMs: 60_000,
      retry: { maximumAttempts: 1, initialIntervalMs: 100, backoffCoefficient: 2, maximumIntervalMs: 1000 },
    } as unknown as TrainLoopInput;
    const handle = await client.workflow.start('trainLoopWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-train/trained`, args: [loop] });
    // The old code failed the workflow task forever: bound the wait so that shows as a failure, not a hang.
    const err = await Promise.race([handle.result().then(() => 'completed', (e: unknown) => e), new Promise((r) => setTimeout(() => r('still running after 60 s'), 60_000))]);
    await handle.terminate('test done').catch(() => undefined);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'TrainNoUpdates', nonRetryable: true });
    expect(cause!.message).toMatch(/train stage trained: the loop finished without a single update/);
    expect((cause as ApplicationFailure).details?.[0]).toMatch(/keep more steps/);
  });
});
