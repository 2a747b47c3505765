// Live progress of the per-item stages of a running run, from their fan-out
// workflows (`<run id>/<stage id>`), with throughput and ETA.
import type { Client } from '@temporalio/client';
import type { FanoutProgress } from '../workflows/fanout-types.js';
import type { StageState } from '../workflows/types.js';

export interface StageProgress extends FanoutProgress {
  itemsDone: number;
  itemsPerSecond?: number;
  etaSeconds?: number;
}

export async function fanoutProgress(client: Client, workflowId: string, stages: StageState[]): Promise<Record<string, StageProgress>> {
  const out: Record<string, StageProgress> = {};
  for (const s of stages) {
    if (s.status !== 'running' || s.type === 'dataset') continue;
    try {
      const p = await client.workflow.getHandle(`${workflowId}/${s.id}`).query<FanoutProgress>('fanoutProgress');
      const itemsDone = p.counts.succeeded + p.counts.failed + p.counts.filtered;
      const elapsed = s.startedAt ? (Date.now() - Date.parse(s.startedAt)) / 1000 : undefined;
      const rate = elapsed && elapsed > 0 && itemsDone > 0 ? itemsDone / elapsed : undefined;
      out[s.id] = { ...p, itemsDone, ...(rate ? { itemsPerSecond: rate, etaSeconds: (p.totalItems - itemsDone) / rate } : {}) };
    } catch {
      /* not started yet, or no worker to answer */
    }
  }
  return out;
}

export function describeProgress(p: StageProgress): string {
  const parts = [`${p.itemsDone}/${p.totalItems} items`, `shards ${p.shardsDone}/${p.shards} (${p.inFlight} running)`];
  if (p.counts.failed) parts.push(`${p.counts.failed} failed`);
  if (p.itemsPerSecond) parts.push(`${p.itemsPerSecond.toFixed(2)} items/s`, `ETA ${Math.ceil(p.etaSeconds ?? 0)}s`);
  if (p.paused) parts.push('paused');
  return parts.join(', ');
}
