// Records a train loop whose iterations span a worker upgrade: an older swirl checkout's worker
// runs the first iteration(s), is stopped with SIGTERM, and this checkout's worker finishes the
// run. The child history then holds iterations scheduled before and after a patch marker — what a
// long run started by older code looks like after an upgrade — and goes to tests/fixtures/histories.
//   node --import tsx scripts/record-mixed-train.ts OLD_CHECKOUT LABEL [--after N] [--set K=V ...]
// OLD_CHECKOUT: a worktree of the older commit with node_modules and .venv linked in.
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../runtime/paths.js';
import type { TrainProgress } from '../workflows/train.js';
import { startOpenAIStub } from '../tests/integration/fixtures/openai-stub.js';

const [oldRoot, label, ...rest] = process.argv.slice(2);
if (!oldRoot || !label) throw new Error('usage: record-mixed-train.ts OLD_CHECKOUT LABEL [--after N] [--set K=V ...]');
const after = rest.includes('--after') ? Number(rest[rest.indexOf('--after') + 1]) : 1;
const sets = rest.flatMap((a, i) => (rest[i - 1] === '--set' ? ['--set', a] : []));
const spec = path.join(packageRoot, 'tests', 'integration', 'fixtures', 'train-crash.yaml');
const dir = mkdtempSync(path.join(tmpdir(), 'swirl-mixed-'));
const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db') });
const stub = await startOpenAIStub({ faultRate: 0 });
const env = { ...process.env, CI: 'true', SWIRL_LLAMA_THREADS: '1', TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: dir, SWIRL_LEDGER: path.join(dir, 'ledger.db'), SWIRL_MODELS_DIR: swirlPaths().models, SWIRL_TASK_QUEUE_PREFIX: 'record' };

function worker(root: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'swirl.js'), 'worker'], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('stop with Ctrl-C')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker in ${root} exited early (${code})`)));
  });
}

const connection = await Connection.connect({ address: server.address });
try {
  const client = new Client({ connection });
  let w = await worker(oldRoot);
  const started = execFileSync(process.execPath, [path.join(packageRoot, 'bin', 'swirl.js'), 'run', spec, '--set', `models.scripted.baseUrl=${stub.baseUrl}`, ...sets, '--id', 'record-train-crash', '--no-worker', '--detach', '--json'], { env, encoding: 'utf8' });
  const { workflowId } = JSON.parse(started) as { workflowId: string };
  const loop = client.workflow.getHandle(`${workflowId}/trained`);
  for (;;) {
    const p = await loop.query<TrainProgress>('trainProgress').catch(() => undefined);
    if (p && p.iteration >= after) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const gone = new Promise((r) => w.once('exit', r));
  w.kill('SIGTERM');
  await gone;
  console.log(`old worker stopped after iteration ${after}`);
  w = await worker(packageRoot);
  const result = await client.workflow.getHandle(workflowId).result();
  console.log(`run finished: ${JSON.stringify((result as { status?: string }).status ?? '')}`);
  const json = execFileSync(swirlPaths().temporalBin, ['workflow', 'show', '--address', server.address, '--workflow-id', loop.workflowId, '--output', 'json'], { encoding: 'utf8' });
  const file = path.join(packageRoot, 'tests', 'fixtures', 'histories', `train-crash-${label}--trained.json`);
  writeFileSync(file, json);
  console.log(`wrote ${path.relative(packageRoot, file)} (${(JSON.parse(json) as { events: unknown[] }).events.length} events)`);
  const stopped = new Promise((r) => w.once('exit', r));
  w.kill('SIGTERM');
  await stopped;
} finally {
  await connection.close();
  await stub.close();
  await server.stop();
}
