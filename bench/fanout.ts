// Engine overhead: items/s of the durable sharded fan-out (real Temporal dev
// server, child workflows, heartbeating shard activities, artifact store)
// against a plain in-process Promise pool running the same per-item work with
// the same concurrency. Both measured in one run; prints the ratio.
//   node --import tsx bench/fanout.ts [items=5000] [workMs=2] [shardSize=100] [concurrency=8]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { ItemProcessor } from '../activities/fanout.js';
import { installQuietRuntime } from '../runtime/clients.js';
import { startDevServer } from '../runtime/devserver.js';
import { swirlPaths } from '../runtime/paths.js';
import { FsArtifactStore } from '../store/artifacts.js';
import { MemoryStageCache } from '../store/stage-cache.js';
import type { FanoutResult } from '../workflows/fanout-types.js';
import { createWorkers, taskQueues } from '../worker.js';

const [n = 5000, workMs = 2, shardSize = 100, concurrency = 8] = process.argv.slice(2).map(Number);
const work: ItemProcessor = async (item, ctx) => {
  await new Promise((r) => setTimeout(r, workMs));
  return { outcome: 'succeeded', row: { i: ctx.index, v: (item as { n: number }).n * 2 } };
};
const items = Array.from({ length: n }, (_, i) => ({ id: `i${i}`, n: i }));

async function promisePool(): Promise<number> {
  const t = performance.now();
  let next = 0;
  const out: unknown[] = new Array(n);
  const ac = new AbortController();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await work(items[i], { index: i, shardKey: 'pool', stageId: 'bench', config: {}, signal: ac.signal });
      }
    }),
  );
  return performance.now() - t;
}

let memory: number[] = [];

async function engine(): Promise<{ ms: number; result: FanoutResult }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-bench-'));
  installQuietRuntime('WARN');
  const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false });
  try {
    const native = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    const queues = taskQueues('bench');
    const store = new FsArtifactStore(path.join(dir, 'artifacts'));
    const workers = await createWorkers({ connection: native, namespace: 'default', roles: ['orchestration', 'llm'], queues, deps: { store, cache: new MemoryStageCache(), scratchDir: path.join(dir, 'scratch'), processors: { work } }, workerOptions: { maxConcurrentActivityTaskExecutions: concurrency } });
    const running = Promise.all(workers.map((w) => w.run()));
    const ref = await store.put('items', items);
    const client = new Client({ connection });
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 500);
    const t = performance.now();
    const result = (await client.workflow.execute('fanoutWorkflow', {
      taskQueue: queues.orchestration,
      workflowId: 'bench-fanout',
      args: [{ keyPrefix: 'bench-fanout', stageId: 'bench', processor: 'work', items: ref, outputKind: 'items', config: {}, shardSize, concurrency, orchestrationQueue: queues.orchestration, activity: { taskQueue: queues.llm, startToCloseTimeoutMs: 600_000, heartbeatTimeoutMs: 30_000, retry: { maximumAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 10_000 } } }],
    })) as FanoutResult;
    const ms = performance.now() - t;
    clearInterval(sampler);
    memory = samples;
    for (const w of workers) w.shutdown();
    await running;
    await native.close();
    await connection.close();
    return { ms, result };
  } finally {
    await server.stop();
  }
}

const pool = await promisePool();
const eng = await engine();
const rate = (ms: number) => (n / (ms / 1000)).toFixed(0);
console.log(`${n} items, ${workMs} ms of work each, shard size ${shardSize}, concurrency ${concurrency}`);
console.log(`  promise pool (in-process, not durable)   ${pool.toFixed(0)} ms   ${rate(pool)} items/s`);
console.log(`  swirl fan-out (durable, ${eng.result.shards} shards)      ${eng.ms.toFixed(0)} ms   ${rate(eng.ms)} items/s   (${eng.result.continuedAsNew} continue-as-new)`);
console.log(`  ratio engine/pool throughput: ${(pool / eng.ms).toFixed(2)}`);
if (memory.length >= 4) {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const q = Math.floor(memory.length / 4);
  const firstQuarter = Math.max(...memory.slice(0, q));
  const lastQuarter = Math.max(...memory.slice(-q));
  console.log(`  worker process RSS during the run: first quarter max ${mb(firstQuarter)}, last quarter max ${mb(lastQuarter)} (ratio ${(lastQuarter / firstQuarter).toFixed(2)}), ${memory.length} samples`);
}
