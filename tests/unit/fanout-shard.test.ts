// The shard activity with several items at once (itemConcurrency): output in
// item order whatever the finishing order, resume from a scratch file whose
// lines are out of order, and a failing item that lets its neighbours finish.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { ItemCache, processShard, stalledAttempts, type ItemProcessor } from '../../activities/fanout.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import type { ShardSpec } from '../../workflows/fanout-types.js';
import { shardLayout } from '../../workflows/stages/fanout-stage.js';

const rowsOf = async (store: MemoryArtifactStore, ref: Awaited<ReturnType<MemoryArtifactStore['put']>>) => {
  const out: unknown[] = [];
  for await (const r of store.read(ref)) out.push(r);
  return out;
};

type Deps = Parameters<typeof processShard>[0];
/** processShard inside a mock activity context (heartbeats, cancellation signal). */
const runShard = (deps: Omit<Deps, 'items'>, spec: ShardSpec) =>
  new MockActivityEnvironment().run(processShard, { ...deps, items: new ItemCache() }, spec) as Promise<Awaited<ReturnType<typeof processShard>>>;

async function setup(n: number) {
  const store = new MemoryArtifactStore();
  const items = await store.put('items', Array.from({ length: n }, (_, i) => ({ id: `q${i}`, n: i })));
  const scratchDir = mkdtempSync(path.join(tmpdir(), 'swirl-shard-'));
  const spec = (over: Partial<ShardSpec> = {}): ShardSpec => ({ shardKey: 'run/stage/shard-00000', stageId: 'stage', processor: 'p', items, start: 0, end: n, outputKind: 'items', config: {}, ...over });
  return { store, scratchDir, spec };
}

/** Finishes items in a scrambled order: item i sleeps (7·i mod 5) ms. */
function scrambled(calls: number[], inFlight: { now: number; max: number }, fail?: number): ItemProcessor {
  return async (item, ctx) => {
    calls.push(ctx.index);
    inFlight.now++;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    try {
      await sleep((7 * ctx.index) % 5);
      if (ctx.index === fail) throw new Error(`model down at item ${ctx.index}`);
      const it = item as { id: string; n: number };
      return ctx.index % 4 === 3 ? { outcome: 'failed', reason: `odd one ${it.id}` } : { outcome: 'succeeded', row: { id: it.id, sq: it.n * it.n } };
    } finally {
      inFlight.now--;
    }
  };
}

