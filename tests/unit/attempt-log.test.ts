// The train loop's own attempt count (patch train-attempts-v1, activities/attempt-log.ts):
// failed attempts count, attempts a graceful worker stop interrupted do not, killed ones do.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptLogFile, attemptNote, countAttempts, countedAttempt, watchWorkerStop } from '../../activities/attempt-log.js';
import { Context } from '@temporalio/activity';
import { describeProgress, pendingAttempt, type StageProgress } from '../../cli/fanout-progress.js';
import { ActivityCancellationDetails, defaultPayloadConverter } from '@temporalio/common';

describe('countAttempts', () => {
  it('counts errors and silent deaths, not interruptions, and only attempts before the current one', () => {
    expect(countAttempts([], 1)).toEqual({ counted: 0, interrupted: 0 });
    const lines = [
      { attempt: 1, event: 'start' as const },
      { attempt: 1, event: 'interrupted' as const },
      { attempt: 2, event: 'start' as const },
      { attempt: 2, event: 'error' as const, error: 'TrainerCrashed: out of memory' },
      { attempt: 3, event: 'start' as const }, // killed: no end line
      { attempt: 4, event: 'start' as const },
      { attempt: 4, event: 'interrupted' as const },
      { attempt: 5, event: 'start' as const },
    ];
    expect(countAttempts(lines, 5)).toEqual({ counted: 2, interrupted: 2, lastError: 'attempt 3: the worker stopped without a word (killed, or out of memory)' });
    expect(countAttempts(lines, 3)).toEqual({ counted: 1, interrupted: 1, lastError: 'TrainerCrashed: out of memory' });
  });
});

describe('countAttempts and late ends', () => {
  it('ignores an end line written after a later attempt started', () => {
    const lines = [
      { attempt: 1, event: 'start' as const },
      { attempt: 2, event: 'start' as const }, // attempt 1 was given up by the server (heartbeat timeout)...
      { attempt: 1, event: 'done' as const }, // ...and finished later: attempt 2 had counted it already
      { attempt: 2, event: 'error' as const, error: 'x' },
    ];
    expect(countAttempts(lines, 3).counted).toBe(2);
  });
});

