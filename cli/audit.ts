// The audit timeline of a run, built from its Temporal event history: what
// ran, when, with which inputs, what it produced, what failed and how it was
// retried. Pure over the history object, so it is unit-testable on fixtures.
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type Event = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

export interface AuditEntry {
  time: string;
  /** Milliseconds since the run started. */
  offsetMs: number;
  kind: 'run' | 'activity' | 'child' | 'signal' | 'patch' | 'timer' | 'memo';
  event: string;
  name?: string;
  stage?: string;
  attempt?: number;
  durationMs?: number;
  taskQueue?: string;
  detail?: string;
  failure?: { type: string; message: string };
}

export interface ActivityCounts {
  scheduled: number;
  completed: number;
  failed: number;
  retried: number;
  cacheHits: number;
}

export interface AuditReport {
  workflowId: string;
  /** The workflow type (pipelineWorkflow, fanoutWorkflow, shardWorkflow, trainWorkflow …). */
  workflowType?: string;
  pipeline?: string;
  specHash?: string;
  status: string;
  startTime?: string;
  closeTime?: string;
  entries: AuditEntry[];
  activities: ActivityCounts;
  events: number;
}

/** A child workflow's part of the audit: its own counts and what went wrong in it. */
export interface ChildAudit {
  workflowId: string;
  workflowType?: string;
  /** The workflow that started it. */
  parent: string;
  status: string;
  activities: ActivityCounts;
  /** Retries and failures inside it, with their causes. */
  problems: AuditEntry[];
}

/** The run and every workflow under it (fan-outs, shards, the train loop), counted together. */
export interface RunAudit extends AuditReport {
  children: ChildAudit[];
  /** The run's own activities plus every child's. */
  total: ActivityCounts;
}

/** Ids of the child workflows an audit started. */
export function childIds(r: AuditReport): string[] {
  return [...new Set(r.entries.filter((e) => e.kind === 'child' && e.event === 'started' && e.name).map((e) => e.name!))];
}

/**
 * Walks the child workflows of a run (breadth first, children of children too)
 * with `fetchEvents` and adds them up. A child whose history cannot be read is
 * listed with status UNKNOWN rather than dropped.
 */
export async function buildRunAudit(root: AuditReport, fetchEvents: (workflowId: string) => Promise<Event[]>, maxChildren = 10_000): Promise<RunAudit> {
  const children: ChildAudit[] = [];
  const total: ActivityCounts = { ...root.activities };
  const queue = childIds(root).map((id) => ({ id, parent: root.workflowId }));
  const seen = new Set<string>([root.workflowId]);
  while (queue.length && children.length < maxChildren) {
    const { id, parent } = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    let a: AuditReport;
    try {
      a = buildAudit(id, await fetchEvents(id));
    } catch {
      children.push({ workflowId: id, parent, status: 'UNKNOWN', activities: { scheduled: 0, completed: 0, failed: 0, retried: 0, cacheHits: 0 }, problems: [] });
      continue;
    }
    children.push({ workflowId: id, ...(a.workflowType ? { workflowType: a.workflowType } : {}), parent, status: a.status, activities: a.activities, problems: a.entries.filter((e) => e.event === 'retried' || e.event === 'failed' || e.event === 'timed out') });
    for (const k of Object.keys(total) as Array<keyof ActivityCounts>) total[k] += a.activities[k];
    for (const c of childIds(a)) queue.push({ id: c, parent: id });
  }
  return { ...root, children, total };
}

