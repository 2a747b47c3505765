// kill -9 of a real `swirl worker` process at five points of a Plan run with
// rollouts on the embedded model; fresh workers pick the run up, and the
// final trajectories are byte-identical to an uninterrupted run of the Plan.
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { StageState } from '../../workflows/types.js';
import { Client, Connection } from '@temporalio/client';
import { bin, kill9, maxShardAttempt, startCliWorker, swirl, tempStateDir } from './helpers.js';

const spec = 'tests/fixtures/specs/valid/rollout-small.yaml';

const startWorker = startCliWorker;


describe('a Plan run survives kill -9 of its worker', () => {
  it('completes after 5 kills with the same trajectories as an uninterrupted run', async () => {
    const address = inject('temporalAddress');
    const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: `it-plan-crash-${process.pid}` };

    // The uninterrupted run keeps its own LLM call ledger, so the crashed run calls the model itself.
    // The uninterrupted reference run: 10 minutes, not the helper's 3 (it took 140 s in CI, over 180 s on a loaded machine).
    const clean = await swirl(['run', spec, '--json'], { ...env, SWIRL_LEDGER: path.join(tempStateDir(), 'ledger.db') }, 600_000);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanRollouts = (JSON.parse(clean.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;

    let worker = await startWorker(env);
    try {
      const started = await swirl(['run', spec, '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      for (const delay of [3000, 5000, 4000, 6000, 3500]) {
        await new Promise((r) => setTimeout(r, delay));
        await kill9(worker);
        worker = await startWorker(env);
      }
      // `status --follow` waits for the end, then reports.
      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, 300_000);
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as { status: string; stages: StageState[] };
      expect(st.status).toBe('COMPLETED');
      const rollouts = st.stages.find((s) => s.id === 'rollouts')!;
      expect(rollouts.counts).toEqual({ succeeded: 4, failed: 0, filtered: 0 });
      expect(rollouts.output!.hash).toBe(cleanRollouts.output!.hash);
      const hist = JSON.parse((await swirl(['history', workflowId, '--json'], env)).stdout) as { status: string };
      expect(hist.status).toBe('COMPLETED');
      // At least one kill landed inside a rollout shard, which resumed on a new attempt.
      const connection = await Connection.connect({ address });
      try {
        expect(await maxShardAttempt(new Client({ connection }), `${workflowId}/rollouts`)).toBeGreaterThan(1);
      } finally {
        await connection.close();
      }
    } finally {
      await kill9(worker);
    }
  }, 1_200_000);
});
