// kill -9 of a real `swirl worker` process at five points of a Plan run with
// rollouts on the embedded model, each chosen by an event (a shard's activity
// running, a ledger row, a finished shard, the fan-out's tail) rather than by
// sleeping; fresh workers pick the run up, and the final trajectories are
// byte-identical to an uninterrupted run of the Plan.
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { StageState } from '../../workflows/types.js';
import { Client, Connection } from '@temporalio/client';
import { kill9, ledgerCounts, maxShardAttempt, pendingActivities, startCliWorker, swirl, tempStateDir, until, workflowStatus } from './helpers.js';

const spec = 'tests/fixtures/specs/valid/rollout-small.yaml';

const startWorker = startCliWorker;


describe('a Plan run survives kill -9 of its worker', () => {
  it('completes after 5 kills with the same trajectories as an uninterrupted run', async () => {
    const address = inject('temporalAddress');
    const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: `it-plan-crash-${process.pid}` };

    // The uninterrupted reference run has its own state dir, LLM call ledger and task queues, so the crashed
    // run calls the model itself. It runs first, not side by side: two llama.cpp processes on 2 cores slow
    // each other down many times over (their threads spin), and shard attempts then hit their timeout.
    // 10 minutes, not the helper's 3 (it took 140 s in CI, over 180 s on a loaded machine).
    const clean = await swirl(['run', spec, '--json'], { ...env, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: `${env.SWIRL_TASK_QUEUE_PREFIX}-clean` }, 600_000);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanRollouts = (JSON.parse(clean.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;

    let worker = await startWorker(env);
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    try {
      const started = await swirl(['run', spec, '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const ledger = path.join(env.SWIRL_STATE_DIR, 'ledger.db');
      const fanout = `${workflowId}/rollouts`;
      const shard = (n: number) => `${fanout}/shard-${String(n).padStart(5, '0')}`;
      let completionsAtKill = 0;
      // Each kill point is an event of the run; a point the run has already passed kills at once.
      const killPoints: Array<[string, () => Promise<boolean>]> = [
        // 1. Inside the first shard's activity, before its first model call completed.
        ['shard 0 running', async () => (await pendingActivities(client, shard(0))).some((a) => a.started) || (await workflowStatus(client, shard(0))) === 'COMPLETED'],
        // 2. Right after a model call completed (a ledger row): mid-episode or just before a scratch line.
        ['a new ledger completion', async () => (await ledgerCounts(ledger)).completions > completionsAtKill],
        // 3. Between shards: the first shard's child workflow is done.
        ['shard 0 completed', async () => (await workflowStatus(client, shard(0))) === 'COMPLETED'],
        // 4. The last shard has started.
        ['shard 3 started', async () => (await workflowStatus(client, shard(3))) !== undefined],
        // 5. The fan-out's tail: all shards done, the concatenation scheduled (or already past it).
        ['the fan-out concatenating', async () => (await pendingActivities(client, fanout)).some((a) => a.type === 'concatArtifacts') || (await workflowStatus(client, fanout)) === 'COMPLETED'],
      ];
      for (const [what, reached] of killPoints) {
        await until(what, reached, 600_000);
        completionsAtKill = (await ledgerCounts(ledger)).completions;
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
      expect(await maxShardAttempt(client, `${workflowId}/rollouts`)).toBeGreaterThan(1);
    } finally {
      await kill9(worker);
      await connection.close();
    }
  }, 1_200_000);
});
