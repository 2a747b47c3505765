// pipelines/gsm8k-gpu.yaml end to end in CI (issue 20): a real Temporal run whose
// policy is an openai-compatible server with `lora: runtime` — here
// tests/fixtures/stub_vllm.py on the tiny ChatML model `npm run setup` builds
// (docs/gpu.md "In CI"), sized down with --set. The stub scripts *which* text
// each completion returns (a random model never writes the step protocol); the
// log-probs of that text, the probe and every adapter load are computed by the
// served weights. Checked: each training step's adapter is published, loaded
// under `<run>-swirl-step-<n>`, probed against the trainer and sampled from;
// older versions are unloaded; the evaluate stage loads the final one; and a
// server that serves a stale adapter fails the run with E_STALE_POLICY. With
// `sampler: trainer` the trainer samples instead of the server (issue 20).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import type { StageState } from '../../workflows/types.js';
import { startStub, stop, type Stub } from './fixtures/vllm-stub.js';
import { swirl, tempStateDir } from './helpers.js';

const TINY = path.join(packageRoot, '.swirl', 'models', 'tiny-chatml');
const SCRIPT = path.join(packageRoot, '.swirl', 'test-specs', `gpu-script-${process.pid}.json`);
// Replies in the step protocol: right and wrong calculations and answers, so rewards differ within a state.
const REPLIES = ['<math_exp>48/2</math_exp>', '<math_exp>48+24</math_exp>', '<answer>72</answer>', '<answer>5</answer>', '<math_exp>7*3</math_exp>'];

let stub: Stub;

beforeAll(async () => {
  if (!existsSync(path.join(TINY, 'config.json'))) throw new Error(`${TINY} is missing: run \`npm run setup\` (it builds the tiny HF model)`);
  mkdirSync(path.dirname(SCRIPT), { recursive: true });
  writeFileSync(SCRIPT, JSON.stringify(REPLIES));
  stub = await startStub(TINY, ['--script', SCRIPT], 'base');
}, 360_000);

afterAll(() => {
  stop(stub);
  rmSync(SCRIPT, { force: true });
});

/** --set overrides that shrink the pipeline to seconds of CPU and point it at the stub. */
function small(state: string, maxSteps: number): string[] {
  const sets = [
    `models.policy.baseUrl=${stub.url}/v1`,
    `models.policy.loraDir=${path.join(state, 'lora')}`,
    'models.policy.maxTokens=32',
    'models.policy.concurrency=2',
    // Natalia's question: the scripted replies hold its gold calculations, so rewards differ within a state.
    'stages.train-questions.ids=../tests/fixtures/gsm8k-train-natalia.txt',
    'stages.rollouts.samples=3',
    'stages.rollouts.maxSteps=2',
    'stages.filtered.mode=none',
    'stages.swirl.batchStates=1',
    'stages.swirl.epochs=2',
    'stages.swirl.samplesPerState=4',
    `stages.swirl.maxSteps=${maxSteps}`,
    'stages.swirl.learningRate=0.05',
    'stages.swirl.precision=fp32',
    'stages.swirl.lora.rank=4',
    'stages.swirl.lora.alpha=8',
    'stages.test-questions.limit=2',
    'stages.eval-base.maxSteps=2',
    'stages.eval-swirl.maxSteps=2',
  ];
  return sets.flatMap((s) => ['--set', s]);
}

