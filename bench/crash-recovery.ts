// Time to recover after kill -9, per activity kind: runs a pipeline on a
// `swirl worker` (its own dev server and state dir) and, the first time an
// activity of each kind (type, and stage for shards) is seen running, kills
// the worker with SIGKILL and starts a fresh one at once. For each kill it
// prints how long the killed activity took to start again on the new worker
// (detection by the heartbeat timeout + retry backoff, overlapping the new
// worker's start) and to complete (that plus the work redone), and at the end
// the whole run's wall time.
//   node --import tsx bench/crash-recovery.ts [spec=pipelines/quickstart.yaml] [--set k=v ...]
// Kinds that finish within one poll (100 ms) are not caught: a kill there is a
// kill between activities (the next workflow task goes to the new worker).
// Nor are kinds that only run while a killed activity's retry is still running.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { startDevServer } from '../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../runtime/paths.js';
import { kill9, startCliWorker } from '../tests/integration/helpers.js';

const args = process.argv.slice(2);
const spec = args[0] && !args[0].startsWith('--') ? args.shift()! : 'pipelines/quickstart.yaml';
const bin = path.join(packageRoot, 'bin', 'swirl.js');
const dir = mkdtempSync(path.join(tmpdir(), 'swirl-crash-bench-'));
const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db'), logFile: path.join(dir, 'temporal.log') });
const env = { ...process.env, CI: 'true', TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: path.join(dir, 'state'), SWIRL_TASK_QUEUE_PREFIX: `crash-bench-${process.pid}` };
const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const startWorker = () => startCliWorker(env);

function cli(a: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...a], { cwd: packageRoot, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`swirl ${a.join(' ')} exited ${code}`))));
  });
}

interface Running {
  workflowId: string;
  activityId: string;
  kind: string;
  attempt: number;
}

/** Started activity attempts in every open workflow of the run. */
async function running(client: Client, runId: string): Promise<Running[]> {
  const out: Running[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${runId}' AND ExecutionStatus = 'Running'` })) {
    let d;
    try {
      d = await client.workflow.getHandle(wf.workflowId).describe();
    } catch {
      continue;
    }
    for (const p of d.raw.pendingActivities ?? []) {
      if (p.state !== STARTED) continue;
      const type = p.activityType?.name ?? '?';
      // Shards: the stage from `<run>/<stage>/shard-N`.
      const stage = type === 'processShard' ? ` (${wf.workflowId.split('/')[1]})` : '';
      out.push({ workflowId: wf.workflowId, activityId: p.activityId ?? '', kind: type + stage, attempt: p.attempt ?? 1 });
    }
  }
  return out;
}

const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
let worker = await startWorker();
const t0 = Date.now();
const { workflowId } = JSON.parse(await cli(['run', spec, ...args, '--no-worker', '--detach', '--json'])) as { workflowId: string };
const rows: Promise<string>[] = [];
const killed = new Set<string>();
const handle = client.workflow.getHandle(workflowId);

/** Follows the killed activity: when its next attempt starts, and when it completes (its remaining work included). */
async function follow(target: Running, killedAt: number, workerUp: Promise<number>, retriedSeen: number | undefined): Promise<string> {
  let retried = retriedSeen;
  let done: number;
  for (;;) {
    const d = await client.workflow.getHandle(target.workflowId).describe().catch(() => undefined);
    const p = d?.raw.pendingActivities?.find((a) => a.activityId === target.activityId);
    if (!p) {
      done = Date.now() - killedAt;
      break;
    }
    if (retried === undefined && (p.attempt ?? 1) > target.attempt && p.state === STARTED) retried = Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 100));
  }
  const row = `| ${target.kind} | ${retried === undefined ? '— (done first)' : sec(retried)} | ${sec(await workerUp)} | ${sec(done)} |`;
  console.log(row);
  return row;
}

for (;;) {
  if ((await handle.describe()).status.name !== 'RUNNING') break;
  // A kill fails every activity running on the worker, and each failure spends an attempt of its retry
  // policy (the quickstart allows 3): kill only while every running activity is on its first attempt.
  const now = await running(client, workflowId);
  const target = now.every((r) => r.attempt === 1) ? now.find((r) => !killed.has(r.kind)) : undefined;
  if (!target) {
    await new Promise((r) => setTimeout(r, 100));
    continue;
  }
  killed.add(target.kind);
  await kill9(worker);
  const killedAt = Date.now();
  const restarting = startWorker();
  const workerUp = restarting.then(() => Date.now() - killedAt);
  worker = await restarting;
  // Next kill only once the killed activity runs again (or is done): one crash at a time.
  let retried: number | undefined;
  for (;;) {
    const d = await client.workflow.getHandle(target.workflowId).describe().catch(() => undefined);
    const p = d?.raw.pendingActivities?.find((a) => a.activityId === target.activityId);
    if (!p) break;
    if ((p.attempt ?? 1) > target.attempt && p.state === STARTED) {
      retried = Date.now() - killedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  rows.push(follow(target, killedAt, workerUp, retried));
}
const total = Date.now() - t0;
const status = (await handle.describe()).status.name;
const table = await Promise.all(rows);
console.log(`\n| activity killed | kill → next attempt started | kill → new worker polling | kill → activity done (with its remaining work) |\n| --- | --- | --- | --- |\n${table.join('\n')}`);
console.log(`\nrun ${status} in ${sec(total)} with ${table.length} kills`);
if (status !== 'COMPLETED') {
  const st = JSON.parse(await cli(['status', workflowId, '--json']).catch(() => '{}')) as { stages?: Array<{ id: string; status: string; error?: unknown }> };
  for (const s of st.stages ?? []) if (s.status !== 'completed') console.log(`stage ${s.id}: ${s.status} ${JSON.stringify(s.error ?? '')}`);
}
await kill9(worker);
await connection.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });
