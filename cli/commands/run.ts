import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { compileFile } from '../../compiler/index.js';
import { formatErrorReport } from '../../compiler/errors.js';
import type { Plan } from '../../compiler/plan-types.js';
import { resolveTemporal, workflowUiUrl, type TemporalTarget } from '../../runtime/connection.js';
import { openClient, openNativeConnection } from '../../runtime/clients.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import { RUNNABLE_STAGE_TYPES } from '../../workflows/stages/index.js';
import type { PipelineInput, PipelineProgress, PipelineResult } from '../../workflows/types.js';
import { activeRoles, createWorkers, taskQueues } from '../../worker.js';
import { out, err, printJson, shortHash } from '../output.js';
import { swirlPaths } from '../../runtime/paths.js';
import type { StageState } from '../../workflows/types.js';
import { ProgressView, describeStages, finishedReportFile, learnedSummary, nextSteps, type EvalOutputs } from '../progress.js';
import { fanoutProgress } from '../fanout-progress.js';
import { stageReportPath } from '../../activities/report.js';
import { closeTrainers } from '../../activities/trainer-pool.js';

export function newWorkflowId(pipeline: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${pipeline}-${stamp}-${randomBytes(3).toString('hex')}`;
}

function assertRunnable(plan: Plan): void {
  const missing = plan.stages.filter((s) => !RUNNABLE_STAGE_TYPES.includes(s.type));
  if (missing.length) {
    throw new SwirlError('E_STAGE_NOT_IMPLEMENTED', `this version of swirl cannot run stage type ${[...new Set(missing.map((s) => s.type))].join(', ')} (stages ${missing.map((s) => s.id).join(', ')})`, {
      hint: `runnable stage types: ${RUNNABLE_STAGE_TYPES.join(', ')}; the spec itself is valid (\`swirl validate\`)`,
    });
  }
}

