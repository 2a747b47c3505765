// The sharded fan-out of one stage: items [0, n) of an artifact are cut into
// shards, each run by a child workflow (deterministic id `<prefix>/shard-N`),
// at most `concurrency` at a time. Shard outputs are concatenated in shard
// order, so the result is byte-identical however the shards interleave. Before
// its history grows large the workflow lets in-flight shards finish, merges
// them into one chunk and continues as new, carrying only references.
import { ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { FanoutCarry, FanoutInput, FanoutProgress, FanoutResult, ItemCounts, ShardResult, ShardSpec } from './fanout-types.js';
import { shardWorkflow } from './shard.js';

export const fanoutProgressQuery = defineQuery<FanoutProgress>('fanoutProgress');
export const fanoutPauseSignal = defineSignal<[boolean]>('fanoutPause');

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
  const budget = input.historyBudget ?? 4000;
  const acts = proxyActivities<Activities>({
    taskQueue: input.orchestrationQueue,
    startToCloseTimeout: '10m',
    retry: { maximumAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });

  const finished = new Map<number, ShardResult>(); // this run's shards, by index
  let next = carry.nextShard;
  let inFlight = 0;
  let paused = false;
  let failure: unknown;
  let wakeups = 0; // bumped on every child outcome and signal

  const counts = () => [...finished.values()].reduce((c, r) => addCounts(c, r.counts), carry.counts);
  setHandler(fanoutProgressQuery, () => ({ stageId: input.stageId, totalItems: total, shards, shardsDone: carry.nextShard + finished.size, inFlight, counts: counts(), paused }));
  setHandler(fanoutPauseSignal, (p: boolean) => {
    paused = p;
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
  });

  const launch = (n: number) => {
    inFlight++;
    executeChild(shardWorkflow, { workflowId: shardKey(input.keyPrefix, n), taskQueue: input.orchestrationQueue, args: [spec(n), input.activity, n] })
      .then((r) => void finished.set(n, r))
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => {
        inFlight--;
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
    const overBudget = workflowInfo().historyLength > budget || workflowInfo().continueAsNewSuggested;
    if (!paused && !overBudget) while (inFlight < input.concurrency && next < shards) launch(next++);
    if (inFlight === 0) {
      if (next >= shards) break;
      if (overBudget) {
        const chunk = await mergeAll(false);
        const nextCarry: FanoutCarry = { nextShard: next, chunks: [...carry.chunks, chunk], counts: counts(), continuedAsNew: carry.continuedAsNew + 1 };
        await continueAsNew<typeof fanoutWorkflow>({ ...input, carry: nextCarry });
      }
    }
    const seen = wakeups;
    await condition(() => wakeups !== seen);
  }

  const { output, failures } = await mergeAll(true);
  const c = counts();
  if (c.succeeded + c.failed + c.filtered !== total) {
    throw ApplicationFailure.nonRetryable(`item counts do not reconcile: ${JSON.stringify(c)} for ${total} items`, 'CountsMismatch');
  }
  return { output, failures, counts: c, shards, continuedAsNew: carry.continuedAsNew };
}