describe('processShard with itemConcurrency', () => {
  it('runs items side by side and writes rows in item order, equal to one at a time', async () => {
    const { store, scratchDir, spec } = await setup(23);
    const seqCalls: number[] = [];
    const parCalls: number[] = [];
    const seqFlight = { now: 0, max: 0 };
    const parFlight = { now: 0, max: 0 };
    const seq = await runShard({ store, scratchDir, processors: { p: scrambled(seqCalls, seqFlight) } }, spec());
    // Its own scratch folder: a finished shard's scratch is kept (`.done`) and would answer the second run.
    const parDir = mkdtempSync(path.join(tmpdir(), 'swirl-shard-'));
    const par = await runShard({ store, scratchDir: parDir, processors: { p: scrambled(parCalls, parFlight) } }, spec({ itemConcurrency: 4 }));
    expect(seqFlight.max).toBe(1);
    expect(parFlight.max).toBe(4);
    expect(par.output.hash).toBe(seq.output.hash);
    expect(par.failures.hash).toBe(seq.failures.hash);
    expect(par.counts).toEqual({ succeeded: 18, failed: 5, filtered: 0 });
    expect(((await rowsOf(store, par.output)) as Array<{ id: string }>).map((r) => r.id)).toEqual(
      Array.from({ length: 23 }, (_, i) => i).filter((i) => i % 4 !== 3).map((i) => `q${i}`),
    );
    expect([...parCalls].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(readdirSync(parDir).every((f) => f.endsWith('.jsonl.done'))).toBe(true); // kept as finished after success
  });

  it('a shard whose completion was lost (killed after finishing) rebuilds its result from the kept scratch, running no item again', async () => {
    const { store, scratchDir, spec } = await setup(6);
    const first: number[] = [];
    const a = await runShard({ store, scratchDir, processors: { p: scrambled(first, { now: 0, max: 0 }) } }, spec());
    const again: number[] = [];
    const b = await runShard({ store, scratchDir, processors: { p: scrambled(again, { now: 0, max: 0 }) } }, spec());
    expect(first).toHaveLength(6);
    expect(again).toEqual([]);
    expect(b.output.hash).toBe(a.output.hash);
    expect(b.failures.hash).toBe(a.failures.hash);
    expect(readdirSync(scratchDir).filter((f) => f.endsWith('.done'))).toHaveLength(1);
  });

  it('resumes from a scratch file with lines out of order and a torn last line', async () => {
    const { store, scratchDir, spec } = await setup(12);
    const s = spec({ itemConcurrency: 3 });
    // The scratch file a killed attempt left: items 5, 0, 8 done, a line cut short.
    const id = createHash('sha256').update(JSON.stringify([s.shardKey, s.items.hash, s.start, s.end, s.processor, s.config])).digest('hex');
    const line = (i: number) => JSON.stringify({ i, o: { outcome: 'succeeded', row: { id: `q${i}`, sq: i * i } } });
    writeFileSync(path.join(scratchDir, `${id}.jsonl`), `${line(5)}\n${line(0)}\n${line(8)}\n{"i":9,"o":{"outc`);
    const calls: number[] = [];
    const r = await runShard({ store, scratchDir, processors: { p: scrambled(calls, { now: 0, max: 0 }) } }, s);
    expect([...calls].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 6, 7, 9, 10, 11]);
    const fresh = await runShard({ store, scratchDir, processors: { p: scrambled([], { now: 0, max: 0 }) } }, spec());
    expect(r.output.hash).toBe(fresh.output.hash);
    expect(r.counts).toEqual(fresh.counts);
  });

  it('a failing item stops new items, keeps the finished ones in scratch, and the retry runs only the rest', async () => {
    const { store, scratchDir, spec } = await setup(16);
    const s = spec({ itemConcurrency: 4 });
    const calls: number[] = [];
    const run = runShard({ store, scratchDir, processors: { p: scrambled(calls, { now: 0, max: 0 }, 6) } }, s);
    await expect(run).rejects.toThrow('model down at item 6');
    const [file] = readdirSync(scratchDir);
    const kept = readFileSync(path.join(scratchDir, file!), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    expect(kept).not.toContain(6);
    // Items 0..9 at most were taken (item 6 plus at most three neighbours in flight, and the ones before).
    expect(Math.max(...calls)).toBeLessThanOrEqual(9);
    expect(kept.length).toBe(calls.length - 1);
    const retry: number[] = [];
    const r = await runShard({ store, scratchDir, processors: { p: scrambled(retry, { now: 0, max: 0 }) } }, s);
    expect([...retry].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i).filter((i) => !kept.includes(i)));
    expect(r.counts.succeeded + r.counts.failed).toBe(16);
  });
});

describe('shardLayout', () => {
  it('keeps items in flight within the concurrency and shards few', () => {
    expect(shardLayout(640, 32)).toEqual({ shardSize: 160, itemConcurrency: 8, shardsInFlight: 4 });
    expect(shardLayout(20_000, 32)).toEqual({ shardSize: 256, itemConcurrency: 8, shardsInFlight: 4 });
    expect(shardLayout(12, 2)).toEqual({ shardSize: 12, itemConcurrency: 2, shardsInFlight: 1 });
    expect(shardLayout(1, 1)).toEqual({ shardSize: 1, itemConcurrency: 1, shardsInFlight: 1 });
    expect(shardLayout(0, 8)).toEqual({ shardSize: 8, itemConcurrency: 8, shardsInFlight: 1 });
    for (const c of [1, 2, 3, 7, 8, 9, 10, 17, 32, 33, 100]) {
      for (const n of [1, 5, 64, 1000]) {
        const l = shardLayout(n, c);
        expect(l.shardsInFlight * l.itemConcurrency).toBeLessThanOrEqual(c);
        expect(l.itemConcurrency).toBeGreaterThanOrEqual(1);
        expect(l.shardSize).toBeGreaterThanOrEqual(l.itemConcurrency);
        expect(l.shardSize).toBeLessThanOrEqual(32 * l.itemConcurrency);
      }
    }
  });
});

