// Bad train config fails fast, non-retryably, with a message that names the
// problem, and spends no retry on it (real server, real model, real trainer):
// LoRA rank 0 and an unknown model file are compile errors; a LoRA target the trainer cannot export fails
// `trainStep` (trainer exit 2); a filter that keeps nothing fails before any
// model or trainer starts. And a run budget reached while the train stage
// samples pauses the run until `swirl resume --max-tokens` raises it.
//
// The rollouts come from a scripted OpenAI-compatible stub (the train stage
// uses the embedded model): the train stage always gets the same states.
// One `swirl worker` serves every case (each `swirl run --no-worker` follows
// its run to the end as a plain `swirl run` does): the workflow bundle is built
// and the model loaded once, not once per case.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { StageState } from '../../workflows/types.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { PipelineProgress } from '../../workflows/types.js';
import { activityAttempts, kill9, startCliWorker, swirl, tempStateDir } from './helpers.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';

const spec = 'tests/integration/fixtures/train-config.yaml';
const LONG = 900_000;

interface RunJson {
  ok: boolean;
  workflowId: string;
  status: string;
  stages: StageState[];
  errors?: Array<{ code: string; message: string; path: string; hint?: string }>;
}

describe('bad train config fails fast with one attempt', () => {
  const address = inject('temporalAddress');
  // One state dir for all cases: the first run's rollouts are reused from the stage cache by the later ones.
  const state = tempStateDir();
  const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_LEDGER: path.join(state, 'ledger.db'), SWIRL_TASK_QUEUE_PREFIX: `it-train-config-${process.pid}` };
  let connection: Connection;
  let client: Client;
  let worker: ChildProcess | undefined;
  let stub: OpenAIStub;
  let scripted: string[] = [];
  const walls: string[] = [];

  beforeAll(async () => {
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    stub = await startOpenAIStub({ faultRate: 0 });
    scripted = ['--set', `models.policy.baseUrl=${stub.baseUrl}`];
    worker = await startCliWorker(env);
  });
  afterAll(async () => {
    console.log(`train-config walls: ${walls.join(', ')}`);
    if (worker) await kill9(worker);
    await stub?.close();
    await connection.close();
  });

  async function run(label: string, ...sets: string[]): Promise<{ code: number | null; json: RunJson; stderr: string }> {
    const t = Date.now();
    const r = await swirl(['run', spec, '--no-worker', '--json', ...scripted, ...sets.flatMap((s) => ['--set', s])], env, LONG);
    walls.push(`${label} ${((Date.now() - t) / 1000).toFixed(1)} s`);
    let json: RunJson;
    try {
      json = JSON.parse(r.stdout) as RunJson;
    } catch {
      throw new Error(`swirl run printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, json, stderr: r.stderr };
  }

  it('LoRA rank 0 is rejected by the compiler: nothing starts', async () => {
    const r = await run('rank 0', 'stages.trained.lora.rank=0');
    expect(r.code).toBe(2);
    expect(r.json.ok).toBe(false);
    expect(r.json.workflowId).toBeUndefined();
    expect(r.json.errors).toHaveLength(1);
    expect(r.json.errors![0]).toMatchObject({ code: 'E_RANGE', path: '/stages/4/lora/rank' });
    expect(r.json.errors![0]!.message).toMatch(/`rank` must be >= 1 \(got 0\)/);
    expect(r.json.errors![0]!.hint).toMatch(/rank/);
  });

  it('an unknown model file is rejected by the compiler (the worker never opens it): nothing starts', async () => {
    const r = await run('unknown model', 'models.trainee.model=models/no-such-model.gguf');
    expect(r.code).toBe(2);
    expect(r.json.ok).toBe(false);
    expect(r.json.workflowId).toBeUndefined();
    expect(r.json.errors).toHaveLength(1);
    expect(r.json.errors![0]).toMatchObject({ code: 'E_MODEL_NOT_FOUND', path: '/models/trainee/model' });
    expect(r.json.errors![0]!.message).toMatch(/model file `models\/no-such-model\.gguf` does not exist/);
    expect(r.json.errors![0]!.hint).toMatch(/embedded model .*gemma3-270m.*\.gguf file relative to the spec file/);
  });

  it('a LoRA target the trainer cannot export fails trainStep once (trainer exit 2)', async () => {
    const r = await run('bad LoRA target', 'stages.trained.lora.targetModules=[q_proj, nope_proj]');
    expect(r.code, r.stderr).toBe(1);
    const trained = r.json.stages.find((s) => s.id === 'trained')!;
    expect(trained.status).toBe('failed');
    expect(trained.error!.message).toMatch(/lora\.targetModules has unsupported module\(s\): nope_proj/);
    const acts = await activityAttempts(client, `${r.json.workflowId}/trained`);
    expect(acts.map((a) => [a.type, a.attempt, a.closed])).toEqual([
      ['sampleTrainBatch', 1, 'completed'],
      ['trainStep', 1, 'failed'],
    ]);
    expect(acts[1]!.failure).toMatch(/^ConfigError: .*nope_proj.*\(non-retryable\)$/);
  }, LONG);

  it('a run budget spent by train sampling pauses the run; `swirl resume --max-tokens` finishes it, no call paid twice', async () => {
    // The rollouts come from the stage cache (earlier cases): the run's first paid calls are the
    // sampler's. A fresh train seed makes them new calls; a 1-token budget lets exactly one through.
    const id = `it-train-budget-${process.pid}-${Date.now()}`;
    const t = Date.now();
    const running = swirl(['run', spec, '--no-worker', '--json', ...scripted, '--id', id, '--set', 'budget.maxTokens=1', '--set', 'stages.trained.seed=11'], env, LONG);
    // Wait in this process (a query per second, not a CLI process per second) until the pipeline
    // reports the pause, then read it the way a user does: `swirl status` from another process.
    const pipeline = client.workflow.getHandle(id);
    for (let k = 0; ; k++) {
      const p = await pipeline.query<PipelineProgress>('progress').catch(() => undefined);
      if (p?.status === 'paused' && p.pauseReason) break;
      if (k > 600) throw new Error(`the run never paused on its budget: ${JSON.stringify(p)}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const status = await swirl(['status', id, '--json'], env, 60_000);
    const st = JSON.parse(status.stdout || '{}') as { status?: string; pauseReason?: string; progress?: Record<string, { pauseReason?: string }> };
    expect(st.status, status.stdout + status.stderr).toBe('PAUSED');
    expect(st.pauseReason).toMatch(/^budget reached \(tokens \d+ of 1\)$/);
    expect(st.progress!.trained!.pauseReason).toMatch(/^budget reached \(tokens \d+ of 1\)$/);
    const ledger = new SqliteLedger(path.join(state, 'ledger.db'));
    try {
      expect((await ledger.stats({ runId: id })).calls).toBe(1);
      const ok = await swirl(['resume', id, '--max-tokens', '1000000'], env, 60_000);
      expect(ok.code, ok.stderr).toBe(0);
      const r = await running;
      walls.push(`budget ${((Date.now() - t) / 1000).toFixed(1)} s`);
      const json = JSON.parse(r.stdout) as RunJson;
      expect(json.status, r.stderr).toBe('completed');
      // One state × G = 2 samples in all: the one paid before the stop was not paid again.
      expect((await ledger.stats({ runId: id })).calls).toBe(2);
      expect((await ledger.audit()).duplicated).toEqual([]);
    } finally {
      ledger.close();
    }
    const acts = await activityAttempts(client, `${id}/trained`);
    expect(acts.map((a) => [a.type, a.attempt, a.closed])).toEqual([
      ['sampleTrainBatch', 1, 'failed'],
      ['sampleTrainBatch', 1, 'completed'],
      ['trainStep', 1, 'completed'],
      ['writePolicy', 1, 'completed'],
    ]);
    expect(acts[0]!.failure).toMatch(/^BudgetReached: run budget reached: tokens \d+ of 1.*\(non-retryable\)$/);
  }, LONG);

  it('empty training data (the filter keeps nothing) fails before any model or trainer starts', async () => {
    const r = await run('empty data', 'stages.kept.keepStatuses=[error]');
    expect(r.code, r.stderr).toBe(1);
    // The rollouts come from the stage cache of the runs above: no model was loaded for this run.
    expect(r.json.stages.find((s) => s.id === 'rollouts')!.cached).toBe(true);
    expect(r.json.stages.find((s) => s.id === 'kept')!.output!.rows).toBe(0);
    const trained = r.json.stages.find((s) => s.id === 'trained')!;
    expect(trained.status).toBe('failed');
    expect(trained.error!.message).toMatch(/no states to train on: the input steps artifact is empty/);
    // With the yield of the stages before it: every trajectory was dropped for its status.
    expect(trained.error!.message).toMatch(/decompose `steps`: (\d+) of \d+ trajectories had an action \(\d+ steps.*\); filter `kept` \(none\): kept 0 of \1 trajectories \(0 of \d+ steps; dropped: status:/);
    const acts = await activityAttempts(client, r.json.workflowId);
    const prepare = acts.filter((a) => a.type === 'prepareTrainBatches');
    expect(prepare.map((a) => [a.attempt, a.closed])).toEqual([[1, 'failed']]);
    expect(prepare[0]!.failure).toMatch(/^DataError: .*\(non-retryable\)$/);
    expect(acts.every((a) => a.attempt === 1)).toBe(true);
    // No training loop was started.
    await expect(client.workflow.getHandle(`${r.json.workflowId}/trained`).describe()).rejects.toThrow();
  }, LONG);
});
