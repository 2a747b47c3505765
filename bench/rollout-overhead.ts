// Rollout overhead of the engine: episodes/s of a real Plan (dataset → rollout)
// run through a Temporal dev server, swirl's worker (sharded fan-out, shard
// activities, scratch files, heartbeats) and a fresh SQLite LLM call ledger,
// against a plain in-process Promise pool of the same concurrency running the
// same item processor (activities/rollout.ts: episode runner, tag protocol,
// calculator, openai-compatible model behind the ledger and the model gate)
// with its own fresh ledger. Both call one OpenAI-compatible stub (own
// process, fixed latency per call, scripted: one calculator call then the
// answer, so every episode makes exactly 2 calls).
// Order: pool, engine, pool, engine, … (BENCH_ROUNDS engine runs, default 3), each engine
// run compared with the pool runs on either side; the median ratio is the result.
// BENCH_SIDES=engine (or pool) runs one side only, for profiling (node --cpu-prof …).
// The worker uses its default episode threads (activities/episode-threads.ts);
// SWIRL_EPISODE_THREADS=0 measures the engine with episodes on its main thread.
//   node --import tsx bench/rollout-overhead.ts [episodes=640] [concurrency=32] [latencyMs=50] [shardSize=stage default layout]
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadDataset } from '../activities/dataset.js';
import { expandSamples, rolloutProcessor, type RolloutConfig, type RolloutItem } from '../activities/rollout.js';
import type { Trajectory } from '../agents/types.js';
import { compileSource } from '../compiler/index.js';
import { installQuietRuntime } from '../runtime/clients.js';
import { startDevServer } from '../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../runtime/paths.js';
import { FsArtifactStore, MemoryArtifactStore } from '../store/artifacts.js';
import { SqliteLedger } from '../store/ledger-sqlite.js';
import { MemoryStageCache } from '../store/stage-cache.js';
import { rolloutConfigOf, type RolloutStageConfig } from '../workflows/stages/rollout.js';
import type { PipelineInput, PipelineResult } from '../workflows/types.js';
import { createWorkers, taskQueues } from '../worker.js';
import { mean, promisePool, quantile } from './pool.js';
import { shardLayout } from '../workflows/stages/fanout-stage.js';
import { defaultEpisodeThreads } from '../activities/episode-threads.js';

const args = process.argv.slice(2).map(Number);
const [wantEpisodes = 640, concurrency = 32, latencyMs = 50] = args;
const shardSize = args[3];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLS_PER_EPISODE = 2;
const GSM8K_TEST_ROWS = 1319;
// Enough samples per question that the test split covers the episodes.
const samples = Math.max(1, Math.ceil(wantEpisodes / GSM8K_TEST_ROWS));
const questions = Math.ceil(wantEpisodes / samples);
const episodes = questions * samples;

const dir = mkdtempSync(path.join(tmpdir(), 'swirl-bench-rollout-'));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}
/** CPU seconds of this process, the stub and (engine side) the Temporal server over `fn`. */
async function withCpu<T>(pids: number[], fn: () => Promise<T>): Promise<{ value: T; cpu: number[] }> {
  const before = pids.map(cpuOf);
  const value = await fn();
  return { value, cpu: pids.map((p, i) => cpuOf(p) - before[i]!) };
}

