// `swirl report RUN` against real runs on the test Temporal server: a
// completed run and a failed one get a page (exit 0) that opens cleanly in
// Chromium; an unknown run is an error with a code and a hint, no stack.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compileFile } from '../../compiler/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { PipelineInput } from '../../workflows/types.js';
import { launchChromium } from './browser.js';
import { swirl, tempStateDir, testWorkers } from './helpers.js';

describe('swirl report', () => {
  const address = inject('temporalAddress');
  const queues = { orchestration: `it-report-${process.pid}.orchestration`, llm: `it-report-${process.pid}.llm`, train: `it-report-${process.pid}.train` };
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-report-cli-'));
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir() };
  let client: Client;
  let stopWorkers: (() => Promise<void>) | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopWorkers!());

  beforeAll(async () => {
    ({ client, stop: stopWorkers } = await testWorkers({ address, roles: ['orchestration'], queues, deps: { store: new MemoryArtifactStore(), cache: new MemoryStageCache(), scratchDir: tempStateDir() } }));
  });
  afterAll(async () => {
    if (stopWorkers) await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runDatasetOnly(break_ = false): Promise<string> {
    const compiled = compileFile(path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml'));
    if (!compiled.ok) throw new Error('dataset-only must compile');
    const plan = structuredClone(compiled.plan);
    if (break_) (plan.stages[0]!.config as { pathSha256: string }).pathSha256 = '0'.repeat(64);
    const input: PipelineInput = { plan, projectRoot: compiled.projectRoot, queues };
    const workflowId = `it-report-${break_ ? 'failed' : 'ok'}-${Date.now()}`;
    const handle = await client.workflow.start('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input] });
    await handle.result().catch(() => undefined);
    return workflowId;
  }

  function datasetOnlyInput(taskQueue = queues.orchestration): PipelineInput {
    const compiled = compileFile(path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml'));
    if (!compiled.ok) throw new Error('dataset-only must compile');
    return { plan: compiled.plan, projectRoot: compiled.projectRoot, queues: { ...queues, orchestration: taskQueue } };
  }

  it('a running run: stage states from the progress query (paused before its first stage), or a note when no worker answers', async () => {
    // Paused from the start (signal with start): RUNNING, the worker answers the query, no stage has begun.
    const paused = `it-report-paused-${Date.now()}`;
    const h1 = await client.workflow.signalWithStart('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId: paused, args: [datasetOnlyInput()], signal: 'pause', signalArgs: [] });
    // No worker polls this queue: the query goes unanswered.
    const orphan = `it-report-orphan-${Date.now()}`;
    const h2 = await client.workflow.start('pipelineWorkflow', { taskQueue: `${queues.orchestration}.nobody`, workflowId: orphan, args: [datasetOnlyInput(`${queues.orchestration}.nobody`)] });
    try {
      const r1 = await swirl(['report', paused, '--json', '--open', 'never'], env);
      expect(r1.code).toBe(0);
      expect(JSON.parse(r1.stdout)).toMatchObject({ status: 'PAUSED' });
      const html1 = readFileSync(path.join(env.SWIRL_STATE_DIR, 'reports', `${paused}.html`), 'utf8');
      expect(html1).toContain('still in progress');
      expect(html1).toContain('data-stage="questions" data-status="pending"');

      const r2 = await swirl(['report', orphan, '--json', '--open', 'never'], env);
      expect(r2.code).toBe(0);
      expect(JSON.parse(r2.stdout)).toMatchObject({ status: 'RUNNING' });
      const html2 = readFileSync(path.join(env.SWIRL_STATE_DIR, 'reports', `${orphan}.html`), 'utf8');
      expect(html2).toContain('No worker answered the progress query');
      expect(html2).toContain('data-stage="questions"');
    } finally {
      await h1.terminate('test done');
      await h2.terminate('test done');
    }
  });

  it('writes the page of a completed and a failed run; both open cleanly in Chromium', async () => {
    // The broken run first: it has the same stage hash, so after a good run it would be a cache hit.
    const failed = await runDatasetOnly(true);
    const ok = await runDatasetOnly();
    await stop(); // the report needs no worker: it reads the history and memo

    const okFile = path.join(dir, 'ok.html');
    const r1 = await swirl(['report', ok, '--out', okFile, '--open', 'never'], env);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.stdout.trim()).toBe(okFile);
    const html = readFileSync(okFile, 'utf8');
    expect(html).toContain('dataset-only');
    expect(html).toContain('data-stage="questions"');

    // Default path under the state dir; --json prints the file and the run's status.
    const r2 = await swirl(['report', failed, '--json', '--open', 'never'], env);
    expect(r2.code).toBe(0);
    const j = JSON.parse(r2.stdout) as { ok: boolean; file: string; status: string };
    expect(j).toMatchObject({ ok: true, status: 'FAILED', file: path.join(env.SWIRL_STATE_DIR, 'reports', `${failed}.html`) });
    expect(existsSync(j.file)).toBe(true);

    const { context, close } = await launchChromium();
    try {
      for (const [file, expectText] of [
        [okFile, /COMPLETED/],
        [j.file, /E_FILE_CHANGED/],
      ] as const) {
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
        page.on('pageerror', (e) => void problems.push(e.message));
        await page.goto(pathToFileURL(file).href);
        expect(await page.locator('body').innerText()).toMatch(expectText);
        expect(await page.locator('#pipeline-graph g.stage').count()).toBe(1);
        if (process.env.SWIRL_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.SWIRL_REPORT_SCREENSHOT.replace(/\.png$/, `-${path.basename(file, '.html')}.png`), fullPage: true });
        if (file === okFile) {
          // 16 questions from the dataset stage: one funnel bar, drawn.
          expect(await page.evaluate(`Chart.getChart(document.getElementById('chart-funnel')).data.datasets[0].data`)).toEqual([16]);
          expect(await page.locator('#pipeline-graph g.stage').textContent()).toMatch(/16 questions/);
        }
        expect(problems).toEqual([]);
        await page.close();
      }
    } finally {
      await close();
    }
  });

  it('an unknown run is E_RUN_NOT_FOUND (exit 2) with a hint and no stack; a bad --open is a usage error', async () => {
    const r = await swirl(['report', 'no-such-run-xyz', '--open', 'never'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error E_RUN_NOT_FOUND: no run with workflow id no-such-run-xyz/);
    expect(r.stderr).toMatch(/hint: list runs with `swirl list`/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const u = await swirl(['report', 'x', '--open', 'sometimes'], env);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/E_USAGE: --open must be one of auto, always, never/);
  });
});
