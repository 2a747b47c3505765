// Pause, resume and cancel a run; retries of a transient failure; the audit
// timeline (`swirl history`) and `swirl list` over real runs.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { compileFile } from '../../compiler/index.js';
import { installQuietRuntime } from '../../runtime/clients.js';
import { packageRoot } from '../../runtime/paths.js';
import { MemoryArtifactStore, type ArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { PipelineInput, PipelineProgress } from '../../workflows/types.js';
import { createWorkers } from '../../worker.js';
import { swirl, tempStateDir } from './helpers.js';

/** A store whose first `failures` writes fail like a flaky disk or network. */
function flakyStore(failures: number): ArtifactStore & { attempts: number } {
  const inner = new MemoryArtifactStore();
  const store = {
    attempts: 0,
    async put(kind: Parameters<ArtifactStore['put']>[0], rows: Parameters<ArtifactStore['put']>[1]) {
      store.attempts++;
      if (store.attempts <= failures) throw new Error(`transient store failure ${store.attempts}`);
      return inner.put(kind, rows);
    },
    read: inner.read.bind(inner),
    has: inner.has.bind(inner),
  };
  return store;
}

describe('run control and audit', () => {
  const address = inject('temporalAddress');
  const tag = `it-ctl-${process.pid}`;
  const queues = { orchestration: `${tag}.orchestration`, llm: `${tag}.llm`, train: `${tag}.train` };
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir() };
  const store = flakyStore(2);
  let native: NativeConnection;
  let connection: Connection;
  let client: Client;
  let workers: Worker[] = [];
  let running: Promise<unknown> | undefined;

  const compiled = compileFile(path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml'));
  if (!compiled.ok) throw new Error('quickstart must compile');
  const input = (): PipelineInput => {
    const plan = structuredClone(compiled.plan);
    // Retries fast enough for a test; the policy itself comes from the plan.
    plan.stages[0]!.retry = { maximumAttempts: 5, initialIntervalMs: 100, backoffCoefficient: 2, maximumIntervalMs: 1000 };
    return { plan, projectRoot: compiled.projectRoot, queues };
  };
  const startWorkers = async () => {
    workers = await createWorkers({ connection: native, namespace: 'default', roles: ['orchestration'], queues, deps: { store, cache: new MemoryStageCache(), scratchDir: tempStateDir() } });
    running = Promise.all(workers.map((w) => w.run()));
  };

  beforeAll(async () => {
    installQuietRuntime();
    native = await NativeConnection.connect({ address });
    connection = await Connection.connect({ address });
    client = new Client({ connection });
  });

  afterAll(async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running;
    await native.close();
    await connection.close();
  });

  it('a paused run starts no stage until resumed; a transient failure is retried and the run completes', async () => {
    const workflowId = `${tag}-pause`;
    const handle = await client.workflow.start('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input()] });
    const paused = await swirl(['pause', workflowId], env);
    expect(paused.code, paused.stderr).toBe(0);
    await startWorkers();

    // Paused: the workflow answers, but schedules nothing.
    await expect.poll(async () => (await handle.query<PipelineProgress>('progress')).status, { timeout: 30_000 }).toBe('paused');
    const st = await swirl(['status', workflowId, '--json'], env);
    expect(JSON.parse(st.stdout)).toMatchObject({ status: 'PAUSED' });
    const before = await handle.fetchHistory();
    expect((before.events ?? []).some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);

    expect((await swirl(['resume', workflowId], env)).code).toBe(0);
    await handle.result();
    expect(store.attempts).toBe(3); // two transient failures, then success

    const hist = await swirl(['history', workflowId, '--json'], env);
    expect(hist.code, hist.stderr).toBe(0);
    const audit = JSON.parse(hist.stdout) as { status: string; activities: { retried: number }; entries: Array<{ kind: string; event: string; name?: string; stage?: string; attempt?: number; detail?: string }> };
    expect(audit.status).toBe('COMPLETED');
    expect(audit.activities.retried).toBe(2);
    expect(audit.entries.filter((e) => e.kind === 'signal').map((e) => e.event)).toEqual(['pause', 'resume']);
    const retries = audit.entries.filter((e) => e.event === 'retried');
    expect(retries.map((e) => e.attempt)).toEqual([3]);
    expect(retries[0]!.detail).toContain('2 failed attempt(s); last failure Error: transient store failure 2');
    const done = audit.entries.find((e) => e.name === 'loadDataset' && e.event === 'completed')!;
    expect(done).toMatchObject({ stage: 'questions', attempt: 3 });
    expect(done.detail).toMatch(/questions 16 rows/);

    const human = await swirl(['history', workflowId], env);
    expect(human.stdout).toMatch(/activity loadDataset \[stage questions\] retried attempt 3 .*transient store failure 2/);
  });

  it('cancel stops a run cleanly with status cancelled, and its summary is readable without a worker', async () => {
    const workflowId = `${tag}-cancel`;
    // Start it paused (signal-with-start), so the running worker cannot finish it first.
    const handle = await client.workflow.signalWithStart('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input()], signal: 'pause', signalArgs: [] });
    await expect.poll(async () => (await handle.query<PipelineProgress>('progress')).status, { timeout: 30_000 }).toBe('paused');
    const c = await swirl(['cancel', workflowId], env);
    expect(c.code, c.stderr).toBe(0);
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const st = await swirl(['status', workflowId, '--json'], env);
    expect(st.code).toBe(1);
    expect(JSON.parse(st.stdout)).toMatchObject({ status: 'CANCELLED', stages: [{ id: 'questions', status: 'cancelled' }] });
    const again = await swirl(['cancel', workflowId], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/E_RUN_NOT_RUNNING/);
  });

  it('list finds runs by status', async () => {
    const r = await swirl(['list', '--status', 'cancelled', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ workflowId: string; status: string }>;
    expect(rows.map((x) => x.workflowId)).toContain(`${tag}-cancel`);
    expect(rows.every((x) => x.status === 'CANCELLED')).toBe(true);
    const missing = await swirl(['status', 'no-such-run'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/E_RUN_NOT_FOUND/);
  });
});
