// The audit timeline over stored histories of real runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { buildAudit, buildRunAudit, formatAudit, formatChildren } from '../../cli/audit.js';
import { packageRoot } from '../../runtime/paths.js';

const load = (name: string) => historyFromJSON(JSON.parse(readFileSync(path.join(packageRoot, 'tests', 'fixtures', 'histories', name), 'utf8'))).events ?? [];

describe('buildAudit', () => {
  it('reads the first stored history (before the stage cache existed)', () => {
    const r = buildAudit('x', load('quickstart-v1-before-cache.json'));
    expect(r).toMatchObject({ pipeline: 'quickstart', status: 'COMPLETED', activities: { scheduled: 1, completed: 1, failed: 0, retried: 0, cacheHits: 0 } });
    const act = r.entries.find((e) => e.kind === 'activity')!;
    expect(act).toMatchObject({ name: 'loadDataset', stage: 'questions', event: 'completed' });
    expect(act.detail).toMatch(/^questions 16 rows, \d+ bytes, artifact [0-9a-f]{12}$/);
  });

  it('shows patches, cache lookups and the stage of every activity', () => {
    const r = buildAudit('x', load('quickstart-v3-run-summary.json'));
    expect(r.entries.filter((e) => e.kind === 'patch').map((e) => e.name).sort()).toEqual(['run-summary-v1', 'stage-cache-v1']);
    const acts = r.entries.filter((e) => e.kind === 'activity');
    expect(acts.map((e) => `${e.name}:${e.stage}`)).toEqual(['lookupStageCache:questions', 'loadDataset:questions', 'recordStageCache:questions']);
    expect(acts[0]!.detail).toMatch(/^cache miss/);
    const lines = formatAudit(r);
    expect(lines[0]).toMatch(/^run x {2}COMPLETED {2}pipeline quickstart {2}spec [0-9a-f]{12}$/);
    expect(lines.some((l) => /activity loadDataset \[stage questions\] completed in \d+ms {2}→ questions 16 rows/.test(l))).toBe(true);
    // Offsets never go backwards.
    const offsets = r.entries.map((e) => e.offsetMs);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });
});

describe('buildRunAudit', () => {
  // Minimal histories: the run starts a fan-out, the fan-out two shards; shard 2's activity ran 3 times.
  const t = (s: number) => ({ seconds: 1_700_000_000 + s, nanos: 0 });
  const started = (type: string) => ({ eventId: 1, eventTime: t(0), workflowExecutionStartedEventAttributes: { workflowType: { name: type } } });
  const child = (id: number, wf: string) => ({ eventId: id, eventTime: t(id), startChildWorkflowExecutionInitiatedEventAttributes: { workflowId: wf, workflowType: { name: 'x' } } });
  const done = (id: number) => ({ eventId: id, eventTime: t(id), workflowExecutionCompletedEventAttributes: {} });
  const shard = (attempt: number) => [
    started('shardWorkflow'),
    { eventId: 2, eventTime: t(1), activityTaskScheduledEventAttributes: { activityType: { name: 'processShard' } } },
    { eventId: 3, eventTime: t(2), activityTaskStartedEventAttributes: { scheduledEventId: 2, attempt, ...(attempt > 1 ? { lastFailure: { message: 'activity Heartbeat timeout', timeoutFailureInfo: {} } } : {}) } },
    { eventId: 4, eventTime: t(3), activityTaskCompletedEventAttributes: { scheduledEventId: 2 } },
    done(5),
  ];
  const histories: Record<string, unknown[]> = {
    'r/rollouts/fanout': [started('fanoutWorkflow'), child(2, 'r/rollouts/fanout/shard-0'), child(3, 'r/rollouts/fanout/shard-1'), done(4)],
    'r/rollouts/fanout/shard-0': shard(1),
    'r/rollouts/fanout/shard-1': shard(3),
  };
  const fetch = async (id: string) => {
    const h = histories[id];
    if (!h) throw new Error(`no history ${id}`);
    return h as never[];
  };

  it('counts the activities, retries and failures of every child workflow, with their causes', async () => {
    const root = buildAudit('r', [started('pipelineWorkflow'), child(2, 'r/rollouts/fanout'), done(3)] as never[]);
    expect(root.activities.retried).toBe(0);
    const run = await buildRunAudit(root, fetch);
    expect(run.children.map((c) => [c.workflowId, c.workflowType, c.parent])).toEqual([
      ['r/rollouts/fanout', 'fanoutWorkflow', 'r'],
      ['r/rollouts/fanout/shard-0', 'shardWorkflow', 'r/rollouts/fanout'],
      ['r/rollouts/fanout/shard-1', 'shardWorkflow', 'r/rollouts/fanout'],
    ]);
    expect(run.total).toEqual({ scheduled: 2, completed: 2, failed: 0, retried: 2, cacheHits: 0 });
    const lines = formatChildren(run);
    expect(lines).toContain('  child workflows: 3 (1 fanoutWorkflow, 2 shardWorkflow)');
    expect(lines).toContain('  all activities (run + children): 2 scheduled, 2 completed, 0 failed, 2 retries, 0 cache hits');
    expect(lines.some((l) => l.includes('r/rollouts/fanout/shard-1  processShard retried: attempt 3 after 2 failed attempt(s); last failure Timeout: activity Heartbeat timeout'))).toBe(true);
  });

  it('lists a child whose history cannot be read instead of dropping it', async () => {
    const root = buildAudit('r', [started('pipelineWorkflow'), child(2, 'r/gone'), done(3)] as never[]);
    const run = await buildRunAudit(root, fetch);
    expect(run.children).toEqual([expect.objectContaining({ workflowId: 'r/gone', status: 'UNKNOWN' })]);
    expect(formatChildren(run)).toContain('    r/gone  UNKNOWN');
  });
});