describe('countedAttempt', () => {
  let dir: string;
  let file: string;
  let stopping = false;
  let unwatch: () => void;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'swirl-attempts-'));
    file = attemptLogFile(dir, 'trainStep', 3);
    stopping = false;
    unwatch = watchWorkerStop('test-queue', () => stopping);
  });
  afterEach(() => {
    unwatch();
    rmSync(dir, { recursive: true, force: true });
  });
  const at = <R>(attempt: number, run: () => Promise<R>, limit = 3) => new MockActivityEnvironment({ attempt, taskQueue: 'test-queue' }).run(() => countedAttempt(file, limit, 'trainStep of r/s, iteration 4', run, 10));
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ApplicationFailure);
  const boom = () => Promise.reject(ApplicationFailure.retryable('trainer exited with code 1', 'TrainerCrashed'));

  it('lets worker stops through without limit and fails at the limit of real failures', async () => {
    expect(file).toBe(path.join(dir, 'attempts', 'trainStep-00003.jsonl'));
    // Ten attempts interrupted by worker stops: none counts.
    for (let a = 1; a <= 10; a++) {
      stopping = true;
      const e = await failure(at(a, boom));
      expect(e?.nonRetryable).toBe(false);
      stopping = false;
    }
    // Two failures count and stay retryable; the third is the limit and fails non-retryably with its own type.
    expect((await failure(at(11, boom)))?.nonRetryable).toBe(false);
    expect((await failure(at(12, boom)))?.nonRetryable).toBe(false);
    const last = await failure(at(13, boom));
    expect(last?.nonRetryable).toBe(true);
    expect(last?.type).toBe('TrainerCrashed');
    expect(last?.message).toMatch(/failed 3 of 3 allowed attempts \(10 more interrupted by worker stops\): TrainerCrashed: trainer exited with code 1/);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(lines.filter((l) => l.event === 'interrupted')).toHaveLength(10);
    expect(lines.filter((l) => l.event === 'error')).toHaveLength(3);
  });

  it('counts an attempt killed without a word, and refuses to start past the limit', async () => {
    expect((await failure(at(1, boom)))?.nonRetryable).toBe(false);
    // Attempt 2 "is killed": it starts and never ends (we only simulate its start line).
    void at(2, () => new Promise<never>(() => undefined));
    for (let i = 0; i < 500 && !readFileSync(file, 'utf8').includes('"attempt":2,"event":"start"'); i++) await new Promise((r) => setTimeout(r, 10));
    expect((await failure(at(3, boom)))?.nonRetryable).toBe(true); // 1 error + 1 death + this one = 3
    const refused = await failure(at(4, () => Promise.resolve('never runs')));
    expect(refused?.type).toBe('RetriesExhausted');
    expect(refused?.message).toMatch(/failed 3 of 3 allowed attempts .*last error: TrainerCrashed/);
  });

  it('a new activity (attempt 1) starts a new count, succeeds, and reports its count in heartbeats', async () => {
    for (let a = 1; a <= 2; a++) await failure(at(a, boom));
    expect(await at(1, async () => 'fresh')).toBe('fresh');
    await failure(at(2, boom));
    const note = await at(3, async () => attemptNote(Context.current()));
    expect(note).toEqual({ attempts: { failures: 1, limit: 3 } });
  });

  it('counts only stops of a worker of its own task queue, and trusts the cancellation reason', async () => {
    const other = watchWorkerStop('other-queue', () => true);
    try {
      // A worker of another queue shutting down does not excuse this attempt's failure.
      expect((await failure(at(1, boom)))?.nonRetryable).toBe(false);
      expect(readFileSync(file, 'utf8')).toContain('"event":"error"');
    } finally {
      other();
    }
    const env = (attempt: number) => new MockActivityEnvironment({ attempt, taskQueue: 'test-queue' });
    // Cancelled because its worker shuts down (the SDK says so): an interruption.
    const shutdown = env(2);
    const p = failure(shutdown.run(() => countedAttempt(file, 3, 'x', () => new Promise<never>((_, reject) => Context.current().cancellationSignal.addEventListener('abort', () => reject(new Error('cancelled')))), 10)));
    await new Promise((r) => setTimeout(r, 20));
    shutdown.cancel('WORKER_SHUTDOWN', new ActivityCancellationDetails({ workerShutdown: true }));
    await p;
    // Cancelled by a person (pause): not counted, nothing written.
    const paused = env(3);
    const q = failure(paused.run(() => countedAttempt(file, 3, 'x', () => new Promise<never>((_, reject) => Context.current().cancellationSignal.addEventListener('abort', () => reject(new Error('paused')))), 10)));
    await new Promise((r) => setTimeout(r, 20));
    paused.cancel('PAUSED' as never, new ActivityCancellationDetails({ paused: true }));
    expect((await q)?.message).toBe('paused');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { attempt: number; event: string });
    expect(lines.filter((l) => l.attempt === 2).map((l) => l.event)).toEqual(['start', 'interrupted']);
    expect(lines.filter((l) => l.attempt === 3).map((l) => l.event)).toEqual(['start']);
    expect(countAttempts(lines as never, 4).counted).toBe(2); // attempt 1's error, and attempt 3 (no end: as if killed)
  });

  it('passes non-retryable failures (config errors, budget stops) through uncounted and unchanged', async () => {
    const e = await failure(at(1, () => Promise.reject(ApplicationFailure.nonRetryable('bad lora rank', 'ConfigError'))));
    expect(e?.type).toBe('ConfigError');
    expect(e?.message).toBe('bad lora rank');
    expect(readFileSync(file, 'utf8')).not.toContain('"error"');
  });
});

describe('status line', () => {
  it('shows counted failures under the patch and the attempt limit before it', () => {
    const beat = defaultPayloadConverter.toPayload({ step: 4, attempts: { failures: 2, limit: 3 } });
    const counted = pendingAttempt({ activityType: { name: 'trainStep' }, attempt: 7, maximumAttempts: 0, heartbeatDetails: { payloads: [beat] } });
    expect(counted).toEqual({ activity: 'trainStep', attempt: 7, maxAttempts: 0, counted: { failures: 2, limit: 3 } });
    const progress = (pending: ReturnType<typeof pendingAttempt>): StageProgress => ({
      stageId: 's', totalItems: 16, shards: 16, shardsDone: 4, inFlight: 1, counts: { succeeded: 4, failed: 0, filtered: 0 }, paused: false, itemsDone: 4,
      train: { iteration: 4, total: 16, ...(pending ? { pending } : {}) },
    });
    expect(describeProgress(progress(counted))).toContain('trainStep attempt 7 (2 of 3 allowed failures: one more fails the stage)');
    const old = pendingAttempt({ activityType: { name: 'trainStep' }, attempt: 5, maximumAttempts: 5, heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload({ step: 4 })] } });
    expect(describeProgress(progress(old))).toContain('trainStep attempt 5/5 (the last: let it finish before stopping the worker)');
  });
});