// --- the stub, in its own process ---
const stub: ChildProcess = fork(path.join(packageRoot, 'bench', 'rollout-stub.ts'), [String(latencyMs)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const baseUrl = await new Promise<string>((resolve, reject) => {
  stub.once('message', (m) => resolve((m as { baseUrl: string }).baseUrl));
  stub.once('exit', (code) => reject(new Error(`the stub exited (${code})`)));
});
const stubCounts = () =>
  new Promise<{ requests: number; ok: number }>((resolve) => {
    stub.once('message', (m) => resolve(m as { requests: number; ok: number }));
    stub.send('count');
  });

// --- the Plan (the engine runs it; the pool takes its rollout config and items) ---
const spec = `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: bench-rollout-overhead}
defaults: {timeout: 10m, concurrency: ${concurrency}}
models:
  policy: {provider: openai-compatible, model: stub-model, baseUrl: ${baseUrl}, temperature: 1.0, maxTokens: 64, seed: 7, requestTimeout: 30s, concurrency: ${concurrency}}
tools:
  calculator: {kind: calculator}
stages:
  - {id: questions, type: dataset, path: ../data/gsm8k/test.jsonl, format: gsm8k, seed: 1, limit: ${questions}}
  - {id: rollouts, type: rollout, input: questions, model: policy, tools: [calculator], samples: ${samples}, maxSteps: 2, cache: false${shardSize ? `, shardSize: ${shardSize}` : ''}}
`;
const compiled = compileSource(spec, path.join(packageRoot, 'bench', 'rollout-overhead.yaml'));
if (!compiled.ok) throw new Error(`bench spec does not compile: ${JSON.stringify(compiled.errors)}`);
const plan = compiled.plan;
const rolloutStage = plan.stages.find((s) => s.id === 'rollouts')!;
const datasetStage = plan.stages.find((s) => s.id === 'questions')!;
const input: PipelineInput = { plan, projectRoot: compiled.projectRoot, queues: taskQueues(`bench-rollout-${process.pid}`) };

interface Side {
  ms: number;
  /** CPU seconds over the measured time: this process, the stub, the Temporal server (engine only). */
  cpu: number[];
  calls: number;
  ledger: { keys: number; completions: number; duplicated: number };
  load: string;
}

async function auditOf(file: string): Promise<Side['ledger']> {
  const l = new SqliteLedger(file);
  try {
    const a = await l.audit();
    return { keys: a.keys, completions: a.completions, duplicated: a.duplicated.length };
  } finally {
    l.close();
  }
}

/** The same item processor the rollout stage's shards run, over the same items, in a Promise pool. */
async function pool(name: string): Promise<Side> {
  const store = new MemoryArtifactStore();
  const qs = await loadDataset(store, { stageId: datasetStage.id, projectRoot: input.projectRoot, config: datasetStage.config as never });
  const itemsRef = await expandSamples(store, { questions: qs, samples });
  const items: RolloutItem[] = [];
  for await (const it of store.read<RolloutItem>(itemsRef)) items.push(it);
  const cfg: RolloutConfig = rolloutConfigOf({ stage: rolloutStage, input } as never, rolloutStage.config as unknown as RolloutStageConfig);
  const ledgerFile = path.join(dir, `${name}-ledger.db`);
  const ledger = new SqliteLedger(ledgerFile);
  const process1 = rolloutProcessor(swirlPaths().models, ledger);
  const before = await stubCounts();
  const t = performance.now();
  // One abort signal per episode (a shard activity has one per attempt).
  const { value: outcomes, cpu } = await withCpu([process.pid, stub.pid!], () =>
    promisePool(items.length, concurrency, (i) => process1(items[i], { index: i, shardKey: `${name}/rollouts/shard-00000`, stageId: 'rollouts', config: cfg as unknown as Record<string, unknown>, signal: new AbortController().signal })),
  );
  const ms = performance.now() - t;
  ledger.close();
  const bad = outcomes.filter((o) => o.outcome !== 'succeeded' || (o.row as Trajectory).status !== 'answered');
  if (bad.length) throw new Error(`${name}: ${bad.length} episodes did not answer: ${JSON.stringify(bad[0]).slice(0, 300)}`);
  return { ms, cpu, calls: (await stubCounts()).requests - before.requests, ledger: await auditOf(ledgerFile), load: load() };
}

interface EngineSide extends Side {
  rolloutStageMs: number;
  shards: number;
  shardSize: number;
  itemConcurrency: number;
}

/** The shards the rollout stage makes: the Plan's shardSize (one item at a time), else the default layout (workflows/stages/fanout-stage.ts). */
function engineLayout(): { shards: number; shardSize: number; itemConcurrency: number } {
  const l = shardSize ? { shardSize, itemConcurrency: 1 } : shardLayout(episodes, concurrency);
  return { shards: Math.ceil(episodes / l.shardSize), shardSize: l.shardSize, itemConcurrency: l.itemConcurrency };
}

async function engine(name = 'engine'): Promise<EngineSide> {
  installQuietRuntime('WARN');
  const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false });
  try {
    const native = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    const ledgerFile = path.join(dir, `${name}-ledger.db`);
    const ledger = new SqliteLedger(ledgerFile);
    // The worker as `swirl worker` makes it (default worker options), with a fresh ledger and store.
    const workers = await createWorkers({
      connection: native,
      namespace: 'default',
      roles: ['orchestration', 'llm'],
      queues: input.queues,
      deps: { store: new FsArtifactStore(path.join(dir, `${name}-artifacts`)), cache: new MemoryStageCache(), scratchDir: path.join(dir, `${name}-scratch`), ledger },
    });
    const running = Promise.all(workers.map((w) => w.run()));
    const client = new Client({ connection });
    const before = await stubCounts();
    const t = performance.now();
    const { value: result, cpu } = await withCpu([process.pid, stub.pid!, server.pid], async () => (await client.workflow.execute('pipelineWorkflow', { taskQueue: input.queues.orchestration, workflowId: `bench-rollout-${Date.now()}`, args: [input] })) as PipelineResult);
    const ms = performance.now() - t;
    const calls = (await stubCounts()).requests - before.requests;
    for (const w of workers) w.shutdown();
    await running;
    ledger.close();
    await native.close();
    await connection.close();
    const r = result.stages.find((s) => s.id === 'rollouts')!;
    if (result.status !== 'completed' || r.counts?.succeeded !== episodes || r.stats?.answered !== episodes) throw new Error(`engine run: ${JSON.stringify(result.stages).slice(0, 600)}`);
    return { ms, cpu, calls, ledger: await auditOf(ledgerFile), load: load(), rolloutStageMs: Date.parse(r.finishedAt!) - Date.parse(r.startedAt!), ...engineLayout() };
  } finally {
    await server.stop();
  }
}

