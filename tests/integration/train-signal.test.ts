// The training signal through the real path, end to end on the embedded Gemma 3 270M:
// sampleTrainBatch (the real llama.cpp sampler at temperature 1, untruncated, returning the
// sampled token ids and their log-probs) → the reward model (an LLM judge behind
// makeProcessJudge, here a scripted OpenAI-compatible stub: the first valid action judged for
// each question is GOOD, the rest BAD) → trainStep (the real Python trainer). What the model
// writes does not matter: the checks are that the trainer got the sampled ids and log-probs,
// and that one update on the batch raises the log-prob of the rewarded actions relative to
// the penalized ones (the trainer measures both before its update; a second step on the same
// batch measures them under the updated adapter).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { sampleTrainBatch, trainStep, type BatchFile, type SampleBatchInput, type TrainStepInput, type TrainStepResult } from '../../activities/train.js';
import { closeTrainers } from '../../activities/trainer-pool.js';
import { ItemCache } from '../../activities/fanout.js';
import { instructionPrompt } from '../../agents/protocol.js';
import type { StepGroup } from '../../agents/steps.js';
import type { PlanModel } from '../../compiler/plan-types.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { MemoryLedger } from '../../store/ledger.js';
import { trainSettings } from '../../workflows/train-settings.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';
import { tempStateDir } from './helpers.js';

let server: http.Server;
let baseUrl = '';
const judged = new Map<string, number>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const b = JSON.parse(body) as { model: string; messages: Array<{ content: string }> };
      const prompt = b.messages.map((m) => m.content).join('\n');
      const q = /Question: ([^\n]*)/.exec(prompt)?.[1] ?? '?';
      const n = (judged.get(q) ?? 0) + 1;
      judged.set(q, n);
      const content = n === 1 ? 'A good step. GOOD' : 'Not this one. BAD';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: b.model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.close();
  await closeTrainers();
});

const QUESTIONS = [
  'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?',
  'Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?',
];

function group(i: number, question: string): StepGroup {
  const template = readFileSync(path.join(packageRoot, 'pipelines', 'prompts', 'gsm8k-one-shot.txt'), 'utf8');
  const prompt = instructionPrompt({ question, tools: ['calculator'], maxSteps: 3 }, template);
  return {
    trajectoryId: `t${i}`, questionId: `q${i}`, dataset: 'gsm8k', sample: 0, status: 'answered', question, gold: '1', model: 'policy',
    messages: [{ role: 'user', content: prompt }, { role: 'assistant', content: '<answer>1</answer>' }],
    steps: [{ stepIndex: 0, stateLength: 1, actionKind: 'answer', content: '1' }],
  } as StepGroup;
}

describe('training signal, sampler → judge → trainer', () => {
  it('trains on the sampled ids with their log-probs, and one update raises the rewarded actions over the penalized ones', async () => {
    const p = swirlPaths();
    expect(existsSync(path.join(p.models, 'gemma-3-270m-q4_k_m.gguf')), 'the embedded model is missing: run `npm run setup`').toBe(true);
    const dir = tempStateDir();
    const old = process.env.SWIRL_STATE_DIR;
    process.env.SWIRL_STATE_DIR = dir;
    try {
      const store = new FsArtifactStore(path.join(dir, 'artifacts'));
      const steps = await store.put('steps', QUESTIONS.map((q, i) => group(i, q)));
      const batches = await store.put('items', [{ states: QUESTIONS.map((_, i) => ({ t: `t${i}`, s: 0 })) }]);
      const policy: PlanModel = { provider: 'llama-cpp', model: 'gemma3-270m', maxTokens: 24, contextSize: 2048, threads: 2 } as PlanModel;
      const judge: PlanModel = { provider: 'openai-compatible', baseUrl, model: 'scripted-judge' } as PlanModel;
      const settings = trainSettings({ samplesPerState: 6, learningRate: 2e-3, lora: { rank: 4 }, klBeta: 0, seed: 5, rewardModel: { model: 'judge' } });
      const input: SampleBatchInput = { runKey: 'it-signal/train', steps, batches, index: 0, modelName: 'policy', model: policy, settings, projectRoot: packageRoot, models: { policy, judge } };
      const batch = (await new MockActivityEnvironment().run(sampleTrainBatch, store, new ItemCache(), p.models, input, new MemoryLedger())) as BatchFile;

      // Every sampled action went to the trainer as the sampler's ids with one log-prob each.
      const rows = readFileSync(batch.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { actions: Array<{ tokens?: number[]; samplerLogprobs?: number[]; reward: number }> });
      const actions = rows.flatMap((r) => r.actions);
      expect(actions).toHaveLength(12);
      for (const a of actions) {
        expect(a.tokens!.length).toBeGreaterThan(0);
        expect(a.samplerLogprobs).toHaveLength(a.tokens!.length);
      }
      expect(batch.sampledTokenActions).toBe(1);
      expect(batch.sampler).toEqual({ temperature: 1, topK: 0, topP: 1, logprobs: true });
      // The scripted judge gives each question at most one GOOD: if the model wrote a valid action at all, that state has signal.
      const signal = rows.filter((r) => new Set(r.actions.map((a) => a.reward)).size > 1).length;
      expect(signal, 'no state had a rewarded action: the policy wrote no valid action in 12 samples').toBeGreaterThan(0);
      expect(batch.zeroAdvantageStates).toBe(1 - signal / rows.length);

      const step = (index: number, inputAdapter?: string): Promise<TrainStepResult> =>
        new MockActivityEnvironment().run(trainStep, p.models, { runKey: 'it-signal/train', index, modelName: 'policy', model: policy, projectRoot: packageRoot, batch, settings, ...(inputAdapter ? { inputAdapter } : {}) } satisfies TrainStepInput) as Promise<TrainStepResult>;
      const first: TrainStepResult = await step(0);
      const m0 = first.metrics;
      expect(m0.actionsFromTokens).toBe(12);
      expect(m0.samplerTokens).toBe(actions.reduce((n, a) => n + a.tokens!.length, 0));
      // The trainer's dequantized weights vs the sampler's Q4 GGUF: close, not equal.
      expect(Math.abs(m0.samplerLogprobGap!)).toBeLessThan(0.5);
      expect(m0.adapterDelta).toBeGreaterThan(0);
      const second = await step(1, first.checkpoint);
      const m1 = second.metrics;
      console.log(`rewarded ${m0.rewardedActionLogprob} → ${m1.rewardedActionLogprob}, penalized ${m0.penalizedActionLogprob} → ${m1.penalizedActionLogprob}, gap ${m0.samplerLogprobGap}`);
      const margin = (m: Record<string, number>) => m.rewardedActionLogprob! - m.penalizedActionLogprob!;
      expect(m1.rewardedActionLogprob).toBeGreaterThan(m0.rewardedActionLogprob!);
      expect(margin(m1)).toBeGreaterThan(margin(m0));
    } finally {
      if (old === undefined) delete process.env.SWIRL_STATE_DIR;
      else process.env.SWIRL_STATE_DIR = old;
    }
  }, 600_000);
});
