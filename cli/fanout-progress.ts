// Live progress of the per-item stages of a running run, from their fan-out
// workflows (`<run id>/<stage id>`), with throughput and ETA.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { AttemptNote } from '../activities/attempt-log.js';
import type { ShardBeat } from '../activities/fanout.js';
import type { FanoutProgress } from '../workflows/fanout-types.js';
import type { TrainProgress } from '../workflows/train.js';
import type { StageState } from '../workflows/types.js';

export interface StageProgress extends FanoutProgress {
  /** Items of finished shards plus the items the running shards' heartbeats report done. */
  itemsDone: number;
  itemsPerSecond?: number;
  etaSeconds?: number;
  /** Train stages: the latest iteration's numbers. */
  train?: { iteration: number; total: number; meanReward?: number; loss?: number; kl?: number; validActions?: number; pending?: PendingAttempt };
}

/** The train loop's activity in flight: its type and attempt, and the retry policy's limit (0 = none). */
export interface PendingAttempt {
  activity: string;
  attempt: number;
  maxAttempts: number;
  /** Patch `train-attempts-v1`: the failed attempts the activity counts (worker stops do not) and its limit, from its heartbeat. */
  counted?: AttemptNote;
}

/** The pending activity of a train loop as a PendingAttempt (its heartbeat says what it counts). */
export function pendingAttempt(a: { activityType?: { name?: string | null } | null; attempt?: number | null; maximumAttempts?: number | null; heartbeatDetails?: { payloads?: unknown[] | null } | null } | undefined): PendingAttempt | undefined {
  if (!a?.activityType?.name) return undefined;
  let counted: AttemptNote | undefined;
  try {
    const payload = a.heartbeatDetails?.payloads?.[0];
    const beat = payload ? (defaultPayloadConverter.fromPayload(payload as never) as { attempts?: Partial<AttemptNote> } | undefined) : undefined;
    const n = beat?.attempts;
    if (n && typeof n.failures === 'number' && typeof n.limit === 'number') counted = { failures: n.failures, limit: n.limit };
  } catch {
    // a heartbeat of another shape
  }
  return { activity: a.activityType.name, attempt: a.attempt ?? 1, maxAttempts: a.maximumAttempts ?? 0, ...(counted ? { counted } : {}) };
}

export async function fanoutProgress(client: Client, workflowId: string, stages: StageState[]): Promise<Record<string, StageProgress>> {
  const out: Record<string, StageProgress> = {};
  for (const s of stages) {
    if (s.status !== 'running' || s.type === 'dataset') continue;
    try {
      if (s.type === 'train') {
        const handle = client.workflow.getHandle(`${workflowId}/${s.id}`);
        const t = await handle.query<TrainProgress>('trainProgress');
        const pending = await handle
          .describe()
          .then((d) => d.raw.pendingActivities?.[0])
          .then(pendingAttempt)
          .catch(() => undefined);
        const elapsed = s.startedAt ? (Date.now() - Date.parse(s.startedAt)) / 1000 : undefined;
        const rate = iterationRate(t.recentEnds ?? []) ?? (elapsed && elapsed > 0 && t.iteration > 0 ? t.iteration / elapsed : undefined);
        out[s.id] = {
          stageId: s.id,
          totalItems: t.total,
          shards: t.total,
          shardsDone: t.iteration,
          inFlight: t.iteration < t.total && !t.paused ? 1 : 0,
          counts: { succeeded: t.iteration, failed: 0, filtered: 0 },
          paused: t.paused,
          ...(t.pauseReason ? { pauseReason: t.pauseReason } : {}),
          itemsDone: t.iteration,
          ...(rate ? { itemsPerSecond: rate, etaSeconds: (t.total - t.iteration) / rate } : {}),
          train: { iteration: t.iteration, total: t.total, ...(pending ? { pending } : {}), ...(t.last ? { meanReward: t.last.meanReward, validActions: t.last.validActions, ...(t.last.loss !== undefined ? { loss: t.last.loss } : {}), ...(t.last.kl !== undefined ? { kl: t.last.kl } : {}) } : {}) },
        };
        continue;
      }
      const p = await client.workflow.getHandle(`${workflowId}/${s.id}`).query<FanoutProgress>('fanoutProgress');
      const running = await runningShards(client, p.running ?? []);
      const itemsDone = p.counts.succeeded + p.counts.failed + p.counts.filtered + running.reduce((a, r) => a + r.done, 0);
      const elapsed = s.startedAt ? (Date.now() - Date.parse(s.startedAt)) / 1000 : undefined;
      const rate = currentRate(running, Date.now()) ?? (elapsed && elapsed > 0 && itemsDone > 0 ? itemsDone / elapsed : undefined);
      out[s.id] = { ...p, itemsDone, ...(rate ? { itemsPerSecond: rate, etaSeconds: (p.totalItems - itemsDone) / rate } : {}) };
    } catch {
      /* not started yet, or no worker to answer */
    }
  }
  return out;
}

/** Most running shards described per stage and poll (one RPC each). */
const MAX_DESCRIBED_SHARDS = 32;

