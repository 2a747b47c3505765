// The bench baseline's Promise pool and statistics (bench/pool.ts).
import { describe, expect, it } from 'vitest';
import { mean, promisePool, quantile } from '../../bench/pool.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('promisePool', () => {
  it('runs every index once, returns results in index order, never exceeds the concurrency and reaches it', async () => {
    let inFlight = 0;
    let peak = 0;
    const calls: number[] = [];
    const out = await promisePool(20, 4, async (i) => {
      calls.push(i);
      peak = Math.max(peak, ++inFlight);
      await tick((i * 7) % 5); // uneven durations: results still come back in index order
      inFlight--;
      return i * 10;
    });
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
    expect([...calls].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(4);
  });

  it('takes the next index as soon as a slot frees (dynamic balancing)', async () => {
    // Index 0 is slow; with 2 slots the other slot must run 1, 2 and 3 meanwhile.
    const order: number[] = [];
    await promisePool(4, 2, async (i) => {
      await tick(i === 0 ? 60 : 5);
      order.push(i);
    });
    expect(order).toEqual([1, 2, 3, 0]);
  });

  it('rejects with the first failure and starts no new work after it', async () => {
    const started: number[] = [];
    const p = promisePool(10, 2, async (i) => {
      started.push(i);
      await tick(2);
      if (i === 1) throw new Error('boom');
      return i;
    });
    await expect(p).rejects.toThrow('boom');
    expect(started.length).toBeLessThan(10);
  });

  it('rejects a concurrency that is not a positive integer', async () => {
    await expect(promisePool(3, 0, async (i) => i)).rejects.toThrow(/positive integer/);
    expect(await promisePool(0, 3, async (i) => i)).toEqual([]);
  });
});

describe('mean / quantile', () => {
  it('computes them, and refuses empty input', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(() => mean([])).toThrow();
    expect(() => quantile([], 0.5)).toThrow();
  });
});
