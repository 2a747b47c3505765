import { describe, expect, it } from 'vitest';
import { currentRate, describeProgress, iterationRate, type StageProgress } from '../../cli/fanout-progress.js';

describe('currentRate', () => {
  const now = Date.parse('2026-12-05T10:00:00Z');
  it("sums each running shard's items of its current attempt over that attempt's time", () => {
    // 30 items in 10 minutes on one shard (120 already done before the restart), 6 in 2 minutes on another.
    const r = currentRate(
      [
        { done: 150, resumed: 120, startedAtMs: now - 600_000 },
        { done: 6, resumed: 0, startedAtMs: now - 120_000 },
      ],
      now,
    );
    expect(r).toBeCloseTo(30 / 600 + 6 / 120, 10);
  });

  it('is undefined until an attempt finished an item, and ignores heartbeats of older workers', () => {
    expect(currentRate([{ done: 120, resumed: 120, startedAtMs: now - 60_000 }], now)).toBeUndefined();
    expect(currentRate([{ done: 40 }, { done: 40, startedAtMs: now - 60_000 }], now)).toBeUndefined();
    expect(currentRate([], now)).toBeUndefined();
    // A clock behind the attempt's start does not give a negative or infinite rate.
    expect(currentRate([{ done: 5, resumed: 0, startedAtMs: now + 1000 }], now)).toBeUndefined();
  });
});

describe('iterationRate (train stages)', () => {
  it('is one over the median gap between iteration ends, so a pause without a worker does not stretch the ETA', () => {
    const min = 60_000;
    // Iterations every 5 minutes, then a 3-hour stop, then two more at the same pace.
    const ends = [0, 5 * min, 10 * min, 10 * min + 3 * 60 * min, 10 * min + 3 * 60 * min + 5 * min, 10 * min + 3 * 60 * min + 10 * min];
    expect(iterationRate(ends)).toBeCloseTo(1 / 300, 9);
    // With two gaps the lower one counts (one of them may span the pause).
    expect(iterationRate([0, 4 * min, 4 * min + 60 * min])).toBeCloseTo(1 / 240, 9);
  });

  it('is undefined with fewer than two ends', () => {
    expect(iterationRate([])).toBeUndefined();
    expect(iterationRate([1000])).toBeUndefined();
  });
});

describe('describeProgress', () => {
  it('prints items, shards, rate and ETA of a fan-out stage', () => {
    const p: StageProgress = {
      stageId: 'rollouts',
      totalItems: 600,
      shards: 5,
      shardsDone: 3,
      inFlight: 1,
      counts: { succeeded: 360, failed: 0, filtered: 0 },
      itemsDone: 390,
      itemsPerSecond: 0.125,
      etaSeconds: 210 / 0.125,
    } as StageProgress;
    expect(describeProgress(p)).toBe('390/600 items, shards 3/5 (1 running), 0.13 items/s, ETA 1680s');
  });

  it('prints a train stage with its pending activity once it is retried, and says when the next interruption would fail it', () => {
    const base = { stageId: 'swirl', totalItems: 16, shards: 16, shardsDone: 6, inFlight: 1, counts: { succeeded: 6, failed: 0, filtered: 0 }, itemsDone: 6, etaSeconds: 3000 } as StageProgress;
    const train = { iteration: 6, total: 16, meanReward: 0.891, loss: -0.3811, kl: 0.0047 };
    expect(describeProgress({ ...base, train: { ...train, pending: { activity: 'trainStep', attempt: 1, maxAttempts: 5 } } })).toBe('iteration 6/16, reward 0.891, loss -0.3811, KL 0.0047, ETA 3000s');
    expect(describeProgress({ ...base, train: { ...train, pending: { activity: 'sampleTrainBatch', attempt: 3, maxAttempts: 5 } } })).toBe(
      'iteration 6/16, reward 0.891, loss -0.3811, KL 0.0047, ETA 3000s, sampleTrainBatch attempt 3/5',
    );
    expect(describeProgress({ ...base, train: { ...train, pending: { activity: 'trainStep', attempt: 5, maxAttempts: 5 } } })).toMatch(/trainStep attempt 5\/5 \(the last: let it finish before stopping the worker\)$/);
    expect(describeProgress({ ...base, train: { ...train, pending: { activity: 'trainStep', attempt: 7, maxAttempts: 0 } } })).toMatch(/trainStep attempt 7$/);
  });
});
