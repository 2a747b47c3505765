// kill -9 of a real `swirl worker` in the middle of a train stage on the
// embedded Gemma 3 270M (the rollouts before it come from a scripted stub):
// once while `trainStep`'s Python trainer is running, once while
// `sampleTrainBatch` samples with the first update's adapter. Fresh workers
// pick the run up; the final adapter (PEFT safetensors and GGUF bytes) equals
// an uninterrupted run's, which has its own state dir and ledger so it shares
// nothing. The killed worker's trainer child must not outlive it, and the
// sample finished before the second kill is not paid again.
//
// The kills are placed by events, not by sleeping: the first when the worker's
// trainer child has mapped the base model's weights (/proc/PID/maps: torch and
// the model are loaded, it trains or is about to), the second when the ledger
// shows the second sample of iteration 2 in flight (its attempt row written,
// its completion not yet). The uninterrupted reference run goes on in parallel
// (its own queues, state dir and ledger): the crashed run spends much of its
// time waiting for heartbeat timeouts and fresh workers. Both runs generate
// with one llama.cpp thread (the trainer uses one too), so two runs fit the
// 2 cores of CI without oversubscribing them (spinning llama.cpp threads
// crawl when they share cores); both use the same count, so they sample alike.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { StageState } from '../../workflows/types.js';
import type { TrainProgress } from '../../workflows/train.js';
import type { TrainCurvePoint } from '../../workflows/train-curve.js';
import { iterationRate } from '../../cli/fanout-progress.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import { activityAttempts, kill9, startCliWorker, swirl, tempStateDir } from './helpers.js';
import { startOpenAIStub } from './fixtures/openai-stub.js';
import { alive, scriptedJudge, trainerAtWork, trainerChildren, until } from './train-helpers.js';

const spec = 'tests/integration/fixtures/train-crash.yaml';
const LONG = 900_000;
/** Sample calls per iteration (batchStates 2 × samplesPerState 4 in the fixture): iteration 1 makes calls 1..S, iteration 2 makes S+1..2S. */
const S = 8;

/** The train stage's sampler calls in a ledger file: attempts started and calls completed (read-only, while workers write). */
class SampleCalls {
  private db: Database.Database | undefined;
  constructor(private readonly file: string) {}
  /** Attempts of the stage's sample calls (those of judge calls it has completed left out) and completed sample calls. */
  read(): { attempts: number; completed: number } {
    if (!this.db) {
      if (!existsSync(this.file)) return { attempts: 0, completed: 0 };
      this.db = new Database(this.file, { readonly: true, fileMustExist: true });
    }
    const n = (sql: string) => (this.db!.prepare(sql).get() as { n: number }).n;
    try {
      return {
        attempts: n("SELECT COUNT(*) AS n FROM attempts WHERE stage_id = 'trained' AND key NOT IN (SELECT key FROM calls WHERE purpose <> 'sample')"),
        completed: n("SELECT COUNT(*) AS n FROM calls WHERE stage_id = 'trained' AND purpose = 'sample'"),
      };
    } catch {
      return { attempts: 0, completed: 0 }; // the worker has not created the tables yet
    }
  }
  close(): void {
    this.db?.close();
  }
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
    // The rollouts' scripted model (the train stage samples from the embedded one).
    const stub = await startOpenAIStub({ faultRate: 0, script: scriptedJudge });
    const scripted = ['--set', `models.scripted.baseUrl=${stub.baseUrl}`];

    // The reference run, in parallel with the crashed one below.
    const cleanState = tempStateDir();
    let tClean = 0;
    const cleanRun = swirl(['run', spec, ...scripted, '--json'], { CI: 'true', SWIRL_LLAMA_THREADS: '1', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: cleanState, SWIRL_LEDGER: path.join(cleanState, 'ledger.db'), SWIRL_TASK_QUEUE_PREFIX: `${prefix}-clean` }, LONG).then((r) => {
      tClean = Date.now();
      return r;
    });

