// The worker entry: registers swirl's workflows and activities on the task
// queues of the roles a process serves (orchestration, llm, train).
//   node --import tsx worker.ts [--queue orchestration,llm,train]   (same as `swirl worker`)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ACTIVITY_QUEUES, createActivities, QUEUE_ROLES, type ActivityDeps, type QueueRole } from './activities/index.js';
import { FsArtifactStore } from './store/artifacts.js';
import { FsStageCache } from './store/stage-cache.js';
import { swirlPaths } from './runtime/paths.js';
import { secretSafeActivities } from './activities/secret-failure.js';
import type { TaskQueues } from './workflows/types.js';

export function taskQueues(prefix = process.env.SWIRL_TASK_QUEUE_PREFIX || 'swirl'): TaskQueues {
  return { orchestration: `${prefix}.orchestration`, llm: `${prefix}.llm`, train: `${prefix}.train` };
}

export function defaultDeps(): ActivityDeps {
  const paths = swirlPaths();
  return { store: new FsArtifactStore(paths.artifacts, { compress: process.env.SWIRL_COMPRESS_ARTIFACTS === '1' }), cache: new FsStageCache(paths.stageCache), scratchDir: paths.scratch };
}

const workflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));
const workflowsDir = path.dirname(workflowsPath);
const root = fileURLToPath(new URL('.', import.meta.url));
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/**
 * The workflow bundle, built once per process and kept on disk by content:
 * webpack takes seconds, and every `swirl run` / `swirl worker` process needs
 * it. Workflow code imports only workflows/ and @temporalio/workflow (a test
 * enforces it), so the key is those sources, the lock file (SDK versions) and
 * the Node version; any change builds a new bundle.
 */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= cachedBundle();
  return bundle;
}

function bundleKey(): string {
  const h = createHash('sha256').update(`v1\0${process.version}\0`);
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  for (const f of walk(workflowsDir).sort()) h.update(`${path.relative(root, f)}\0`).update(readFileSync(f)).update('\0');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(lock)) h.update(readFileSync(lock));
  return h.digest('hex').slice(0, 24);
}

async function cachedBundle(): Promise<WorkflowBundleWithSourceMap> {
  const file = path.join(root, 'node_modules', '.cache', 'swirl', `workflow-bundle-${bundleKey()}.json`);
  try {
    const b = JSON.parse(readFileSync(file, 'utf8')) as Partial<WorkflowBundleWithSourceMap>;
    if (typeof b.code === 'string' && typeof b.sourceMap === 'string') return { code: b.code, sourceMap: b.sourceMap };
  } catch {
    /* not built yet (or torn): build it */
  }
  const b = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger(process.env.SWIRL_LOG_LEVEL === 'DEBUG' ? 'DEBUG' : 'WARN') });
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ code: b.code, sourceMap: b.sourceMap }));
    renameSync(tmp, file);
  } catch {
    /* a read-only install builds it per process, as before */
  }
  return b;
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
  return workers;
}

/** Roles that currently have work registered (a role with nothing to run gets no worker). */
export function activeRoles(roles: readonly QueueRole[] = QUEUE_ROLES): QueueRole[] {
  return roles.filter((r) => r === 'orchestration' || Object.values(ACTIVITY_QUEUES).includes(r));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { main } = await import('./cli/main.js');
  await main(['worker', ...process.argv.slice(2)]);
}
