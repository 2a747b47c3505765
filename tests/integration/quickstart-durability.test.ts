// The quickstart pipeline on a real server: the server is stopped and
// restarted in the middle of the rollouts and the run still completes; after
// it, the server restarts again on the same SQLite file and the completed run
// — result and full history — is there, and its trained adapter exports.
//
// CI runs the whole quickstart on the embedded model already (`npm run
// quickstart`); here the rollouts and the base evaluation come from a scripted
// OpenAI-compatible policy that answers slowly (so the restart lands among
// running shards, and every CPU gets the same trajectories and so the same
// training states), while the train stage samples from the embedded model and
// trains with the real trainer, and the trained policy is evaluated on the
// embedded model with its adapter.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { freePort, startDevServer, type DevServer } from '../../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';
import type { PipelineResult } from '../../workflows/types.js';
import type { AdapterManifest } from '../../cli/commands/export.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';
import { bin, swirl, tempStateDir } from './helpers.js';

describe('quickstart survives server restarts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-it-restart-'));
  const dbFile = path.join(dir, 'temporal.db');
  let server: DevServer | undefined;
  let stub: OpenAIStub | undefined;

  afterAll(async () => {
    await server?.stop();
    await stub?.close();
    // The merged full-weight export alone is ~1 GB.
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts mid-run and after the run; the run completes and its history reads back', async () => {
    // Where the time goes, printed at the end.
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const port = await freePort();
    const start = () => startDevServer({ binary: swirlPaths().temporalBin, port, uiPort: false, dbFile, logFile: path.join(dir, 'temporal.log') });
    server = await start();
    const env = { ...process.env, CI: 'true', TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: tempStateDir() };

    // The scripted policy (sum of two numbers, then the answer) answers each call after 1 s: 12 episodes of 2 calls
    // take ~6 s, 4 at a time (one shard of 12 items, 4 lanes: the quickstart's default layout). One RL update of 2 states × 2 samples and 2 evaluation questions are enough.
    stub = await startOpenAIStub({ faultRate: 0, delayMs: 1000 });
    const shrink = [
      `models.scripted={provider: openai-compatible, model: stub-model, baseUrl: "${stub.baseUrl}", temperature: 1.0, maxTokens: 64, seed: 7}`,
      'stages.rollouts.model=scripted',
      'stages.eval-base.model=scripted',
      'stages.trained.maxSteps=1',
      'stages.trained.batchStates=2',
      'stages.trained.samplesPerState=2',
      'stages.test-questions.limit=2',
    ].flatMap((x) => ['--set', x]);
    const child = spawn(process.execPath, [bin, 'run', 'pipelines/quickstart.yaml', ...shrink, '--json'], { cwd: packageRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));

    // Wait until the rollouts stage is running, then take the server away for a while.
    const connection0 = await Connection.connect({ address: server.address });
    const client0 = new Client({ connection: connection0 });
    let workflowId = '';
    await expect
      .poll(
        async () => {
          for await (const wf of client0.workflow.list({ query: `WorkflowType = 'fanoutWorkflow'` })) workflowId = wf.workflowId.split('/')[0]!;
          return workflowId;
        },
        { timeout: 120_000, interval: 500 },
      )
      .not.toBe('');
    await connection0.close();
    // Live per-item progress of the running fan-out, as `swirl status` shows it.
    await expect
      .poll(async () => {
        const st = await swirl(['status', workflowId, '--json'], { TEMPORAL_ADDRESS: server!.address, SWIRL_STATE_DIR: env.SWIRL_STATE_DIR });
        return (JSON.parse(st.stdout) as { progress?: Record<string, { totalItems: number; shards: number }> }).progress?.rollouts;
      }, { timeout: 60_000, interval: 1000 })
      .toMatchObject({ totalItems: 12, shards: 1 });
    // Restart at once: the outage is the server's own stop and start. (A longer outage than the 10 s
    // heartbeat timeout would only make the shards in flight time out and resume from their scratch files.)
    mark('rollouts running');
    await server.stop();
    server = await start(); // same port, same SQLite file
    mark('server restarted');

    const code = await exited;
    mark('run done');
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout) as { workflowId: string; status: string; stages: PipelineResult['stages'] };
    expect(summary.workflowId).toBe(workflowId);
    expect(summary.status).toBe('completed');
    expect(summary.stages.find((s) => s.id === 'questions')!.output).toMatchObject({ kind: 'questions', rows: 6 });
    const rollouts = summary.stages.find((s) => s.id === 'rollouts')!;
    expect(rollouts.output).toMatchObject({ kind: 'trajectories', rows: 12 });
    expect(rollouts.counts).toEqual({ succeeded: 12, failed: 0, filtered: 0 });
    // Every scripted episode computes once and answers.
    expect(rollouts.stats).toMatchObject({ answered: 12, toolCalls: 12 });
    // The rest of the SWiRL loop ran: the train stage on the embedded model and the real trainer.
    for (const id of ['steps', 'filtered', 'trained', 'eval-base', 'eval-trained', 'report']) expect(summary.stages.find((s) => s.id === id)!.status, id).toBe('completed');
    const trained = summary.stages.find((s) => s.id === 'trained')!;
    expect(trained.output).toMatchObject({ kind: 'policy', rows: 1 });
    const curve = (trained.stats as { curve: Array<{ iteration: number; meanReward: number; loss?: number }> }).curve;
    expect(curve.map((p) => p.iteration)).toEqual([1]);
    for (const p of curve) expect(typeof p.loss).toBe('number');
    for (const id of ['eval-base', 'eval-trained']) expect((summary.stages.find((s) => s.id === id)!.stats as { n: number }).n).toBe(2);

    await server.stop();
    server = await start();
    const connection = await Connection.connect({ address: server.address });
    try {
      const handle = new Client({ connection }).workflow.getHandle(summary.workflowId);
      expect((await handle.describe()).status.name).toBe('COMPLETED');
      const result = (await handle.result()) as PipelineResult;
      expect(result.stages.find((s) => s.id === 'rollouts')!.output!.hash).toBe(rollouts.output!.hash);
      const names = ((await handle.fetchHistory()).events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
      expect(names).toEqual(expect.arrayContaining(['loadDataset', 'expandSamples', 'summarizeTrajectories']));
    } finally {
      await connection.close();
    }

    const status = await swirl(['status', summary.workflowId, '--json'], { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: env.SWIRL_STATE_DIR });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'COMPLETED' });

    mark('history read back after a second restart');
    // The trained adapter folded into the base: one Hugging Face folder, its manifest naming the adapter.
    const merged = path.join(dir, 'merged');
    const exported = await swirl(['export', summary.workflowId, '--out', merged, '--json'], { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: env.SWIRL_STATE_DIR }, 600_000);
    expect(exported.code, exported.stderr).toBe(0);
    const ex = JSON.parse(exported.stdout) as { out: string; adapterHash: string; parameters: number };
    expect(ex.out).toBe(merged);
    expect(ex.parameters).toBeGreaterThan(100_000_000); // Gemma 3 270M
    const manifest = JSON.parse(readFileSync(path.join(merged, 'swirl-merged.json'), 'utf8')) as { adapterHash: string; files: Record<string, string> };
    expect(manifest.adapterHash).toBe(ex.adapterHash);
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors']));
    const again = await swirl(['export', summary.workflowId, '--out', merged], { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: env.SWIRL_STATE_DIR });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    // The adapter alone, as llama.cpp loads it, with the hashes that tie it to the run and the base model.
    const adapterDir = path.join(dir, 'adapter');
    const ad = await swirl(['export', summary.workflowId, '--adapter-only', '--out', adapterDir, '--json'], { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: env.SWIRL_STATE_DIR });
    expect(ad.code, ad.stderr).toBe(0);
    const am = JSON.parse(readFileSync(path.join(adapterDir, 'swirl-adapter.json'), 'utf8')) as AdapterManifest;
    expect(am).toMatchObject({ run: summary.workflowId, stage: 'trained', iterations: 1, base: { model: 'gemma3-270m' } });
    expect(am.base.sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const [name, sha] of Object.entries(am.files)) expect(createHash('sha256').update(readFileSync(path.join(adapterDir, name))).digest('hex')).toBe(sha);
    const trainedStage = summary.stages.find((x) => x.id === 'trained')!;
    expect(am.checkpoint).toBe((trainedStage.stats as { checkpoint: string }).checkpoint);
    mark('exported');
    const took = (x: { startedAt?: string; finishedAt?: string }) => (x.startedAt && x.finishedAt ? `${((Date.parse(x.finishedAt) - Date.parse(x.startedAt)) / 1000).toFixed(0)} s` : '–');
    console.log(`quickstart-durability: ${marks.join(', ')}; stages ${summary.stages.map((x) => `${x.id} ${took(x)}`).join(', ')}`);
  }, 1_200_000);
});