    const state = tempStateDir();
    const ledgerFile = path.join(state, 'ledger.db');
    const env = { CI: 'true', SWIRL_LLAMA_THREADS: '1', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_LEDGER: ledgerFile, SWIRL_TASK_QUEUE_PREFIX: prefix };
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const samples = new SampleCalls(ledgerFile);
    let worker = await startCliWorker(env);
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    try {
      const started = await swirl(['run', spec, ...scripted, '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const loopId = `${workflowId}/trained`;

      // Kill 1: the first update's trainer has loaded the model and trains.
      const trainer = await until('the first trainer process to load the model', () => trainerChildren(worker.pid!).find(trainerAtWork), LONG, 200);
      expect(alive(trainer.pid)).toBe(true);
      await kill9(worker);
      mark('kill 1');
      const orphanSince = Date.now();
      await until('the orphaned trainer to exit', () => (alive(trainer.pid) ? undefined : true), 10_000, 100);
      const orphanMs = Date.now() - orphanSince;
      worker = await startCliWorker(env);

      // Kill 2: iteration 2's sampling (with the first update's adapter) has finished one sample and
      // is making the next: its attempt is in the ledger, its completion is not.
      const inFlight = await until(
        'the last sample call of iteration 2 in flight',
        () => {
          const c = samples.read();
          if (c.completed >= 2 * S) throw new Error(`iteration 2 finished sampling before the kill could land: ${JSON.stringify(c)}`);
          // A judge call in flight (its attempt is in the ledger, not yet known as a judge call) is not the sample.
          const judging = stub.requests.some((r) => !r.done);
          return c.attempts >= 2 * S && c.completed === 2 * S - 1 && !judging ? c : undefined;
        },
        LONG,
        50,
      );
      await kill9(worker);
      mark('kill 2');
      expect(inFlight.completed).toBe(2 * S - 1);
      worker = await startCliWorker(env);

      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, LONG);
      mark('crashed run done');
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as { status: string; stages: StageState[] };
      expect(st.status).toBe('COMPLETED');
      const trained = st.stages.find((s) => s.id === 'trained')!;
      const stats = trained.stats as { iterations: number; checkpoint: string; states: number; curve: TrainCurvePoint[] };
      expect(stats.iterations).toBe(2);
      // The comparison below means something only if an update moved the adapter (an all-zero-advantage
      // run would end on the initial adapter whatever a rerun reloaded).
      const deltas = stats.curve.map((p) => p.adapterDelta ?? 0);
      expect(Math.max(...deltas), `every update left the adapter unchanged: ${JSON.stringify(stats.curve)}`).toBeGreaterThan(0);
      // The train loop's pace survives the kills: its iteration ends are rebuilt from history (swirl status's ETA).
      const progress = await client.workflow.getHandle(loopId).query<TrainProgress>('trainProgress');
      expect(progress.recentEnds).toHaveLength(2);
      expect(iterationRate(progress.recentEnds!)).toBeGreaterThan(0);

      const clean = await cleanRun;
      expect(clean.code, clean.stderr).toBe(0);
      const cleanTrained = (JSON.parse(clean.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'trained')!;
      const cleanStats = cleanTrained.stats as { iterations: number; checkpoint: string; states: number };
      expect(cleanStats.iterations).toBe(2);
      // Same inputs (batches, sampled actions, rewards) give the same content address ...
      expect(stats.checkpoint).toBe(cleanStats.checkpoint);
      // ... and the same bytes: the rerun step is bit-identical to the uninterrupted one.
      expect(adapterHashes(state, stats.checkpoint)).toEqual(adapterHashes(cleanState, cleanStats.checkpoint));
      // (The policy artifacts themselves differ: they record the checkpoint paths, which are under each run's state dir.)
      // The killed step left no half-written checkpoint behind (its tmp folder was cleaned by the rerun).
      expect(readdirSync(path.join(state, 'checkpoints')).filter((n) => n.endsWith('.tmp'))).toEqual([]);

      // Both kills landed where intended: those activities ran again on a new attempt.
      const acts = await activityAttempts(client, loopId);
      expect(acts.find((a) => a.type === 'trainStep' && a.index === 0)).toMatchObject({ closed: 'completed' });
      expect(acts.find((a) => a.type === 'trainStep' && a.index === 0)!.attempt).toBeGreaterThan(1);
      expect(acts.find((a) => a.type === 'sampleTrainBatch' && a.index === 1)!.attempt).toBeGreaterThan(1);
      // The sample finished before kill 2 came from the ledger on the rerun: every sample was paid once.
      const ledger = new SqliteLedger(ledgerFile);
      try {
        const used = (await ledger.stats({ runId: workflowId })).byStage.trained!;
        const db = new Database(ledgerFile, { readonly: true });
        const judged = (db.prepare("SELECT COUNT(*) AS n FROM uses WHERE run_id = ? AND stage_id = 'trained' AND purpose <> 'sample' AND reused = 0").get(workflowId) as { n: number }).n;
        db.close();
        expect(judged).toBeGreaterThan(0);
        expect(used.calls - judged).toBe(2 * S);
        expect(used.reused).toBeGreaterThanOrEqual(1);
        expect((await ledger.audit()).duplicated).toEqual([]);
      } finally {
        ledger.close();
      }
      console.log(
        `train-crash: ${stats.states} states, checkpoint ${stats.checkpoint.slice(0, 12)}, adapter deltas ${JSON.stringify(deltas)}, rewards ${JSON.stringify(stats.curve.map((p) => p.meanReward))}; clean run ${((tClean - t0) / 1000).toFixed(0)} s (in parallel), ${marks.join(', ')}; ` +
          `orphaned trainer (age ${trainer.age} s at the kill) exited ${orphanMs} ms after its worker; attempts ${JSON.stringify(acts.map((a) => `${a.type}#${a.index}:${a.attempt}`))}`,
      );
    } finally {
      samples.close();
      await kill9(worker);
      await connection.close();
      await cleanRun.catch(() => undefined);
      await stub.close();
    }
  }, 3_000_000);
});