const envFor = (state: string, tag: string) => ({ CI: 'true', TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-gpu-${tag}-${process.pid}`, SWIRL_TRAINER_DEVICE: 'cpu' });

interface CurvePoint {
  iteration: number;
  served?: string;
  servedAdapterHash?: string;
  probeNew?: number;
  probeOld?: number;
  probeDistinguishable?: boolean;
}

describe('pipelines/gsm8k-gpu.yaml against the vLLM stub', () => {
  it('validates as shipped (hf = the tiny model setup builds)', async () => {
    const r = await swirl(['validate', 'pipelines/gsm8k-gpu.yaml']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });

  it('trains with runtime LoRA: each adapter is published, loaded, probed and sampled from; the evaluation loads the final one', async () => {
    const state = tempStateDir();
    try {
      const r = await swirl(['run', 'pipelines/gsm8k-gpu.yaml', '--json', ...small(state, 2)], envFor(state, 'ok'), 900_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const run = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
      const swirlStage = run.stages.find((s) => s.id === 'swirl')!;
      expect(swirlStage.status).toBe('completed');
      const curve = (swirlStage.stats as { curve: CurvePoint[] }).curve;
      expect(curve.map((p) => p.iteration)).toEqual([1, 2]);
      // Iteration 1 samples from the base; iteration 2 from step 1's adapter, checked by the probe.
      expect(curve[0]!.served).toBe('base');
      expect(curve[0]!.probeNew).toBeUndefined();
      const name1 = `${run.workflowId}-swirl-step-1`;
      expect(curve[1]!.served).toBe(name1);
      expect(curve[1]!.servedAdapterHash).toMatch(/^[0-9a-f]{16,}$/);
      expect(curve[1]!.probeNew!).toBeLessThanOrEqual(0.05);
      expect(curve[1]!.probeDistinguishable).toBe(true);
      expect(curve[1]!.probeOld!).toBeGreaterThan(curve[1]!.probeNew!);
      // The adapters were published where the server reads them; the final one (step 2) was loaded by eval-swirl and step 1 unloaded.
      expect(existsSync(path.join(state, 'lora', name1, 'adapter_config.json'))).toBe(true);
      const loaded = (await stub.server.listModels()).map((m) => m.id).filter((id) => id.startsWith(run.workflowId));
      expect(loaded).toEqual([`${run.workflowId}-swirl-step-2`]);
      const evalSwirl = run.stages.find((s) => s.id === 'eval-swirl')!;
      expect(evalSwirl.status).toBe('completed');
      // The trained policy records which run and stage it belongs to, and its probe.
      const policy: Array<{ runKey?: string; probe?: { ids: number[] } }> = [];
      for await (const p of new FsArtifactStore(path.join(state, 'artifacts')).read<{ runKey?: string; probe?: { ids: number[] } }>(swirlStage.output!)) policy.push(p);
      expect(policy[0]!.runKey).toBe(`${run.workflowId}/swirl`);
      expect(policy[0]!.probe!.ids.length).toBeGreaterThan(10);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }, 900_000);

  it('with `sampler: trainer` the trainer samples the G actions itself: token ids from the policy it trains, no adapter loaded for sampling', async () => {
    const state = tempStateDir();
    try {
      const r = await swirl(['run', 'pipelines/gsm8k-gpu.yaml', '--json', ...small(state, 2), '--set', 'stages.swirl.sampler=trainer'], envFor(state, 'trainer'), 900_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const run = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
      const swirlStage = run.stages.find((s) => s.id === 'swirl')!;
      expect(swirlStage.status).toBe('completed');
      const curve = (swirlStage.stats as { curve: Array<CurvePoint & { samplerGap?: number }> }).curve;
      expect(curve.map((p) => p.iteration)).toEqual([1, 2]);
      for (const p of curve) {
        expect(p.served).toBe('trainer');
        expect(p.probeNew).toBeUndefined();
        // The trainer scores exactly what it sampled (fp32 here): no off-policy gap.
        expect(Math.abs(p.samplerGap!)).toBeLessThan(1e-3);
      }
      // Every sampled action carries the ids the trainer generated and their log-probs (sampledTokenActions 1).
      const dir = path.join(state, 'train', `${run.workflowId}/swirl`.replace(/[^A-Za-z0-9._-]+/g, '_'));
      const batches = readdirSync(dir).filter((f) => /^batch-\d+-[0-9a-f]+\.jsonl$/.test(f)).sort();
      expect(batches.map((f) => f.slice(0, 11))).toEqual(['batch-00000', 'batch-00001']);
      for (const f of batches) {
        const rows = readFileSync(path.join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; actions: Array<{ tokens?: number[]; samplerLogprobs?: number[] }> });
        expect(rows.length).toBe(1);
        expect(rows[0]!.prompt).toContain('<|im_start|>assistant\n');
        expect(rows[0]!.actions).toHaveLength(4);
        for (const a of rows[0]!.actions) {
          expect(a.tokens!.length).toBeGreaterThan(0);
          expect(a.samplerLogprobs).toHaveLength(a.tokens!.length);
        }
      }
      // Sampling published and loaded nothing: only the final adapter, for eval-swirl, reached the server.
      expect(existsSync(path.join(state, 'lora', `${run.workflowId}-swirl-step-1`))).toBe(false);
      const loaded = (await stub.server.listModels()).map((m) => m.id).filter((id) => id.startsWith(run.workflowId));
      expect(loaded).toEqual([`${run.workflowId}-swirl-step-2`]);
      expect(run.stages.find((s) => s.id === 'eval-swirl')!.status).toBe('completed');
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }, 900_000);

  it('fails the iteration with E_STALE_POLICY when the server keeps serving the base under the new name', async () => {
    const state = tempStateDir();
    const post = (mode: string) => fetch(`${stub.url}/stub/stale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode }) });
    expect((await post('base')).status).toBe(200);
    try {
      const r = await swirl(['run', 'pipelines/gsm8k-gpu.yaml', '--json', ...small(state, 2)], envFor(state, 'stale'), 900_000);
      expect(r.code).not.toBe(0);
      const out = r.stdout + r.stderr;
      expect(out).toContain('E_STALE_POLICY');
      expect(out).toMatch(/-swirl-step-1/);
    } finally {
      await post('off');
      rmSync(state, { recursive: true, force: true });
    }
  }, 900_000);
});
