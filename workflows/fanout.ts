// The sharded fan-out of one stage: items [0, n) of an artifact are cut into
// shards, each run by a child workflow (deterministic id `<prefix>/shard-N`),
// at most `concurrency` at a time. Shard outputs are concatenated in shard
// order, so the result is byte-identical however the shards interleave. Before
// its history grows large the workflow lets in-flight shards finish, merges
// them into one chunk and continues as new, carrying only references.
//
// Breaker and budget (patch `fanout-pause-v1`): a shard that fails with
// ModelBreakerOpen (a model's circuit breaker opened, activities/fanout.ts) or
// BudgetReached (the run spent its budget, agents/budget.ts) is not a stage
// failure: it goes back on a list of stopped shards and the stage pauses —
// until the breaker's half-open time (a workflow timer, or a resume), or until
// the run's budget is raised (`fanoutBudget` signal, forwarded by the pipeline
// from `swirl resume RUN --max-tokens N`). The stopped shards then start again
// as new child runs (attempt 1: their retry policy is untouched) and resume
// from their scratch files; calls already made come from the ledger.
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { FanoutCarry, FanoutInput, FanoutProgress, FanoutResult, FanoutStop, ItemCounts, RunBudget, ShardResult, ShardSpec } from './fanout-types.js';
import { shardWorkflow } from './shard.js';
import { HEARTBEAT_TIMEOUT_MS } from './heartbeat.js';

export const FANOUT_PAUSE_PATCH = 'fanout-pause-v1';

export const fanoutProgressQuery = defineQuery<FanoutProgress>('fanoutProgress');
export const fanoutPauseSignal = defineSignal<[boolean]>('fanoutPause');
/** The run's budget was raised: stopped shards may start again. */
export const fanoutBudgetSignal = defineSignal<[RunBudget]>('fanoutBudget');
/** Sent by a fan-out to its parent (the pipeline) when the run's budget stops it. */
export const budgetReachedSignal = defineSignal<[{ stageId: string; reason: string; tokens: number; costUsd: number }]>('budgetReached');

/** A shard failure that pauses the stage (breaker open, budget reached) rather than failing it. */
export function stopOf(err: unknown): FanoutStop | undefined {
  for (let cur = err, depth = 0; cur && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (!(cur instanceof ApplicationFailure)) continue;
    const d = cur.details?.[0] as Record<string, unknown> | undefined;
    if (cur.type === 'ModelBreakerOpen' && d && typeof d.until === 'number') return { kind: 'breaker', model: String(d.model), until: d.until };
    if (cur.type === 'BudgetReached' && d) return { kind: 'budget', reason: String(d.reason), tokens: Number(d.tokens), costUsd: Number(d.costUsd) };
  }
  return undefined;
}

export function describeStop(stop: FanoutStop): string {
  return stop.kind === 'breaker' ? `breaker open: ${stop.model}, until ${new Date(stop.until).toISOString()}` : `budget reached (${stop.reason})`;
}

export function shardCount(totalItems: number, shardSize: number): number {
  return Math.ceil(totalItems / shardSize);
}

export function shardKey(prefix: string, n: number): string {
  return `${prefix}/shard-${String(n).padStart(5, '0')}`;
}

function addCounts(a: ItemCounts, b: ItemCounts): ItemCounts {
  return { succeeded: a.succeeded + b.succeeded, failed: a.failed + b.failed, filtered: a.filtered + b.filtered };
}

