// Records the event history of a real quickstart run into
// tests/fixtures/histories/, for the replay test. Run it when a workflow change
// is intended AND guarded by patched(): keep the old histories, add the new one.
//   node --import tsx scripts/record-history.ts [pipeline] [label]   e.g. quickstart v3-fanout
// `pipeline` is a name under pipelines/ or a spec file (then named by its file
// name); after the label, `--set KEY=VALUE` overrides the spec, and
// `--raise-budget N` waits until the run pauses on its budget, then raises
// maxTokens to N (records a budget pause and resume), e.g.
// `--child STAGE` also records the stage's child workflow (a train stage's loop,
// `record-<pipeline>/STAGE`) as `<pipeline>-<label>--STAGE.json`;
// `--openai-stub MODEL` serves spec model MODEL from the loopback stub of the
// integration tests (tests/integration/fixtures/openai-stub.ts), e.g.
//   ... record-history.ts tests/fixtures/specs/valid/budget-breaker.yaml v5-run-budget --openai-stub policy --set budget.maxTokens=150 --raise-budget 100000
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { compileFile } from '../compiler/index.js';
import { installQuietRuntime } from '../runtime/clients.js';
import { startDevServer } from '../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../runtime/paths.js';
import { FsArtifactStore } from '../store/artifacts.js';
import { FsStageCache } from '../store/stage-cache.js';
import { createWorkers, taskQueues } from '../worker.js';

const arg = process.argv[2] ?? 'quickstart';
const specFile = arg.endsWith('.yaml') ? path.resolve(arg) : path.join(packageRoot, 'pipelines', `${arg}.yaml`);
const name = path.basename(specFile, '.yaml');
const label = process.argv[3] ?? new Date().toISOString().slice(0, 10);
const rest = process.argv.slice(4);
const overrides = rest.flatMap((a, i) => (rest[i - 1] === '--set' ? [a] : []));
const stubAt = rest.indexOf('--openai-stub');
const stub = stubAt >= 0 ? await (await import('../tests/integration/fixtures/openai-stub.js')).startOpenAIStub({ faultRate: 0 }) : undefined;
if (stub) overrides.push(`models.${rest[stubAt + 1]}.baseUrl=${stub.baseUrl}`);
const children = rest.flatMap((a, i) => (rest[i - 1] === '--child' ? [a] : []));
const raiseAt = rest.indexOf('--raise-budget');
const raiseTo = raiseAt >= 0 ? Number(rest[raiseAt + 1]) : undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'swirl-record-'));
installQuietRuntime();
const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db') });
try {
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const queues = taskQueues('record');
  const workers = await createWorkers({ connection: native, namespace: 'default', roles: ['orchestration', 'llm', 'train'], queues, deps: { store: new FsArtifactStore(path.join(dir, 'artifacts')), cache: new FsStageCache(path.join(dir, 'cache')), scratchDir: path.join(dir, 'scratch') } });
  const running = Promise.all(workers.map((w) => w.run()));
  const compiled = compileFile(specFile, { overrides });
  if (!compiled.ok) throw new Error(`${name}.yaml does not compile: ${JSON.stringify(compiled.errors)}`);
  const client = new Client({ connection });
  const handle = await client.workflow.start('pipelineWorkflow', {
    taskQueue: queues.orchestration,
    workflowId: `record-${name}`,
    args: [{ plan: compiled.plan, projectRoot: compiled.projectRoot, queues }],
  });
  if (raiseTo !== undefined) {
    for (;;) {
      const p = await handle.query<{ pauseReason?: string; status: string }>('progress');
      if (p.pauseReason) {
        console.log(`paused: ${p.pauseReason}; raising maxTokens to ${raiseTo}`);
        await handle.signal('raiseBudget', { maxTokens: raiseTo });
        break;
      }
      if (p.status !== 'running' && p.status !== 'paused') throw new Error(`run ended (${p.status}) without pausing on its budget`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await handle.result();
  const out = path.join(packageRoot, 'tests', 'fixtures', 'histories');
  mkdirSync(out, { recursive: true });
  for (const [id, suffix] of [[handle.workflowId, ''], ...children.map((c) => [`${handle.workflowId}/${c}`, `--${c}`])] as Array<[string, string]>) {
    // `temporal workflow show --output json` writes the format replay tests read.
    const json = execFileSync(swirlPaths().temporalBin, ['workflow', 'show', '--address', server.address, '--workflow-id', id, '--output', 'json'], { encoding: 'utf8' });
    const events = (JSON.parse(json) as { events: unknown[] }).events.length;
    const file = path.join(out, `${name}-${label}${suffix}.json`);
    writeFileSync(file, json);
    console.log(`wrote ${path.relative(packageRoot, file)} (${events} events)`);
  }
  for (const w of workers) w.shutdown();
  await running;
  await native.close();
  await connection.close();
} finally {
  await server.stop();
  await stub?.close();
}