describe('retries counted by progress (patch shard-progress-v1)', () => {
  const at = (attempt: number, deps: Omit<Deps, 'items'>, spec: ShardSpec) =>
    new MockActivityEnvironment({ attempt }).run(processShard, { ...deps, items: new ItemCache() }, spec) as Promise<Awaited<ReturnType<typeof processShard>>>;
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { type?: string; message: string; nonRetryable?: boolean });

  it('counts only the attempts in a row that finished nothing', () => {
    expect(stalledAttempts([], 0)).toBe(0);
    expect(stalledAttempts([{ attempt: 1, done: 0 }], 0)).toBe(1);
    expect(stalledAttempts([{ attempt: 1, done: 0 }], 3)).toBe(0);
    expect(stalledAttempts([{ attempt: 1, done: 0 }, { attempt: 1, error: 'x' }, { attempt: 2, done: 4 }, { attempt: 3, done: 4 }], 4)).toBe(2);
    expect(stalledAttempts([{ attempt: 1, done: 4 }, { attempt: 2, done: 4 }, { attempt: 3, done: 5 }], 5)).toBe(1);
  });

  it('a shard that keeps finishing items is retried past maxAttempts; one that stalls gives up with the last error', async () => {
    const { store, scratchDir, spec } = await setup(8);
    const s = spec({ noProgressAttempts: 2 });
    // Each attempt finishes one more item, then its "worker dies" (a retryable error).
    let stopAt = 1;
    const dying: ItemProcessor = async (item, ctx) => {
      if (ctx.index >= stopAt) throw new Error(`worker stopped at item ${ctx.index}`);
      return { outcome: 'succeeded', row: item };
    };
    for (let attempt = 1; attempt <= 6; attempt++, stopAt++) {
      const e = await failure(at(attempt, { store, scratchDir, processors: { p: dying } }, s));
      expect(e?.message).toContain(`worker stopped at item ${stopAt}`); // never ShardNoProgress: each attempt made progress
    }
    // Now item 6 fails every time: attempts 7 and 8 finish nothing, attempt 9 gives up.
    const stuck: ItemProcessor = async (item, ctx) => {
      if (ctx.index === 6) throw new Error('model down at item 6');
      return { outcome: 'succeeded', row: item };
    };
    expect((await failure(at(7, { store, scratchDir, processors: { p: stuck } }, s)))?.message).toContain('model down at item 6');
    expect((await failure(at(8, { store, scratchDir, processors: { p: stuck } }, s)))?.message).toContain('model down at item 6');
    const gaveUp = await failure(at(9, { store, scratchDir, processors: { p: stuck } }, s));
    expect(gaveUp?.type).toBe('ShardNoProgress');
    expect(gaveUp?.nonRetryable).toBe(true);
    expect(gaveUp?.message).toMatch(/made no progress in 2 attempts in a row \(6 of 8 items done\); last error: Error: model down at item 6/);
    // A new activity (attempt 1, e.g. the shard restarted after a budget pause) starts a new count and can finish.
    const ok = await at(1, { store, scratchDir, processors: { p: async (item) => ({ outcome: 'succeeded', row: item }) } }, s);
    expect(ok.counts.succeeded).toBe(8);
    expect(readdirSync(scratchDir).every((f) => f.endsWith('.jsonl.done'))).toBe(true); // attempts log removed, scratch kept as finished
  });

  it('without the patch field nothing is recorded (old shard workflows keep Temporal\'s attempt limit)', async () => {
    const { store, scratchDir, spec } = await setup(3);
    const e = await failure(at(9, { store, scratchDir, processors: { p: async () => { throw new Error('down'); } } }, spec()));
    expect(e?.message).toContain('down');
    expect(readdirSync(scratchDir).filter((f) => f.endsWith('.attempts'))).toEqual([]);
  });
});
