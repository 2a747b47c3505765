// The worker entry: registers swirl's workflows and activities on the task
// queues of the roles a process serves (orchestration, llm, train).
//   node --import tsx worker.ts [--queue orchestration,llm,train]   (same as `swirl worker`)
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker, type WorkerOptions, type WorkflowBundle } from '@temporalio/worker';
import { ACTIVITY_QUEUES, createActivities, QUEUE_ROLES, type ActivityDeps, type QueueRole } from './activities/index.js';
import { FsArtifactStore } from './store/artifacts.js';
import { FsStageCache } from './store/stage-cache.js';
import { packageRoot, swirlPaths } from './runtime/paths.js';
import { secretSafeActivities } from './activities/secret-failure.js';
import { watchWorkerStop } from './activities/attempt-log.js';
import { bundleKey, cachedBundle } from './runtime/bundle-cache.js';
import type { TaskQueues } from './workflows/types.js';

export function taskQueues(prefix = process.env.SWIRL_TASK_QUEUE_PREFIX || 'swirl'): TaskQueues {
  return { orchestration: `${prefix}.orchestration`, llm: `${prefix}.llm`, train: `${prefix}.train` };
}

export function defaultDeps(): ActivityDeps {
  const paths = swirlPaths();
  return { store: new FsArtifactStore(paths.artifacts, { compress: process.env.SWIRL_COMPRESS_ARTIFACTS === '1' }), cache: new FsStageCache(paths.stageCache), scratchDir: paths.scratch };
}

const workflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));
let bundle: Promise<WorkflowBundle> | undefined;

/**
 * The workflow bundle, built once per process and cached on disk by content
 * (runtime/bundle-cache.ts): webpack takes seconds, and a worker restarted
 * after a crash polls sooner without it.
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= cachedBundle(swirlPaths().bundles, bundleKey(workflowsPath, packageRoot, { bundler: 'bundleWorkflowCode' }), () =>
    bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger(process.env.SWIRL_LOG_LEVEL === 'DEBUG' ? 'DEBUG' : 'WARN') }),
  );
  return bundle;
}

export interface CreateWorkersOptions {
  connection: NativeConnection;
  namespace: string;
  roles: readonly QueueRole[];
  queues?: TaskQueues;
  deps?: ActivityDeps;
  /** Extra Worker options (tests tune sticky-queue timeouts, for example). */
  workerOptions?: Partial<WorkerOptions>;
}

/** One Worker per role that has anything to run; workflows live on the orchestration queue. */
export async function createWorkers(opts: CreateWorkersOptions): Promise<Worker[]> {
  const queues = opts.queues ?? taskQueues();
  const all = createActivities(opts.deps ?? defaultDeps());
  const workers: Worker[] = [];
  for (const role of opts.roles) {
    const activities = Object.fromEntries(Object.entries(all).filter(([name]) => ACTIVITY_QUEUES[name as keyof typeof all] === role));
    const hasWorkflows = role === 'orchestration';
    if (!hasWorkflows && Object.keys(activities).length === 0) continue;
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: queues[role],
        activities,
        ...(hasWorkflows ? { workflowBundle: await workflowBundle() } : {}),
        shutdownGraceTime: '10s',
        ...opts.workerOptions,
        // Every activity failure is redacted before Temporal records or logs it (activities/secret-failure.ts).
        interceptors: { ...opts.workerOptions?.interceptors, activity: [secretSafeActivities, ...(opts.workerOptions?.interceptors?.activity ?? [])] },
      }),
    );
  }
  // An attempt of a train-loop activity that fails while its worker shuts down was interrupted, not failed (activities/attempt-log.ts).
  for (const w of workers) watchWorkerStop(w.options.taskQueue, () => STOPPING_STATES.has(w.getState()));
  return workers;
}

const STOPPING_STATES: ReadonlySet<string> = new Set(['STOPPING', 'DRAINING', 'DRAINED']);

/** Roles that currently have work registered (a role with nothing to run gets no worker). */
export function activeRoles(roles: readonly QueueRole[] = QUEUE_ROLES): QueueRole[] {
  return roles.filter((r) => r === 'orchestration' || Object.values(ACTIVITY_QUEUES).includes(r));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { main } = await import('./cli/main.js');
  await main(['worker', ...process.argv.slice(2)]);
}
