// The persistent trainer behind `trainStep` (activities/trainer-pool.ts) on the embedded Gemma 3
// 270M: three chained steps give the same checkpoints, bit for bit, as one process per step
// (SWIRL_TRAINER_PERSISTENT=0), even when the trainer is killed with -9 in the middle of a step:
// that attempt fails retryably, the next one starts a new trainer that reloads the last finished
// checkpoint from disk, and the step after it continues from memory.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { trainStep, type TrainStepInput, type TrainStepResult } from '../../activities/train.js';
import { closeTrainers, trainerPool } from '../../activities/trainer-pool.js';
import { trainSettings } from '../../workflows/train-settings.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';
import { tempStateDir } from './helpers.js';

const FILES = ['adapter_model.safetensors', 'optimizer.pt', 'adapter.gguf', 'adapter_config.json'];
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const filesOf = (r: TrainStepResult) => Object.fromEntries(FILES.map((n) => [n, sha(path.join(r.checkpoint, n))]));

function batchFile(dir: string): TrainStepInput['batch'] {
  const prompt = (q: string) => `<start_of_turn>user\nAnswer in a few words between <answer> and </answer>.\n\nQuestion: ${q}<end_of_turn>\n<start_of_turn>model\n`;
  const rows = [
    { stateId: 't0/0', trajectoryId: 't0', prompt: prompt('What colour is the sky?'), actions: [{ text: '<answer>blue</answer>', reward: 1 }, { text: '<answer>green</answer>', reward: 0 }] },
    { stateId: 't1/0', trajectoryId: 't1', prompt: prompt('What is 2+3?'), actions: [{ text: '<answer>5</answer>', reward: 1 }, { text: '<answer>6</answer>', reward: 0 }] },
  ];
  const text = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const file = path.join(dir, 'batch.jsonl');
  writeFileSync(file, text);
  return { path: file, sha256: createHash('sha256').update(text).digest('hex'), states: 2, actions: 4, meanReward: 0.5, validActions: 1, rewards: [1, 0, 1, 0] };
}

function input(batch: TrainStepInput['batch'], index: number, inputAdapter?: string): TrainStepInput {
  const settings = trainSettings({ samplesPerState: 2, learningRate: 1e-3, lora: { rank: 4 } });
  return { runKey: `it-persistent/trained`, index, modelName: 'policy', model: { provider: 'llama-cpp', model: 'gemma3-270m' }, projectRoot: packageRoot, batch, ...(inputAdapter ? { inputAdapter } : {}), settings };
}

/** Runs trainStep as an activity; `onPhase` sees each progress phase the trainer reports. */
function step(inp: TrainStepInput, onPhase?: (phase: string) => void): Promise<TrainStepResult> {
  const env = new MockActivityEnvironment();
  env.on('heartbeat', (d: unknown) => {
    const phase = (d as { phase?: unknown } | undefined)?.phase;
    if (typeof phase === 'string') onPhase?.(phase);
  });
  return env.run(trainStep, swirlPaths().models, inp);
}

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) if (x === undefined) delete process.env[k];
    else process.env[k] = x;
  };
  set(vars);
  return fn().finally(() => set(old));
}

afterAll(() => closeTrainers());

describe('persistent trainer', () => {
  it('kill -9 mid-step: the attempt fails retryably, the rerun reloads the last checkpoint, the final adapter equals one process per step', async () => {
    const p = swirlPaths();
    expect(existsSync(path.join(p.models, 'gemma-3-270m-q4_k_m.gguf')), 'the embedded model is missing: run `npm run setup`').toBe(true);

    const refDir = tempStateDir();
    const batch = batchFile(refDir);
    const ref: TrainStepResult[] = [];
    await withEnv({ SWIRL_STATE_DIR: refDir, SWIRL_TRAINER_PERSISTENT: '0' }, async () => {
      for (let k = 0; k < 3; k++) ref.push(await step(input(batch, k, ref[k - 1]?.checkpoint)));
    });
    expect(trainerPool().pids()).toEqual([]); // the escape hatch starts no persistent trainer

    const dir = tempStateDir();
    await withEnv({ SWIRL_STATE_DIR: dir, SWIRL_TRAINER_PERSISTENT: undefined }, async () => {
      const first = await step(input(batch, 0));
      const [pid] = trainerPool().pids();
      expect(pid).toBeGreaterThan(0);

      // Kill the trainer once step 1 is in its forward/backward pass.
      let killed = false;
      const attempt = step(input(batch, 1, first.checkpoint), (phase) => {
        if (phase === 'forward/backward' && !killed) {
          killed = true;
          process.kill(pid!, 'SIGKILL');
        }
      });
      const failure = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(killed).toBe(true);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe('TrainerCrashed');
      expect((failure as ApplicationFailure).nonRetryable).toBe(false);
      expect((failure as ApplicationFailure).message).toMatch(/SIGKILL/);

      // The retry: a new trainer loads step 0's checkpoint from disk.
      const phases1 = new Set<string>();
      const second = await step(input(batch, 1, first.checkpoint), (ph) => phases1.add(ph));
      const [pid2] = trainerPool().pids();
      expect(pid2).not.toBe(pid);
      expect(second.reused).toBe(false);
      expect(phases1.has('loading base model')).toBe(true);
      // Step 2 continues from the adapter and optimizer state in memory.
      const phases2 = new Set<string>();
      const third = await step(input(batch, 2, second.checkpoint), (ph) => phases2.add(ph));
      expect(phases2.has('continuing from the adapter in memory')).toBe(true);
      expect(phases2.has('loading base model')).toBe(false);
      expect(trainerPool().pids()).toEqual([pid2]);

      expect([first, second, third].map((r) => r.hash)).toEqual(ref.map((r) => r.hash));
      for (const [k, r] of [first, second, third].entries()) expect(filesOf(r), `step ${k}`).toEqual(filesOf(ref[k]!));
      expect(third.metrics.loadSeconds).toBeLessThan(ref[2]!.metrics.loadSeconds!);
    });
  }, 600_000);
});
