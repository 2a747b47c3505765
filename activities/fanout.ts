// The batch activity behind every shard, and the merge activity. A shard
// writes one line per finished item to a scratch file; a retried attempt
// (after a crash, a kill -9, a timeout) reads that file and runs only the
// items it does not list, so finished items are never processed twice. A
// shard may run several items at once (`itemConcurrency`).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { withBudget } from '../agents/budget.js';
import { breakerOpenOf, isProgrammingError } from '../agents/limits.js';
import type { ArtifactKind } from '../compiler/stage-kinds.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { ItemCounts, ShardResult, ShardSpec } from '../workflows/fanout-types.js';
import { redact } from '../runtime/redact.js';
import { errorText } from './attempt-log.js';

export type ItemOutcome = { outcome: 'succeeded'; row: unknown } | { outcome: 'failed'; reason: string } | { outcome: 'filtered'; reason?: string };

export interface ItemContext {
  index: number;
  shardKey: string;
  stageId: string;
  config: Record<string, unknown>;
  /** Aborted when the activity is cancelled. */
  signal: AbortSignal;
}

/**
 * Turns one input item into one outcome. Return `failed` for a problem with
 * this item (it is recorded and the shard goes on); throw for a problem with
 * the environment (a model server down): the activity is retried and resumes.
 */
export type ItemProcessor = (item: unknown, ctx: ItemContext) => Promise<ItemOutcome>;

/** Shard activities heartbeat at least this often; fan-outs use a heartbeat timeout of a few of these. */
export const HEARTBEAT_EVERY_MS = 2_000;

interface ScratchLine {
  i: number;
  o: ItemOutcome;
}

/** Items of an artifact, parsed once per process (artifacts are immutable). */
export class ItemCache {
  private readonly entries = new Map<string, { rows: unknown[]; bytes: number }>();
  private bytes = 0;
  constructor(private readonly maxBytes = 256 * 1024 * 1024) {}

  async get(store: ArtifactStore, ref: ArtifactRef): Promise<unknown[]> {
    const hit = this.entries.get(ref.hash);
    if (hit) return hit.rows;
    const rows: unknown[] = [];
    for await (const r of store.read(ref)) rows.push(r);
    if (ref.bytes <= this.maxBytes) {
      // Evict the oldest entries until the new one fits.
      for (const [hash, e] of this.entries) {
        if (this.bytes + ref.bytes <= this.maxBytes) break;
        this.entries.delete(hash);
        this.bytes -= e.bytes;
      }
      this.entries.set(ref.hash, { rows, bytes: ref.bytes });
      this.bytes += ref.bytes;
    }
    return rows;
  }
}

async function readScratch(file: string): Promise<ScratchLine[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  const lastNewline = text.lastIndexOf('\n');
  // A line cut short by a crash is dropped (and truncated away) and redone.
  if (lastNewline + 1 !== text.length) await truncate(file, lastNewline + 1);
  const lines: ScratchLine[] = [];
  for (const l of text.slice(0, lastNewline + 1).split('\n')) if (l) lines.push(JSON.parse(l) as ScratchLine);
  return lines;
}

export interface ShardDeps {
  store: ArtifactStore;
  scratchDir: string;
  processors: Record<string, ItemProcessor>;
  items: ItemCache;
}

/**
 * A shard's heartbeat details: items done of all, and how many were already done when this
 * attempt started (its scratch file), so `swirl status` can tell this attempt's own pace from a
 * total that includes hours without a worker. `resumed` is absent until the scratch file is read.
 */
export interface ShardBeat {
  done: number;
  of: number;
  resumed?: number;
}

export async function processShard(deps: ShardDeps, spec: ShardSpec): Promise<Omit<ShardResult, 'index'>> {
  const processor = deps.processors[spec.processor];
  if (!processor) throw ApplicationFailure.nonRetryable(`no item processor \`${spec.processor}\` is registered on this worker`, 'ConfigError');
  const ctx = Context.current();
  // Heartbeat on a timer from the start (reading a large items artifact takes
  // time too) as well as per item: one item (an episode) can take longer than
  // the heartbeat timeout, and a live worker must not look dead.
  let beat: ShardBeat = { done: 0, of: spec.end - spec.start };
  const timer = setInterval(() => ctx.heartbeat(beat), HEARTBEAT_EVERY_MS);
  try {
    return await runShard(deps, spec, processor, ctx, (b) => (beat = b));
  } finally {
    clearInterval(timer);
  }
}