/** The lines `swirl history` adds for child workflows: totals, then each retry or failure with its cause. */
export function formatChildren(r: RunAudit): string[] {
  if (!r.children.length) return [];
  const byType = new Map<string, number>();
  for (const c of r.children) byType.set(c.workflowType ?? '?', (byType.get(c.workflowType ?? '?') ?? 0) + 1);
  const t = r.total;
  const lines = [
    '',
    `  child workflows: ${r.children.length} (${[...byType].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    `  all activities (run + children): ${t.scheduled} scheduled, ${t.completed} completed, ${t.failed} failed, ${t.retried} retries, ${t.cacheHits} cache hits`,
  ];
  const notDone = r.children.filter((c) => c.status !== 'COMPLETED');
  for (const c of notDone) lines.push(`    ${c.workflowId}  ${c.status}`);
  for (const c of r.children) {
    for (const e of c.problems) {
      const what = e.event === 'retried' ? `${e.name} retried: ${e.detail}` : `${e.name} ${e.event}${e.failure ? `: ${e.failure.type}: ${e.failure.message}` : ''}`;
      lines.push(`    ${c.workflowId}  ${what}`);
    }
  }
  if (r.children.some((c) => c.problems.length || c.status !== 'COMPLETED')) lines.push('  (`swirl history RUN --child ID` shows one child workflow in full)');
  return lines;
}

function decode(p: Payloads): unknown[] {
  return (p?.payloads ?? []).map((x) => {
    try {
      return defaultPayloadConverter.fromPayload(x as never);
    } catch {
      return '<undecodable payload>';
    }
  });
}

function toDate(t: Event['eventTime']): Date {
  if (!t) return new Date(0);
  const secs = typeof t.seconds === 'number' ? t.seconds : Number(t.seconds ?? 0);
  return new Date(secs * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

function failureOf(f: temporal.api.failure.v1.IFailure | null | undefined): { type: string; message: string } {
  let cur = f;
  // Activity failures wrap the application failure as their cause.
  while (cur?.cause && !cur.applicationFailureInfo) cur = cur.cause;
  return { type: cur?.applicationFailureInfo?.type || (cur?.canceledFailureInfo ? 'Cancelled' : cur?.timeoutFailureInfo ? 'Timeout' : 'Failure'), message: cur?.message ?? f?.message ?? '' };
}

function describeResult(name: string, value: unknown): string {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.hash === 'string' && typeof v.rows === 'number') return `${v.kind} ${v.rows} rows, ${v.bytes} bytes, artifact ${v.hash.slice(0, 12)}`;
    if (name === 'lookupStageCache') return v.hit ? `cache hit ${String((v.hit as { hash: string }).hash).slice(0, 12)} (key ${String(v.key).slice(0, 12)})` : `cache miss (key ${String(v.key).slice(0, 12)})`;
  }
  return value === undefined ? '' : JSON.stringify(value).slice(0, 200);
}

function stageOf(arg: unknown): string | undefined {
  if (arg && typeof arg === 'object') {
    const a = arg as Record<string, unknown>;
    if (typeof a.stageId === 'string') return a.stageId;
  }
  return undefined;
}

export function buildAudit(workflowId: string, events: Event[]): AuditReport {
  const entries: AuditEntry[] = [];
  const start = toDate(events[0]?.eventTime);
  const at = (e: Event) => ({ time: toDate(e.eventTime).toISOString(), offsetMs: toDate(e.eventTime).getTime() - start.getTime() });
  const scheduled = new Map<string, { name: string; stage?: string; time: Date; taskQueue?: string; attempt?: number; stageHash?: string }>();
  const report: AuditReport = { workflowId, status: 'RUNNING', entries, activities: { scheduled: 0, completed: 0, failed: 0, retried: 0, cacheHits: 0 }, events: events.length };
  const cacheStage = new Map<string, string>();

  for (const e of events) {
    const id = String(e.eventId);
    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      const input = decode(a.input)[0] as { plan?: { pipeline?: { name?: string }; specHash?: string; stages?: Array<{ id: string; hash: string }> } } | undefined;
      report.pipeline = input?.plan?.pipeline?.name;
      report.specHash = input?.plan?.specHash;
      report.startTime = toDate(e.eventTime).toISOString();
      if (a.workflowType?.name) report.workflowType = a.workflowType.name;
      for (const s of input?.plan?.stages ?? []) cacheStage.set(s.hash, s.id);
      entries.push({ ...at(e), kind: 'run', event: 'started', name: a.workflowType?.name ?? undefined, taskQueue: a.taskQueue?.name ?? undefined, detail: `pipeline ${report.pipeline ?? '?'}, ${input?.plan?.stages?.length ?? '?'} stage(s), spec ${report.specHash?.slice(0, 12) ?? '?'}` });
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const arg = decode(a.input)[0] as Record<string, unknown> | undefined;
      const stageHash = typeof arg?.stageHash === 'string' ? arg.stageHash : undefined;
      scheduled.set(id, { name: a.activityType?.name ?? '?', stage: stageOf(arg) ?? (stageHash ? cacheStage.get(stageHash) : undefined), time: toDate(e.eventTime), taskQueue: a.taskQueue?.name ?? undefined });
      report.activities.scheduled++;
    } else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      if (s) s.attempt = a.attempt ?? 1;
      // The server records only the attempt that ends the activity; earlier
      // attempts show up as its attempt number and the last failure.
      const attempt = a.attempt ?? 1;
      if (attempt > 1) {
        report.activities.retried += attempt - 1;
        const f = failureOf(a.lastFailure);
        entries.push({ ...at(e), kind: 'activity', event: 'retried', name: s?.name, stage: s?.stage, attempt, failure: f, detail: `attempt ${attempt} after ${attempt - 1} failed attempt(s); last failure ${f.type}: ${f.message}` });
      }
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      const result = decode(a.result)[0];
      if (s?.name === 'lookupStageCache' && (result as { hit?: unknown } | undefined)?.hit) report.activities.cacheHits++;
      report.activities.completed++;
      entries.push({ ...at(e), kind: 'activity', event: 'completed', name: s?.name, stage: s?.stage, attempt: s?.attempt, taskQueue: s?.taskQueue, durationMs: s ? toDate(e.eventTime).getTime() - s.time.getTime() : undefined, detail: describeResult(s?.name ?? '', result) });
    } else if (e.activityTaskFailedEventAttributes) {
      const a = e.activityTaskFailedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      report.activities.failed++;
      entries.push({ ...at(e), kind: 'activity', event: 'failed', name: s?.name, stage: s?.stage, attempt: s?.attempt, durationMs: s ? toDate(e.eventTime).getTime() - s.time.getTime() : undefined, failure: failureOf(a.failure) });
    } else if (e.activityTaskTimedOutEventAttributes) {
      const a = e.activityTaskTimedOutEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      report.activities.failed++;
      entries.push({ ...at(e), kind: 'activity', event: 'timed out', name: s?.name, stage: s?.stage, attempt: s?.attempt, failure: failureOf(a.failure) });
    } else if (e.activityTaskCanceledEventAttributes) {
      const s = scheduled.get(String(e.activityTaskCanceledEventAttributes.scheduledEventId));
      entries.push({ ...at(e), kind: 'activity', event: 'cancelled', name: s?.name, stage: s?.stage });
    } else if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
      entries.push({ ...at(e), kind: 'child', event: 'started', name: a.workflowId ?? undefined, detail: a.workflowType?.name ?? undefined });
    } else if (e.childWorkflowExecutionCompletedEventAttributes) {
      entries.push({ ...at(e), kind: 'child', event: 'completed', name: e.childWorkflowExecutionCompletedEventAttributes.workflowExecution?.workflowId ?? undefined });
    } else if (e.childWorkflowExecutionFailedEventAttributes) {
      entries.push({ ...at(e), kind: 'child', event: 'failed', name: e.childWorkflowExecutionFailedEventAttributes.workflowExecution?.workflowId ?? undefined, failure: failureOf(e.childWorkflowExecutionFailedEventAttributes.failure) });
    } else if (e.workflowExecutionSignaledEventAttributes) {
      entries.push({ ...at(e), kind: 'signal', event: e.workflowExecutionSignaledEventAttributes.signalName ?? 'signal' });
    } else if (e.markerRecordedEventAttributes) {
      const details = e.markerRecordedEventAttributes.details as Record<string, Payloads> | undefined;
      const patchData = details?.['patch-data'] ?? details?.patch_data;
      const patch = patchData ? (decode(patchData)[0] as { id?: string } | undefined)?.id : undefined;
      if (patch) entries.push({ ...at(e), kind: 'patch', event: 'applied', name: patch });
    } else if (e.timerStartedEventAttributes) {
      entries.push({ ...at(e), kind: 'timer', event: 'started', name: e.timerStartedEventAttributes.timerId ?? undefined });
    } else if (e.workflowExecutionCancelRequestedEventAttributes) {
      entries.push({ ...at(e), kind: 'run', event: 'cancel requested', detail: e.workflowExecutionCancelRequestedEventAttributes.cause ?? undefined });
    } else if (e.workflowExecutionCompletedEventAttributes) {
      report.status = 'COMPLETED';
      report.closeTime = toDate(e.eventTime).toISOString();
      const r = decode(e.workflowExecutionCompletedEventAttributes.result)[0] as { stages?: Array<{ id: string; status: string; cached?: boolean }> } | undefined;
      entries.push({ ...at(e), kind: 'run', event: 'completed', detail: (r?.stages ?? []).map((s) => `${s.id} ${s.status}${s.cached ? ' (cached)' : ''}`).join(', ') });
    } else if (e.workflowExecutionFailedEventAttributes) {
      report.status = 'FAILED';
      report.closeTime = toDate(e.eventTime).toISOString();
      entries.push({ ...at(e), kind: 'run', event: 'failed', failure: failureOf(e.workflowExecutionFailedEventAttributes.failure) });
    } else if (e.workflowExecutionCanceledEventAttributes) {
      report.status = 'CANCELLED';
      report.closeTime = toDate(e.eventTime).toISOString();
      entries.push({ ...at(e), kind: 'run', event: 'cancelled' });
    } else if (e.workflowExecutionTerminatedEventAttributes) {
      report.status = 'TERMINATED';
      report.closeTime = toDate(e.eventTime).toISOString();
      entries.push({ ...at(e), kind: 'run', event: 'terminated', detail: e.workflowExecutionTerminatedEventAttributes.reason ?? undefined });
    } else if (e.workflowExecutionContinuedAsNewEventAttributes) {
      entries.push({ ...at(e), kind: 'run', event: 'continued as new' });
    }
  }
  return report;
}

function ms(n: number | undefined): string {
  if (n === undefined) return '';
  return n < 1000 ? `${n}ms` : `${(n / 1000).toFixed(1)}s`;
}

export function formatAudit(r: AuditReport): string[] {
  const lines = [
    `run ${r.workflowId}  ${r.status}${r.pipeline ? `  pipeline ${r.pipeline}` : ''}${r.specHash ? `  spec ${r.specHash.slice(0, 12)}` : ''}`,
    `  ${r.startTime ?? '?'} → ${r.closeTime ?? 'still running'}  (${r.events} events)`,
    `  activities: ${r.activities.scheduled} scheduled, ${r.activities.completed} completed, ${r.activities.failed} failed, ${r.activities.retried} retries, ${r.activities.cacheHits} cache hits`,
    '',
  ];
  for (const e of r.entries) {
    const what = [e.kind, e.name, e.stage ? `[stage ${e.stage}]` : '', e.event, e.attempt && e.attempt > 1 ? `attempt ${e.attempt}` : '', e.durationMs !== undefined ? `in ${ms(e.durationMs)}` : ''].filter(Boolean).join(' ');
    const tail = e.event === 'retried' ? `  ↻ ${e.detail}` : e.failure ? `  ✗ ${e.failure.type}: ${e.failure.message}` : e.detail ? `  → ${e.detail}` : '';
    lines.push(`  +${ms(e.offsetMs).padStart(7)}  ${what}${tail}`);
  }
  return lines;
}
