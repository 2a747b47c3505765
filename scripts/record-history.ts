// Records the event history of a real quickstart run into
// tests/fixtures/histories/, for the replay test. Run it when a workflow change
// is intended AND guarded by patched(): keep the old histories, add the new one.
//   node --import tsx scripts/record-history.ts [pipeline] [label]   e.g. quickstart v3-fanout
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

const name = process.argv[2] ?? 'quickstart';
const label = process.argv[3] ?? new Date().toISOString().slice(0, 10);
const dir = mkdtempSync(path.join(tmpdir(), 'swirl-record-'));
installQuietRuntime();
const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db') });
try {
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const queues = taskQueues('record');
  const workers = await createWorkers({ connection: native, namespace: 'default', roles: ['orchestration', 'llm'], queues, deps: { store: new FsArtifactStore(path.join(dir, 'artifacts')), cache: new FsStageCache(path.join(dir, 'cache')), scratchDir: path.join(dir, 'scratch') } });
  const running = Promise.all(workers.map((w) => w.run()));
  const compiled = compileFile(path.join(packageRoot, 'pipelines', `${name}.yaml`));
  if (!compiled.ok) throw new Error(`${name}.yaml does not compile`);
  const client = new Client({ connection });
  const handle = await client.workflow.start('pipelineWorkflow', {
    taskQueue: queues.orchestration,
    workflowId: `record-${name}`,
    args: [{ plan: compiled.plan, projectRoot: packageRoot, queues }],
  });
  await handle.result();
  // `temporal workflow show --output json` writes the format replay tests read.
  const json = execFileSync(swirlPaths().temporalBin, ['workflow', 'show', '--address', server.address, '--workflow-id', handle.workflowId, '--output', 'json'], { encoding: 'utf8' });
  const events = (JSON.parse(json) as { events: unknown[] }).events.length;
  const out = path.join(packageRoot, 'tests', 'fixtures', 'histories');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${name}-${label}.json`);
  writeFileSync(file, json);
  console.log(`wrote ${path.relative(packageRoot, file)} (${events} events)`);
  for (const w of workers) w.shutdown();
  await running;
  await native.close();
  await connection.close();
} finally {
  await server.stop();
}