try {
  const loadBefore = load();
  const only = process.env.BENCH_SIDES;
  if (only === 'engine' || only === 'pool') {
    const s = only === 'engine' ? await engine() : await pool('pool');
    console.log(`${only} only: ${episodes} episodes, concurrency ${concurrency}: ${(s.ms / 1000).toFixed(2)} s, calls ${s.calls}, CPU ${s.cpu.map((c) => c.toFixed(1)).join('+')} s; load ${loadBefore} → ${s.load}`);
  } else await compare(loadBefore);
} finally {
  stub.disconnect();
  rmSync(dir, { recursive: true, force: true });
}

async function compare(loadBefore: string): Promise<void> {
  // Pool and engine alternate (pool, engine, pool, engine, …, pool): each
  // engine run is compared with the mean of the pool runs on either side of
  // it, and the median over the rounds is the result (this machine is noisy;
  // one pair can be off by 1.5× either way).
  const pools: Side[] = [await pool('pool-0')];
  const engines: EngineSide[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    engines.push(await engine(`engine-${r + 1}`));
    pools.push(await pool(`pool-${r + 1}`));
  }
  const rate = (ms: number) => episodes / (ms / 1000);
  const expected = episodes * CALLS_PER_EPISODE;
  const line = (label: string, s: Side, extra = '') =>
    console.log(`  ${label.padEnd(30)} ${(s.ms / 1000).toFixed(2).padStart(7)} s  ${rate(s.ms).toFixed(1).padStart(7)} episodes/s  calls ${s.calls}${s.calls === expected ? '' : ` (EXPECTED ${expected})`}  ledger ${s.ledger.completions} completions/${s.ledger.keys} keys${s.ledger.duplicated ? ` ${s.ledger.duplicated} DUPLICATED` : ''}  CPU ${s.cpu.map((c) => c.toFixed(1)).join('+')} s = ${((s.cpu.reduce((a, b) => a + b, 0) * 1000) / episodes).toFixed(1)} ms/episode  load ${s.load}${extra}`);
  const layout = shardSize ? `shard size ${shardSize}, one item at a time (${engines[0]!.shards} shards)` : `default layout: ${engines[0]!.shards} shards of ≤ ${engines[0]!.shardSize} items, ${engines[0]!.itemConcurrency} items at a time each`;
  const threads = defaultEpisodeThreads();
  console.log(`rollout overhead: ${episodes} episodes (${questions} questions × ${samples} samples), ${CALLS_PER_EPISODE} calls each, stub latency ${latencyMs} ms, concurrency ${concurrency}, ${layout}; episode threads ${threads}${threads ? '' : ' (the main thread runs the episodes)'}; ${ROUNDS} rounds; load average before ${loadBefore}`);
  const whole: number[] = [];
  const stage: number[] = [];
  line('promise pool (in-process) #0', pools[0]!);
  engines.forEach((eng, r) => {
    const poolRate = mean([rate(pools[r]!.ms), rate(pools[r + 1]!.ms)]);
    whole.push(rate(eng.ms) / poolRate);
    stage.push(rate(eng.rolloutStageMs) / poolRate);
    line(`swirl engine #${r + 1}`, eng, `; rollout stage alone ${(eng.rolloutStageMs / 1000).toFixed(2)} s = ${rate(eng.rolloutStageMs).toFixed(1)} episodes/s; ratio ${whole[r]!.toFixed(3)} / ${stage[r]!.toFixed(3)}`);
    line(`promise pool (in-process) #${r + 1}`, pools[r + 1]!);
  });
  console.log('  (CPU: this process + stub + Temporal server, user+system, over the measured time; ratio: engine vs the mean of the pool runs before and after it, whole Plan / rollout stage)');
  console.log(`  ideal (latency only): ${((episodes / concurrency) * CALLS_PER_EPISODE * latencyMs / 1000).toFixed(2)} s = ${((concurrency * 1000) / (CALLS_PER_EPISODE * latencyMs)).toFixed(1)} episodes/s`);
  console.log(`  ratio engine/pool throughput, median of ${ROUNDS}: ${quantile(whole, 0.5).toFixed(3)} (whole Plan), ${quantile(stage, 0.5).toFixed(3)} (rollout stage); range ${Math.min(...whole).toFixed(3)}–${Math.max(...whole).toFixed(3)} (whole Plan)`);
  if ([...pools, ...engines].some((s) => s.calls !== expected || s.ledger.completions !== expected || s.ledger.duplicated)) process.exitCode = 1;
}
