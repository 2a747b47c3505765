// kill -9 of a real `swirl worker` in the middle of a train stage on the
// embedded Gemma 3 270M: once while `trainStep`'s Python trainer is running,
// once while `sampleTrainBatch` samples with the first update's adapter. Fresh
// workers pick the run up; the final adapter (PEFT safetensors and GGUF bytes)
// equals an uninterrupted run's, which has its own state dir and ledger so it
// shares nothing. The killed worker's trainer child must not outlive it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { StageState } from '../../workflows/types.js';
import type { TrainProgress } from '../../workflows/train.js';
import { activityAttempts, bin, kill9, startCliWorker, swirl, tempStateDir } from './helpers.js';

const spec = 'tests/integration/fixtures/train-crash.yaml';
const LONG = 900_000;

const startWorker = startCliWorker;

/** `swirl_trainer step` processes started by `parent`, with their age in seconds. */
function trainerChildren(parent: number): Array<{ pid: number; age: number }> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,etimes=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => !!m && Number(m[2]) === parent && m[4]!.includes('swirl_trainer step'))
    .map((m) => ({ pid: Number(m[1]), age: Number(m[3]) }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 600_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** sha256 of the adapter files of the train stage's final checkpoint. */
function adapterHashes(stateDir: string, checkpoint: string): Record<string, string> {
  const dir = path.join(stateDir, 'checkpoints', checkpoint);
  return { 'adapter_model.safetensors': sha(path.join(dir, 'adapter_model.safetensors')), 'adapter.gguf': sha(path.join(dir, 'adapter.gguf')) };
}

describe('a train stage survives kill -9 of its worker', () => {
  it('completes after kills during trainStep and sampleTrainBatch with the uninterrupted run’s adapter, bit for bit', async () => {
    const t0 = Date.now();
    const address = inject('temporalAddress');
    const prefix = `it-train-crash-${process.pid}`;

    const cleanState = tempStateDir();
    const clean = await swirl(['run', spec, '--json'], { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: cleanState, SWIRL_LEDGER: path.join(cleanState, 'ledger.db'), SWIRL_TASK_QUEUE_PREFIX: `${prefix}-clean` }, LONG);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanTrained = (JSON.parse(clean.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'trained')!;
    const cleanStats = cleanTrained.stats as { iterations: number; checkpoint: string; states: number };
    expect(cleanStats.iterations).toBe(2);
    const cleanAdapter = adapterHashes(cleanState, cleanStats.checkpoint);
    const tClean = Date.now();

    const state = tempStateDir();
    const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_LEDGER: path.join(state, 'ledger.db'), SWIRL_TASK_QUEUE_PREFIX: prefix };
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    let worker = await startWorker(env);
    try {
      const started = await swirl(['run', spec, '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const loopId = `${workflowId}/trained`;

      // Kill 1: the first update's trainer has run for 8 s (torch loaded, the model loading or training).
      const trainer = await until('the first trainer process', () => trainerChildren(worker.pid!).find((c) => c.age >= 8), LONG);
      expect(alive(trainer.pid)).toBe(true);
      await kill9(worker);
      const orphanSince = Date.now();
      await until('the orphaned trainer to exit', () => (alive(trainer.pid) ? undefined : true), 10_000, 100);
      const orphanMs = Date.now() - orphanSince;
      worker = await startWorker(env);

      // Kill 2: sampling for the second update (with the first update's adapter) has started.
      const loop = client.workflow.getHandle(loopId);
      await until('sampleTrainBatch of iteration 2', async () => {
        const p = await loop.query<TrainProgress>('trainProgress').catch(() => undefined);
        if (p?.iteration !== 1) return undefined;
        const pending = (await loop.describe()).raw.pendingActivities ?? [];
        // 2 = PENDING_ACTIVITY_STATE_STARTED
        return pending.some((a) => a.activityType?.name === 'sampleTrainBatch' && Number(a.state) === 2) ? true : undefined;
      }, LONG, 200);
      await new Promise((r) => setTimeout(r, 1000));
      await kill9(worker);
      worker = await startWorker(env);

      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, LONG);
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as { status: string; stages: StageState[] };
      expect(st.status).toBe('COMPLETED');
      const trained = st.stages.find((s) => s.id === 'trained')!;
      const stats = trained.stats as { iterations: number; checkpoint: string; states: number };
      expect(stats.iterations).toBe(2);
      // Same inputs (batches, sampled actions, rewards) give the same content address ...
      expect(stats.checkpoint).toBe(cleanStats.checkpoint);
      // ... and the same bytes: the rerun step is bit-identical to the uninterrupted one.
      expect(adapterHashes(state, stats.checkpoint)).toEqual(cleanAdapter);
      // (The policy artifacts themselves differ: they record the checkpoint paths, which are under each run's state dir.)
      // The killed step left no half-written checkpoint behind (its tmp folder was cleaned by the rerun).
      expect(readdirSync(path.join(state, 'checkpoints')).filter((n) => n.endsWith('.tmp'))).toEqual([]);

      // Both kills landed where intended: those activities ran again on a new attempt.
      const acts = await activityAttempts(client, loopId);
      expect(acts.find((a) => a.type === 'trainStep' && a.index === 0)).toMatchObject({ closed: 'completed' });
      expect(acts.find((a) => a.type === 'trainStep' && a.index === 0)!.attempt).toBeGreaterThan(1);
      expect(acts.find((a) => a.type === 'sampleTrainBatch' && a.index === 1)!.attempt).toBeGreaterThan(1);
      console.log(
        `train-crash: ${stats.states} states, checkpoint ${stats.checkpoint.slice(0, 12)}; clean run ${((tClean - t0) / 1000).toFixed(0)} s, crashed run ${((Date.now() - tClean) / 1000).toFixed(0)} s; ` +
          `orphaned trainer (age ${trainer.age} s at the kill) exited ${orphanMs} ms after its worker; attempts ${JSON.stringify(acts.map((a) => `${a.type}#${a.index}:${a.attempt}`))}`,
      );
    } finally {
      await kill9(worker);
      await connection.close();
    }
  }, 3_000_000);
});