export async function fanoutWorkflow(input: FanoutInput): Promise<FanoutResult> {
  const total = input.items.rows;
  const shards = shardCount(total, input.shardSize);
  const carry: FanoutCarry = input.carry ?? { nextShard: 0, chunks: [], counts: { succeeded: 0, failed: 0, filtered: 0 }, continuedAsNew: 0 };
  const historyBudget = input.historyBudget ?? 4000;
  const acts = proxyActivities<Activities>({
    taskQueue: input.orchestrationQueue,
    startToCloseTimeout: '10m',
    heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
    retry: { maximumAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });

  const finished = new Map<number, ShardResult>(); // this run's shards, by index
  let next = carry.nextShard;
  let inFlight = 0;
  const running = new Set<number>(); // shard indices in flight, for the progress query
  let paused = false;
  let failure: unknown;
  let wakeups = 0; // bumped on every child outcome and signal
  // Breaker / budget pauses (FANOUT_PAUSE_PATCH): shards to start again, and why the stage waits.
  const pausable = patched(FANOUT_PAUSE_PATCH);
  const stopped: number[] = [];
  let stop: FanoutStop | undefined;
  let budget = carry.budget ?? input.budget;
  let budgetReported = false;

  const counts = () => [...finished.values()].reduce((c, r) => addCounts(c, r.counts), carry.counts);
  setHandler(fanoutProgressQuery, () => ({
    stageId: input.stageId,
    totalItems: total,
    shards,
    shardsDone: carry.nextShard + finished.size,
    inFlight,
    running: [...running].sort((a, b) => a - b).map((n) => shardKey(input.keyPrefix, n)),
    counts: counts(),
    paused: paused || stop !== undefined,
    ...(stop ? { pauseReason: describeStop(stop) } : {}),
  }));
  setHandler(fanoutPauseSignal, (p: boolean) => {
    paused = p;
    // A resume also ends a breaker wait early (the next call is the half-open probe).
    if (!p && stop?.kind === 'breaker') stop = undefined;
    wakeups++;
  });
  setHandler(fanoutBudgetSignal, (b: RunBudget) => {
    budget = b;
    if (stop?.kind === 'budget') stop = undefined;
    budgetReported = false;
    wakeups++;
  });

  const spec = (n: number): ShardSpec => ({
    shardKey: shardKey(input.keyPrefix, n),
    stageId: input.stageId,
    processor: input.processor,
    items: input.items,
    start: n * input.shardSize,
    end: Math.min(total, (n + 1) * input.shardSize),
    outputKind: input.outputKind,
    config: input.config,
    ...(pausable ? { control: { pauseOnBreaker: true, ...(budget ? { budget } : {}) } } : {}),
    ...(input.itemConcurrency && input.itemConcurrency > 1 ? { itemConcurrency: input.itemConcurrency } : {}),
  });

  const launch = (n: number) => {
    inFlight++;
    running.add(n);
    executeChild(shardWorkflow, { workflowId: shardKey(input.keyPrefix, n), taskQueue: input.orchestrationQueue, args: [spec(n), input.activity, n] })
      .then((r) => void finished.set(n, r))
      .catch((err: unknown) => {
        const why = pausable ? stopOf(err) : undefined;
        if (!why) return void (failure ??= err);
        stopped.push(n);
        // A budget stop wins over a breaker wait; of two breaker waits, the later one.
        if (!stop || why.kind === 'budget' || (stop.kind === 'breaker' && why.kind === 'breaker' && why.until > stop.until)) stop = why;
      })
      .finally(() => {
        inFlight--;
        running.delete(n);
        wakeups++;
      });
  };

  /** Concatenates earlier chunks and this run's shards, in order. */
  const mergeAll = async (includeChunks: boolean) => {
    const ordered = [...finished.keys()].sort((a, b) => a - b).map((k) => finished.get(k)!);
    const outParts = [...(includeChunks ? carry.chunks.map((c) => c.output) : []), ...ordered.map((r) => r.output)];
    const failParts = [...(includeChunks ? carry.chunks.map((c) => c.failures) : []), ...ordered.map((r) => r.failures)];
    return {
      output: await acts.concatArtifacts({ parts: outParts, kind: input.outputKind }),
      failures: await acts.concatArtifacts({ parts: failParts, kind: 'failures' }),
    };
  };

  for (;;) {
    if (failure) {
      await condition(() => inFlight === 0);
      throw failure;
    }
    if (stop?.kind === 'breaker' && Date.now() >= stop.until) stop = undefined;
    const overBudget = workflowInfo().historyLength > historyBudget || workflowInfo().continueAsNewSuggested;
    if (!paused && !stop) {
      // Stopped shards first (also over the history budget: chunks must stay in shard order).
      while (inFlight < input.concurrency && stopped.length) launch(stopped.shift()!);
      if (!overBudget) while (inFlight < input.concurrency && next < shards) launch(next++);
    }
    if (inFlight === 0) {
      if (next >= shards && !stopped.length) break;
      if (overBudget && !stopped.length) {
        const chunk = await mergeAll(false);
        const nextCarry: FanoutCarry = { nextShard: next, chunks: [...carry.chunks, chunk], counts: counts(), continuedAsNew: carry.continuedAsNew + 1, ...(budget ? { budget } : {}) };
        await continueAsNew<typeof fanoutWorkflow>({ ...input, carry: nextCarry });
      }
    }
    if (stop?.kind === 'budget' && !budgetReported) {
      // The whole run waits for a larger budget: tell the pipeline (status shows it paused).
      budgetReported = true;
      const parent = workflowInfo().parent;
      if (parent) await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(budgetReachedSignal, { stageId: input.stageId, reason: stop.reason, tokens: stop.tokens, costUsd: stop.costUsd });
    }
    const seen = wakeups;
    if (stop?.kind === 'breaker') await condition(() => wakeups !== seen, Math.max(1_000, stop.until - Date.now()));
    else await condition(() => wakeups !== seen);
  }

  const { output, failures } = await mergeAll(true);
  const c = counts();
  if (c.succeeded + c.failed + c.filtered !== total) {
    throw ApplicationFailure.nonRetryable(`item counts do not reconcile: ${JSON.stringify(c)} for ${total} items`, 'CountsMismatch');
  }
  return { output, failures, counts: c, shards, continuedAsNew: carry.continuedAsNew };
}