async function runShard(deps: ShardDeps, spec: ShardSpec, processor: ItemProcessor, ctx: Context, progress: (beat: ShardBeat) => void): Promise<Omit<ShardResult, 'index'>> {
  // The scratch name covers everything that determines the shard's results.
  const id = createHash('sha256').update(JSON.stringify([spec.shardKey, spec.items.hash, spec.start, spec.end, spec.processor, spec.config])).digest('hex');
  await mkdir(deps.scratchDir, { recursive: true });
  const scratch = path.join(deps.scratchDir, `${id}.jsonl`);
  const attempts = `${scratch}.attempts`;
  // A finished shard's scratch is kept as `.done` for a day: an attempt whose completion never
  // reached the server (killed right after finishing) then rebuilds its result from it instead
  // of running every item again.
  if (!existsSync(scratch) && existsSync(`${scratch}.done`)) await rename(`${scratch}.done`, scratch).catch(() => undefined);
  await sweepFinished(deps.scratchDir);
  const done = await readScratch(scratch);
  if (spec.noProgressAttempts) await checkProgress(spec, ctx.info.attempt, done.length, attempts);
  try {
    return await runItems(deps, spec, processor, ctx, progress, scratch, done, attempts);
  } catch (e) {
    // What the next attempt reports if it finds this one made no progress (a killed worker writes nothing).
    if (spec.noProgressAttempts) await appendFile(attempts, JSON.stringify({ attempt: ctx.info.attempt, error: redact(errorText(e)).slice(0, 500) }) + '\n').catch(() => undefined);
    throw e;
  }
}

/** How long a finished shard's scratch is kept (see runShard). */
export const FINISHED_SCRATCH_TTL_MS = 24 * 3600_000;
let lastSweep = 0;

/** Removes finished shards' scratch files older than the TTL (at most once a minute per process). */
async function sweepFinished(dir: string, now = Date.now()): Promise<void> {
  if (now - lastSweep < 60_000) return;
  lastSweep = now;
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.done')) continue;
    const p = path.join(dir, f);
    const st = await stat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > FINISHED_SCRATCH_TTL_MS) await rm(p, { force: true });
  }
}

interface AttemptLine {
  attempt: number;
  /** Items finished when the attempt started. */
  done?: number;
  /** Why it failed, when it failed by an error (not when its worker died). */
  error?: string;
}

/** Attempts in a row, ending with the last one, that finished no item (their start counts equal the next start's). */
export function stalledAttempts(lines: readonly AttemptLine[], doneNow: number): number {
  const starts = lines.filter((l) => typeof l.done === 'number').map((l) => l.done!);
  let n = 0;
  let after = doneNow;
  for (let k = starts.length - 1; k >= 0 && starts[k] === after; k--) {
    n++;
    after = starts[k]!;
  }
  return n;
}

/**
 * Patch `shard-progress-v1` (workflows/shard.ts): Temporal retries the shard without limit; the
 * shard gives up itself after `noProgressAttempts` attempts in a row that finished no item, with
 * the last error it saw. A hard cap of 100 × that many attempts guards against an attempts log
 * that cannot be written.
 */
async function checkProgress(spec: ShardSpec, attempt: number, doneNow: number, file: string): Promise<void> {
  const limit = spec.noProgressAttempts!;
  // Attempt 1 is a new activity (a new shard run, e.g. after a budget pause): it starts a new count.
  if (attempt === 1) {
    await writeFile(file, JSON.stringify({ attempt, done: doneNow }) + '\n');
    return;
  }
  const lines: AttemptLine[] = [];
  try {
    for (const l of (await readFile(file, 'utf8')).split('\n')) {
      try {
        if (l.trim()) lines.push(JSON.parse(l) as AttemptLine);
      } catch {
        // a line cut short by a crash
      }
    }
  } catch {
    // no attempts yet
  }
  const stalled = stalledAttempts(lines, doneNow);
  if (stalled >= limit || attempt > 100 * limit) {
    const last = [...lines].reverse().find((l) => l.error)?.error;
    throw ApplicationFailure.create({
      message: `shard ${spec.shardKey} made no progress in ${stalled} attempts in a row (${doneNow} of ${spec.end - spec.start} items done); last error: ${last ?? 'none recorded (the worker stopped, or the attempt timed out)'}`,
      type: 'ShardNoProgress',
      nonRetryable: true,
    });
  }
  await appendFile(file, JSON.stringify({ attempt, done: doneNow }) + '\n');
}

