// Worker stops do not use up a train stage's attempts (patch train-attempts-v1,
// activities/attempt-log.ts). The train-crash fixture with `maxAttempts: 2`: its
// first trainer update is interrupted three times the way an operator stops a
// run — SIGTERM to the worker and its trainer child at once, as `kill -TERM --
// -PGID` does — and a fresh `swirl worker` started each time. Temporal counts
// four attempts of that trainStep (before the patch the second stop failed the
// stage); the activity's own log counts three interruptions and no failure, and
// the stage completes.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { StageState } from '../../workflows/types.js';
import { activityAttempts, kill9, startCliWorker, swirl, tempStateDir } from './helpers.js';
import { startOpenAIStub } from './fixtures/openai-stub.js';
import { alive, scriptedJudge, trainerAtWork, trainerChildren, until } from './train-helpers.js';
import { attemptLogFile, type AttemptLine } from '../../activities/attempt-log.js';

const spec = 'tests/integration/fixtures/train-crash.yaml';
const LONG = 900_000;

/** SIGTERM to the worker and its trainer at once (the trainer first: its exit is seen before the worker's own signal). */
async function stopGracefully(worker: ChildProcess, trainer: number): Promise<void> {
  const gone = new Promise((r) => worker.once('exit', r));
  process.kill(trainer, 'SIGTERM');
  worker.kill('SIGTERM');
  await gone;
}

describe('a train stage and worker stops', () => {
  it('does not count attempts interrupted by graceful worker stops against maxAttempts', async () => {
    const address = inject('temporalAddress');
    const stub = await startOpenAIStub({ faultRate: 0, script: scriptedJudge });
    const state = tempStateDir();
    const env = { CI: 'true', SWIRL_LLAMA_THREADS: '1', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_LEDGER: path.join(state, 'ledger.db'), SWIRL_TASK_QUEUE_PREFIX: `it-train-stops-${process.pid}` };
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    let worker = await startCliWorker(env);
    try {
      const started = await swirl(['run', spec, '--set', `models.scripted.baseUrl=${stub.baseUrl}`, '--set', 'stages.trained.retry.maxAttempts=2', '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const loopId = `${workflowId}/trained`;
      for (let stop = 1; stop <= 3; stop++) {
        // The first update's trainer has torch loaded and works (each new worker's trainStep 0 starts a new one).
        let polls = 0;
        const trainer = await until(
          `the trainer at work before stop ${stop}`,
          async () => {
            const t = trainerChildren(worker.pid!).find(trainerAtWork);
            // A stage that failed on its attempts never starts another trainer: say so at once.
            if (!t && ++polls % 10 === 0) {
              const d = await client.workflow.getHandle(workflowId).describe();
              if (d.status.name !== 'RUNNING') throw new Error(`the run ended (${d.status.name}) before stop ${stop}`);
            }
            return t;
          },
          LONG,
          200,
        );
        await stopGracefully(worker, trainer.pid);
        await until('the stopped trainer to exit', () => (alive(trainer.pid) ? undefined : true), 30_000, 100);
        worker = await startCliWorker(env);
      }
      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, LONG);
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as { status: string; stages: StageState[] };
      expect(st.status, JSON.stringify(st.stages.find((s) => s.id === 'trained'))).toBe('COMPLETED');
      expect((st.stages.find((s) => s.id === 'trained')!.stats as { iterations: number }).iterations).toBe(2);

      const acts = await activityAttempts(client, loopId);
      const step0 = acts.find((a) => a.type === 'trainStep' && a.index === 0)!;
      // Temporal saw 4 attempts of a 2-attempt activity: the stops were not counted.
      expect(step0).toMatchObject({ closed: 'completed' });
      expect(step0.attempt).toBe(4);
      // The activity's own log: three interruptions, then the attempt that finished; no failure.
      const log = readFileSync(attemptLogFile(path.join(state, 'train', `${workflowId}_trained`), 'trainStep', 0), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AttemptLine);
      expect(log.filter((l) => l.event === 'interrupted').map((l) => l.attempt)).toEqual([1, 2, 3]);
      expect(log.filter((l) => l.event === 'error')).toEqual([]);
      expect(log.at(-1)).toEqual({ attempt: 4, event: 'done' });
      console.log(`train-stops: attempts ${JSON.stringify(acts.map((a) => `${a.type}#${a.index}:${a.attempt}`))}`);
    } finally {
      await kill9(worker);
      await connection.close();
      await stub.close();
    }
  }, 1_800_000);
});
