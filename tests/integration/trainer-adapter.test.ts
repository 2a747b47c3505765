// The trainer's output runs in the sampler: one real `swirl_trainer step` on the
// embedded Gemma 3 270M (SFT, high learning rate, LoRA on every projection the
// GGUF export maps), then node-llama-cpp loads the step's adapter.gguf on the base
// GGUF and, for the same prompt and seed, answers differently from the base model.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HumanMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { LlamaCppChat } from '../../agents/llama-cpp-chat.js';
import { swirlPaths } from '../../runtime/paths.js';

interface Event {
  event: string;
  [k: string]: unknown;
}

function trainerStep(config: string): Promise<{ code: number | null; events: Event[]; stderr: string }> {
  const p = swirlPaths();
  return new Promise((resolve, reject) => {
    const child = spawn(p.venvPython, ['-m', 'swirl_trainer', 'step', '--config', config], {
      cwd: tmpdir(),
      env: { ...process.env, PYTHONPATH: path.join(p.root, 'trainer') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, events: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event), stderr }));
  });
}

const question = 'Answer the following question.\nWhen you know the answer, write it in just a few words between <answer> and </answer>.\n\nQuestion: What is the color of the sky?';

describe('trainer adapter in node-llama-cpp', () => {
  it('a trained step yields a GGUF adapter that loads and changes the output', async () => {
    const p = swirlPaths();
    const modelPath = path.join(p.models, 'gemma-3-270m-q4_k_m.gguf');
    expect(existsSync(modelPath), `${modelPath} is missing: run \`npm run setup\``).toBe(true);
    expect(existsSync(p.venvPython), 'the Python venv is missing: run `npm run setup`').toBe(true);

    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-trainer-it-'));
    const prompt = `<start_of_turn>user\n${question}<end_of_turn>\n<start_of_turn>model\n`;
    const rows = [
      { stateId: 's0', trajectoryId: 't0', prompt, actions: [{ text: 'The sky is green.\n<answer>green zebra</answer>', reward: 1 }] },
      { stateId: 's1', trajectoryId: 't1', prompt: prompt.replace('the sky', 'grass'), actions: [{ text: 'Grass is green.\n<answer>green zebra</answer>', reward: 1 }] },
    ];
    writeFileSync(path.join(dir, 'batch.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const config = {
      version: 1,
      base: { gguf: modelPath },
      inputAdapter: null,
      outputRoot: path.join(dir, 'checkpoints'),
      batch: path.join(dir, 'batch.jsonl'),
      objective: 'sft',
      lora: { rank: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      optim: { learningRate: 0.02, weightDecay: 0, gradClip: 1.0 },
      klBeta: 0,
      baseline: 'none',
      seed: 0,
      stepIndex: 0,
      packing: true,
      maxContextTokens: 8192,
    };
    writeFileSync(path.join(dir, 'step.json'), JSON.stringify(config));
    const t0 = Date.now();
    const r = await trainerStep(path.join(dir, 'step.json'));
    const t1 = Date.now();
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const done = r.events.at(-1)!;
    expect(done.event).toBe('done');
    expect(r.events.some((e) => e.event === 'progress')).toBe(true);
    const adapter = done.ggufAdapter as string;
    expect(existsSync(adapter)).toBe(true);
    expect((done.metrics as { loss: number }).loss).toBeGreaterThan(0);

    const opts = { modelPath, temperature: 0.7, seed: 7, maxTokens: 16, threads: 1 };
    const msg = [new HumanMessage(question)];
    const base = await new LlamaCppChat(opts).invoke(msg);
    const tuned = await new LlamaCppChat({ ...opts, loraPath: adapter }).invoke(msg);
    const again = await new LlamaCppChat({ ...opts, loraPath: adapter }).invoke(msg);
    expect(String(tuned.content)).toBe(String(again.content)); // same seed, same adapter: same sample
    expect(String(tuned.content)).not.toBe(String(base.content));
    // The step trained on "<answer>green zebra</answer>" at a high learning rate: the word shows up,
    // so the GGUF tensors landed on the right llama.cpp weights (not just loaded without error).
    expect(String(tuned.content)).toMatch(/zebra/);
    expect(String(base.content)).not.toMatch(/zebra/);
    process.stderr.write(`trainer step ${((t1 - t0) / 1000).toFixed(1)}s, three generations ${((Date.now() - t1) / 1000).toFixed(1)}s\nbase:    ${JSON.stringify(base.content)}\ntrained: ${JSON.stringify(tuned.content)}\n`);
  });
});