/** Waits for a workflow, showing progress from its `progress` query; returns its result or failure. */
export async function followRun(client: Client, workflowId: string, view: ProgressView | undefined): Promise<{ result?: PipelineResult; failure?: string }> {
  const handle = client.workflow.getHandle(workflowId);
  let finished = false;
  const poll = (async () => {
    while (!finished) {
      try {
        const p = await handle.query<PipelineProgress>('progress');
        view?.update(p, view.wantsItems() ? await fanoutProgress(client, workflowId, p.stages) : {});
      } catch {
        /* no worker answered yet, or the workflow just closed */
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    const result = (await handle.result()) as PipelineResult;
    return { result };
  } catch (e) {
    if (e instanceof WorkflowFailedError) {
      const details = (e.cause as { details?: unknown[] } | undefined)?.details;
      const result = details?.[0] as PipelineResult | undefined;
      return { ...(result ? { result } : {}), failure: e.cause?.message ?? e.message };
    }
    throw e;
  } finally {
    finished = true;
    await poll;
  }
}

export interface RunOptions {
  worker: boolean;
  detach?: boolean;
  follow?: boolean;
  json?: boolean;
  id?: string;
  /** `--set KEY=VALUE` overrides of the spec. */
  set?: string[];
}

export async function runAction(file: string, opts: RunOptions, setCode: (c: number) => void): Promise<void> {
  const compiled = compileFile(file, { ...(opts.set?.length ? { overrides: opts.set } : {}) });
  if (!compiled.ok) {
    for (const line of formatErrorReport(compiled.errors, compiled.source)) err(line);
    if (opts.json) printJson({ ok: false, errors: compiled.errors });
    setCode(EXIT.badInput);
    return;
  }
  const { plan } = compiled;
  const label = `compiled ${path.relative(process.cwd(), path.resolve(file)) || file}`;
  await executePlan(plan, compiled.projectRoot, label, { ...opts, memo: { file: path.resolve(file) } }, setCode);
}

/** Starts a run of `plan` (starting the server and an in-process worker as needed) and follows it to the end. */
export async function executePlan(plan: Plan, projectRoot: string, label: string, opts: RunOptions & { memo?: Record<string, unknown> }, setCode: (c: number) => void): Promise<void> {
  if (opts.detach && opts.worker) throw new SwirlError('E_USAGE', '--detach needs --no-worker: an in-process worker stops when swirl exits', { hint: 'start workers with `swirl worker`, then run with --no-worker --detach' });
  if (opts.detach && opts.follow) throw new SwirlError('E_USAGE', '--detach and --follow contradict each other', { hint: 'use one of them' });
  assertRunnable(plan);
  const log = opts.json ? () => undefined : out;
  log(`${label}: pipeline ${plan.pipeline.name}, ${plan.stages.length} stage${plan.stages.length === 1 ? '' : 's'}, spec ${shortHash(plan.specHash)}`);

  const target = await resolveTemporal({ autostart: true });
  for (const n of target.serverNotes ?? []) log(n);
  if (target.startedServer) log(`started the embedded Temporal server at ${target.address} (stop it with \`swirl server stop\`)`);
  else log(`using Temporal at ${target.address}${target.external ? ' (TEMPORAL_ADDRESS)' : ''}, namespace ${target.namespace}`);

  const { client, connection } = await openClient(target);
  const queues = taskQueues();
  let workers: Worker[] = [];
  let workersDone: Promise<unknown> = Promise.resolve();
  let nativeConn: Awaited<ReturnType<typeof openNativeConnection>> | undefined;
  try {
    if (opts.worker) {
      nativeConn = await openNativeConnection(target);
      workers = await createWorkers({ connection: nativeConn, namespace: target.namespace, roles: activeRoles(), queues });
      workersDone = Promise.all(workers.map((w) => w.run()));
    }
    const workflowId = opts.id ?? newWorkflowId(plan.pipeline.name);
    const sa = searchAttributes(target, plan);
    const input: PipelineInput = { plan, projectRoot, queues, searchAttributes: sa.typedSearchAttributes !== undefined };
    const handle = await client.workflow
      .start('pipelineWorkflow', {
        taskQueue: queues.orchestration,
        workflowId,
        args: [input],
        memo: { pipeline: plan.pipeline.name, specHash: plan.specHash, ...opts.memo },
        ...sa,
      })
      .then((h) => ({ workflowId: h.workflowId, firstExecutionRunId: h.firstExecutionRunId }))
      .catch(async (e: unknown) => {
        if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
        // The same command again, after the process that ran it (and its worker) died: the run
        // is still open in Temporal. With the same spec and a worker here, continue it.
        const running = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
        const sameSpec = running?.memo?.specHash === plan.specHash;
        if (running?.status.name === 'RUNNING' && sameSpec && opts.worker && !opts.detach) {
          log(`run ${workflowId} is already running this spec: continuing it with this process's worker`);
          return { workflowId, firstExecutionRunId: running.runId };
        }
        throw new SwirlError('E_RUN_EXISTS', `a run with id ${workflowId} is already running${running && !sameSpec ? ' another spec' : ''}`, {
          hint: `follow it with \`swirl status ${workflowId}\`, stop it with \`swirl cancel ${workflowId}\`, or start this one with another --id (or none: swirl picks a fresh one)${sameSpec ? '; `swirl run` with the same spec and without --no-worker continues it' : ''}`,
        });
      });
    const ui = workflowUiUrl(target, workflowId, handle.firstExecutionRunId);
    log(`workflow id: ${workflowId}`);
    if (ui) log(`open in the Temporal UI: ${ui}`);
    else log(`inspect it with: swirl status ${workflowId}`);
    if (opts.detach) {
      if (opts.json) printJson({ ok: true, workflowId, runId: handle.firstExecutionRunId, uiUrl: ui, status: 'running' });
      setCode(EXIT.ok);
      return;
    }
    const started = Date.now();
    const view = opts.json ? undefined : new ProgressView(plan);
    const interrupted = workersDone.then(() => 'workers-stopped' as const);
    const outcome = await Promise.race([followRun(client, workflowId, view), opts.worker ? interrupted : new Promise<never>(() => undefined)]);
    view?.stop();
    if (outcome === 'workers-stopped') {
      err(`worker stopped before the run finished; the run is durable and continues when a worker polls ${queues.orchestration}`);
      err(`  resume: swirl worker   then   swirl status ${workflowId}`);
      setCode(EXIT.runFailed);
      return;
    }
    const status = outcome.result?.status ?? 'failed';
    if (opts.json) printJson({ ok: status === 'completed', workflowId, runId: handle.firstExecutionRunId, uiUrl: ui, status, failure: outcome.failure, stages: outcome.result?.stages ?? [] });
    else {
      const stages = outcome.result?.stages ?? [];
      for (const line of describeStages(stages)) out(line);
      if (outcome.failure) err(`run failed: ${outcome.failure}`);
      const reportFile = finishedReportFile(stages, stageReportPath(workflowId), existsSync);
      for (const line of nextSteps(workflowId, stages, reportFile)) out(line);
      out(`run ${status} in ${((Date.now() - started) / 1000).toFixed(1)}s: ${workflowId}`);
      const learned = learnedSummary(stages, await evaluationOutputs(stages), reportFile);
      if (learned) out(learned);
    }
    setCode(status === 'completed' ? EXIT.ok : EXIT.runFailed);
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await workersDone.catch(() => undefined);
    closeTrainers();
    await nativeConn?.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
}

const SA_PIPELINE = defineSearchAttributeKey('SwirlPipeline', SearchAttributeType.KEYWORD);
const SA_SPEC_HASH = defineSearchAttributeKey('SwirlSpecHash', SearchAttributeType.KEYWORD);

function searchAttributes(target: TemporalTarget, plan: Plan): { typedSearchAttributes?: TypedSearchAttributes } {
  // The embedded server registers these; an external cluster may not have them (opt in with SWIRL_SEARCH_ATTRIBUTES=1).
  if (target.external && process.env.SWIRL_SEARCH_ATTRIBUTES !== '1') return {};
  return { typedSearchAttributes: new TypedSearchAttributes([{ key: SA_PIPELINE, value: plan.pipeline.name }, { key: SA_SPEC_HASH, value: plan.specHash }]) };
}

/** Each completed evaluate stage's model turns per question (what `learnedSummary` compares). */
async function evaluationOutputs(stages: StageState[]): Promise<Record<string, EvalOutputs>> {
  const out: Record<string, EvalOutputs> = {};
  try {
    const { FsArtifactStore } = await import('../../store/artifacts.js');
    const store = new FsArtifactStore(swirlPaths().artifacts);
    for (const s of stages) {
      if (s.type !== 'evaluate' || s.status !== 'completed' || !s.output) continue;
      const rows: EvalOutputs = {};
      for await (const r of store.read<{ questionId: string; trajectory?: { messages?: Array<{ role: string; content: string }> } }>(s.output))
        rows[r.questionId] = JSON.stringify((r.trajectory?.messages ?? []).filter((m) => m.role === 'assistant').map((m) => m.content));
      out[s.id] = rows;
    }
  } catch {
    // A summary line is not worth failing a finished run for: it then leaves out the comparison.
  }
  return out;
}
