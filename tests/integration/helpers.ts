import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

export const bin = path.join(packageRoot, 'bin', 'swirl.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `swirl` binary (asynchronously, so the test process stays responsive). */
export function swirl(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: packageRoot, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`swirl ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempStateDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'swirl-it-state-'));
}

/** Command lines of running `temporal server start-dev` processes. */
export function temporalServers(): string[] {
  const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => /temporal server start-dev/.test(l));
}

/** Workers for tests, in this process, on their own queues; `stop()` shuts them down and closes connections. */
export async function testWorkers(opts: {
  address: string;
  queues: import('../../workflows/types.js').TaskQueues;
  roles: import('../../activities/queues.js').QueueRole[];
  deps: import('../../activities/index.js').ActivityDeps;
  workerOptions?: Partial<import('@temporalio/worker').WorkerOptions>;
}): Promise<{ client: import('@temporalio/client').Client; stop: () => Promise<void> }> {
  const { NativeConnection } = await import('@temporalio/worker');
  const { Client, Connection } = await import('@temporalio/client');
  const { installQuietRuntime } = await import('../../runtime/clients.js');
  const { createWorkers } = await import('../../worker.js');
  installQuietRuntime();
  const native = await NativeConnection.connect({ address: opts.address });
  const connection = await Connection.connect({ address: opts.address });
  const workers = await createWorkers({ connection: native, namespace: 'default', roles: opts.roles, queues: opts.queues, deps: opts.deps, ...(opts.workerOptions ? { workerOptions: opts.workerOptions } : {}) });
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    client: new Client({ connection }),
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
      await native.close();
      await connection.close();
    },
  };
}

/** SIGKILL a child process and wait until it is gone. */
export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** The highest activity attempt among the shard workflows of a fan-out (attempt > 1: a shard was resumed after a crash). */
export async function maxShardAttempt(client: import('@temporalio/client').Client, fanoutId: string): Promise<number> {
  let max = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${fanoutId}/shard-'` })) {
    const h = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of h.events ?? []) if (e.activityTaskStartedEventAttributes) max = Math.max(max, e.activityTaskStartedEventAttributes.attempt ?? 1);
  }
  return max;
}

export interface ActivityAttempt {
  type: string;
  /** The activity input's `index` field, when it has one (train iterations). */
  index?: number;
  /** The attempt the history recorded: the server keeps only the final attempt's start. */
  attempt: number;
  closed: 'open' | 'completed' | 'failed' | 'timed out' | 'cancelled';
  failure?: string;
}

/** Every activity a workflow scheduled, with its recorded attempt and how it closed. */
export async function activityAttempts(client: import('@temporalio/client').Client, workflowId: string): Promise<ActivityAttempt[]> {
  const { defaultPayloadConverter } = await import('@temporalio/common');
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const byId = new Map<string, ActivityAttempt>();
  const of = (id: unknown) => byId.get(String(id))!;
  for (const e of h.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const arg = a.input?.payloads?.[0] ? (defaultPayloadConverter.fromPayload(a.input.payloads[0] as never) as { index?: unknown } | undefined) : undefined;
      byId.set(String(e.eventId), { type: a.activityType!.name!, ...(typeof arg?.index === 'number' ? { index: arg.index } : {}), attempt: 0, closed: 'open' });
    }
    if (e.activityTaskStartedEventAttributes) of(e.activityTaskStartedEventAttributes.scheduledEventId).attempt = e.activityTaskStartedEventAttributes.attempt ?? 1;
    if (e.activityTaskCompletedEventAttributes) of(e.activityTaskCompletedEventAttributes.scheduledEventId).closed = 'completed';
    if (e.activityTaskFailedEventAttributes) {
      const a = of(e.activityTaskFailedEventAttributes.scheduledEventId);
      a.closed = 'failed';
      let f = e.activityTaskFailedEventAttributes.failure;
      while (f?.cause && !f.applicationFailureInfo) f = f.cause;
      a.failure = `${f?.applicationFailureInfo?.type ?? ''}: ${f?.message ?? ''}${f?.applicationFailureInfo?.nonRetryable ? ' (non-retryable)' : ''}`;
    }
    if (e.activityTaskTimedOutEventAttributes) of(e.activityTaskTimedOutEventAttributes.scheduledEventId).closed = 'timed out';
    if (e.activityTaskCanceledEventAttributes) of(e.activityTaskCanceledEventAttributes.scheduledEventId).closed = 'cancelled';
  }
  return [...byId.values()];
}

/** A `swirl worker` child process for `env` (all queues), resolved once it polls. Its stderr is drained so it never blocks. */
export function startCliWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'worker'], { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('stop with Ctrl-C')) resolve(child);
    });
    child.stderr!.resume();
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs` naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 300_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A workflow's status name (RUNNING, COMPLETED, …), or undefined while it does not exist. */
export async function workflowStatus(client: import('@temporalio/client').Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (e) {
    if ((e as Error).name === 'WorkflowNotFoundError') return undefined;
    throw e;
  }
}

/** The activities a workflow has scheduled and not yet closed: type, whether an attempt is running, which attempt. */
export async function pendingActivities(client: import('@temporalio/client').Client, workflowId: string): Promise<Array<{ type: string; started: boolean; attempt: number }>> {
  const { temporal } = await import('@temporalio/proto');
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return (d.raw.pendingActivities ?? []).map((p) => ({
      type: p.activityType?.name ?? '',
      started: p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
      attempt: p.attempt ?? 1,
    }));
  } catch (e) {
    if ((e as Error).name === 'WorkflowNotFoundError') return [];
    throw e;
  }
}

/** Counts of an LLM call ledger file (0s while it does not exist yet). */
export async function ledgerCounts(file: string): Promise<{ keys: number; completions: number; attempts: number; duplicated: string[] }> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(file)) return { keys: 0, completions: 0, attempts: 0, duplicated: [] };
  const { SqliteLedger } = await import('../../store/ledger-sqlite.js');
  const l = new SqliteLedger(file);
  try {
    return await l.audit();
  } finally {
    l.close();
  }
}

/** The stub worker (tests/integration/fixtures/stub-worker.ts) as a child process, resolved once it is ready. */
export function startStubWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const script = path.join(packageRoot, 'tests', 'integration', 'fixtures', 'stub-worker.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`stub worker exited early (${code}): ${err.slice(-2000)}`)));
  });
}