async function runItems(
  deps: ShardDeps,
  spec: ShardSpec,
  processor: ItemProcessor,
  ctx: Context,
  progress: (beat: ShardBeat) => void,
  scratch: string,
  done: ScratchLine[],
  attempts: string,
): Promise<Omit<ShardResult, 'index'>> {
  const items = await deps.items.get(deps.store, spec.items);
  const finished = new Set(done.map((l) => l.i));
  const todo: number[] = [];
  for (let i = spec.start; i < spec.end; i++) if (!finished.has(i)) todo.push(i);
  const fh = await open(scratch, 'a');
  const resumed = done.length;
  const beat = (): ShardBeat => ({ done: done.length, of: spec.end - spec.start, resumed });
  progress(beat());
  // Items run `itemConcurrency` at a time, taken in index order; each finished
  // one is a scratch line (written one after another, so only the last line
  // can be cut short by a crash). After a failure no new item starts, the
  // items in flight finish and are kept, then the failure is thrown.
  let next = 0;
  let failure: { error: unknown } | undefined;
  let writes: Promise<unknown> = Promise.resolve();
  let lastBeat = -Infinity;
  const lane = async () => {
    while (!failure && next < todo.length) {
      const i = todo[next++]!;
      const itemCtx: ItemContext = { index: i, shardKey: spec.shardKey, stageId: spec.stageId, config: spec.config, signal: ctx.cancellationSignal };
      let outcome: ItemOutcome;
      try {
        outcome = await withBudget(runOfShard(spec), spec.control?.budget, () => processor(items[i], itemCtx));
      } catch (e) {
        const error = isProgrammingError(e) ? internalFailure(e, spec, i, items[i]) : e;
        failure ??= { error: spec.control?.pauseOnBreaker ? (breakerFailure(error) ?? error) : error };
        return;
      }
      const line: ScratchLine = { i, o: outcome };
      // The lane goes on while the line is written: a crash before it lands
      // only redoes the item (its model calls come back from the ledger).
      writes = writes.then(() => fh.write(JSON.stringify(line) + '\n'));
      writes.catch(() => undefined); // a failed write is thrown by the `await writes` below, not as an unhandled rejection
      done.push(line);
      progress(beat());
      // Progress for the heartbeat, at most once a second (the timer covers long items).
      if (performance.now() - lastBeat >= 1_000) {
        lastBeat = performance.now();
        ctx.heartbeat(beat());
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(spec.itemConcurrency ?? 1, todo.length)) }, lane));
    await writes;
    if (failure) throw failure.error;
    await fh.sync();
  } finally {
    await fh.close();
  }
  // Rows in item order, however the items interleaved.
  done.sort((a, b) => a.i - b.i);
  const counts: ItemCounts = { succeeded: 0, failed: 0, filtered: 0 };
  const rows: unknown[] = [];
  const failures: unknown[] = [];
  for (const { i, o } of done) {
    counts[o.outcome]++;
    if (o.outcome === 'succeeded') rows.push(o.row);
    else if (o.outcome === 'failed') failures.push({ index: i, id: (items[i] as { id?: unknown } | undefined)?.id ?? null, reason: redact(o.reason) });
  }
  const result = {
    shardKey: spec.shardKey,
    output: await deps.store.put(spec.outputKind, rows),
    failures: await deps.store.put('failures', failures),
    counts,
  };
  await rm(attempts, { force: true });
  await rename(scratch, `${scratch}.done`);
  return result;
}

/**
 * A bug in swirl (a TypeError etc. from its own code) while processing an
 * item: a non-retryable InternalError naming the stage and the item, with the
 * innermost frames, so no attempt and no breaker trip is spent on it.
 */
export function internalFailure(e: unknown, spec: Pick<ShardSpec, 'stageId' | 'shardKey'>, index: number, item: unknown): ApplicationFailure {
  const err = e as Error;
  const id = (item as { id?: unknown; question?: { id?: unknown } } | undefined)?.id ?? (item as { question?: { id?: unknown } } | undefined)?.question?.id;
  const frames = String(err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 3).map((l) => l.trim());
  return ApplicationFailure.create({
    message: `internal error in stage ${spec.stageId}, item ${index}${id !== undefined ? ` (${String(id)})` : ''}: ${err.name}: ${err.message}`,
    type: 'InternalError',
    nonRetryable: true,
    details: [{ stageId: spec.stageId, shardKey: spec.shardKey, item: index, ...(id !== undefined ? { id: String(id) } : {}), frames, hint: 'this is a bug in swirl, not in the spec or the model: report it with these details' }],
  });
}

/** The run (pipeline workflow id) of a shard: shard keys are `<run id>/<stage id>/shard-N`. */
export function runOfShard(spec: Pick<ShardSpec, 'shardKey' | 'stageId'>): string {
  const at = spec.shardKey.lastIndexOf(`/${spec.stageId}/shard-`);
  return at > 0 ? spec.shardKey.slice(0, at) : spec.shardKey;
}

/**
 * An open breaker as the failure the fan-out workflow pauses on: not retryable
 * (no attempt of the shard's retry policy is spent waiting for the model), with
 * the model and when its breaker becomes half-open.
 */
export function breakerFailure(e: unknown): ApplicationFailure | undefined {
  const d = breakerOpenOf(e);
  if (!d) return undefined;
  return ApplicationFailure.create({
    message: `model ${d.model} breaker open until ${new Date(d.until).toISOString()}: ${(e as Error).message ?? String(e)}`,
    type: 'ModelBreakerOpen',
    nonRetryable: true,
    details: [d],
  });
}

export async function concatArtifacts(store: ArtifactStore, input: { parts: ArtifactRef[]; kind: ArtifactKind }): Promise<ArtifactRef> {
  async function* rows() {
    for (const p of input.parts) yield* store.read(p);
  }
  return store.put(input.kind, rows());
}