/** A running shard as its activity's last heartbeat tells it. */
export interface RunningShard {
  /** Items done (those of earlier attempts included). */
  done: number;
  /** Items already done when the current attempt started (absent from shards of older workers). */
  resumed?: number;
  /** When the current attempt started (ms since the epoch). */
  startedAtMs?: number;
}

/**
 * Items the running shards have finished, from their activities' last
 * heartbeats (`{ done, of, resumed }`, activities/fanout.ts): shards run many
 * items each, so finished shards alone would move the count in large steps.
 */
async function runningShards(client: Client, shardIds: string[]): Promise<RunningShard[]> {
  return Promise.all(
    shardIds.slice(0, MAX_DESCRIBED_SHARDS).map(async (id) => {
      try {
        const d = await client.workflow.getHandle(id).describe();
        const act = d.raw.pendingActivities?.[0];
        const payload = act?.heartbeatDetails?.payloads?.[0];
        const beat = payload ? (defaultPayloadConverter.fromPayload(payload as never) as Partial<ShardBeat> | undefined) : undefined;
        const started = act?.lastStartedTime?.seconds;
        return {
          done: typeof beat?.done === 'number' ? beat.done : 0,
          ...(typeof beat?.resumed === 'number' ? { resumed: beat.resumed } : {}),
          ...(started != null ? { startedAtMs: Number(started) * 1000 + Math.floor((act?.lastStartedTime?.nanos ?? 0) / 1e6) } : {}),
        };
      } catch {
        return { done: 0 }; // the shard just finished (it is counted with the finished ones at the next poll)
      }
    }),
  );
}

/**
 * Items per second now: the sum over running shards of the items each finished in its current
 * attempt over that attempt's time. A run resumed after hours without a worker would otherwise
 * show its average since the stage started (and an ETA hours too long). Undefined when no
 * running shard has finished an item in its current attempt yet (the caller falls back to the
 * stage's average).
 */
export function currentRate(shards: readonly RunningShard[], nowMs: number): number | undefined {
  let rate = 0;
  let items = 0;
  for (const s of shards) {
    if (s.resumed === undefined || s.startedAtMs === undefined) continue;
    const n = s.done - s.resumed;
    const secs = (nowMs - s.startedAtMs) / 1000;
    if (n <= 0 || secs <= 0) continue;
    items += n;
    rate += n / secs;
  }
  return items > 0 ? rate : undefined;
}

/**
 * Iterations per second of a train stage from when its latest iterations ended: one over the
 * median gap between consecutive ends (the lower one of an even count). A gap that spans hours
 * without a worker is one outlier among them, where the average since the stage started would
 * carry every such pause (the learning run showed an ETA of 12 h with 5 h of work left).
 * Undefined with fewer than two ends (the caller falls back to that average).
 */
export function iterationRate(ends: readonly number[]): number | undefined {
  const gaps: number[] = [];
  for (let k = 1; k < ends.length; k++) gaps.push(ends[k]! - ends[k - 1]!);
  const positive = gaps.filter((g) => g > 0).sort((a, b) => a - b);
  if (!positive.length) return undefined;
  const median = positive[Math.floor((positive.length - 1) / 2)]!;
  return 1000 / median;
}

export function describeProgress(p: StageProgress): string {
  if (p.train) {
    const t = p.train;
    const parts = [`iteration ${t.iteration}/${t.total}`];
    if (t.meanReward !== undefined) parts.push(`reward ${t.meanReward.toFixed(3)}`);
    if (t.loss !== undefined) parts.push(`loss ${t.loss.toFixed(4)}`);
    if (t.kl !== undefined) parts.push(`KL ${t.kl.toFixed(4)}`);
    if (p.etaSeconds !== undefined) parts.push(`ETA ${Math.ceil(p.etaSeconds)}s`);
    if (p.paused) parts.push(p.pauseReason ? `paused (${p.pauseReason})` : 'paused');
    const a = t.pending;
    if (a && a.attempt > 1) {
      if (a.counted) {
        // train-attempts-v1: only failed attempts count; a worker stop does not.
        const c = a.counted;
        parts.push(`${a.activity} attempt ${a.attempt} (${c.failures} of ${c.limit} allowed failures${c.failures + 1 >= c.limit ? ': one more fails the stage' : ''})`);
      } else {
        // Before the patch every interruption (a worker stopped or killed) is an attempt: say when the next one would fail the stage.
        const last = a.maxAttempts > 0 && a.attempt >= a.maxAttempts;
        parts.push(`${a.activity} attempt ${a.attempt}${a.maxAttempts > 0 ? `/${a.maxAttempts}` : ''}${last ? ' (the last: let it finish before stopping the worker)' : ''}`);
      }
    }
    return parts.join(', ');
  }
  const parts = [`${p.itemsDone}/${p.totalItems} items`, `shards ${p.shardsDone}/${p.shards} (${p.inFlight} running)`];
  if (p.counts.failed) parts.push(`${p.counts.failed} failed`);
  if (p.itemsPerSecond) parts.push(`${p.itemsPerSecond.toFixed(2)} items/s`, `ETA ${Math.ceil(p.etaSeconds ?? 0)}s`);
  if (p.paused) parts.push(p.pauseReason ? `paused (${p.pauseReason})` : 'paused');
  return parts.join(', ');
}
