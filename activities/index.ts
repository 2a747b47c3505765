// Activities are built from injected dependencies so tests can pass
// in-memory stores and fake models; worker.ts passes the real ones.
import type { ArtifactStore } from '../store/artifacts.js';
import type { LlmLedger } from '../store/ledger.js';
import { loadDataset, type LoadDatasetInput } from './dataset.js';
import { guardActivities, SUMMARY_PAYLOAD_BYTES } from './payload-guard.js';
import { keepAliveAll } from './keep-alive.js';
import type { QueueRole } from './queues.js';
import type { StageCache } from '../store/stage-cache.js';
import type { PlanModel } from '../compiler/plan-types.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { lookupStageCache, type CacheLookupInput } from './stage-cache.js';
import { concatArtifacts, ItemCache, processShard, type ItemProcessor } from './fanout.js';
import { expandSamples, rolloutProcessor, summarizeTrajectories } from './rollout.js';
import { defaultEpisodeThreads, episodeThreadsFor, threadedRolloutProcessor } from './episode-threads.js';
import { SqliteLedger } from '../store/ledger-sqlite.js';
import { decomposeTrajectories } from './decompose.js';
import { filterProcessor, finishFilter, type FinishFilterInput } from './judge.js';
import { evaluateProcessor, summarizeEvaluation } from './evaluate.js';
import { readPolicy } from './policy.js';
import { servePolicy } from './served-policy.js';
import { writeStageReport, type StageReportInput } from './report.js';
import { countedAttempt, attemptLogFile } from './attempt-log.js';
import { prepareTrainBatches, sampleTrainBatch, sampleTrainBatchOnTrainer, trainDir, type TrainBatchesInput, trainStep, writePolicy, type SampleBatchInput, type TrainCurvePoint, type TrainStepInput, type TrainStepResult } from './train.js';
import { swirlPaths } from '../runtime/paths.js';
import type { ArtifactKind } from '../compiler/stage-kinds.js';
import type { ShardSpec } from '../workflows/fanout-types.js';

export interface ActivityDeps {
  store: ArtifactStore;
  cache: StageCache;
  /** Scratch files of running shards (resume state). */
  scratchDir: string;
  /** Per-item work, by processor name (rollout, judge, …); defaults to swirl's own. */
  processors?: Record<string, ItemProcessor>;
  /** Where embedded models live (default .swirl/models). */
  modelsDir?: string;
  /** The LLM call ledger every model call goes through (default: SQLite at swirlPaths().ledger, opened on first use). */
  ledger?: LlmLedger;
  /** Threads for rollout episodes against remote models (activities/episode-threads.ts); default `defaultEpisodeThreads()`, 0: none. */
  episodeThreads?: number;
}

/** The ledger file episode threads open: the worker's SQLite ledger (asked when used, as defaultLedger does), or none: an in-memory ledger cannot be shared with a thread. */
function threadLedgerFile(ledger: LlmLedger | undefined): string | (() => string) | undefined {
  if (!ledger) return () => swirlPaths().ledger;
  return ledger instanceof SqliteLedger && ledger.file !== ':memory:' ? ledger.file : undefined;
}

export function createActivities(deps: ActivityDeps) {
  const items = new ItemCache();
  const modelsDir = deps.modelsDir ?? swirlPaths().models;
  const threads = deps.episodeThreads ?? defaultEpisodeThreads();
  const ledgerFile = threadLedgerFile(deps.ledger);
  const inline = rolloutProcessor(modelsDir, deps.ledger);
  const rollout = deps.processors?.rollout ?? (threads > 0 && ledgerFile ? threadedRolloutProcessor(inline, episodeThreadsFor({ threads, modelsDir }), ledgerFile) : inline);
  const processors: Record<string, ItemProcessor> = {
    rollout,
    filter: filterProcessor({ modelsDir, ...(deps.ledger ? { ledger: deps.ledger } : {}) }),
    evaluate: evaluateProcessor(rollout, { modelsDir, ...(deps.ledger ? { ledger: deps.ledger } : {}) }),
    ...deps.processors,
  };
  const shardDeps = { store: deps.store, scratchDir: deps.scratchDir, processors, items };
  // Every input and result is size-checked here, once for all (payload-guard.ts), and every
  // activity heartbeats while it runs (the workflows give each a short heartbeat timeout):
  // processShard, sampleTrainBatch(OnTrainer) and trainStep with their progress, the rest through keepAlive.
  return guardActivities(keepAliveAll({
    async processShard(spec: ShardSpec) {
      return processShard(shardDeps, spec);
    },
    async summarizeTrajectories(ref: ArtifactRef) {
      return summarizeTrajectories(deps.store, ref);
    },
    async expandSamples(input: { questions: ArtifactRef; samples: number }) {
      return expandSamples(deps.store, input);
    },
    async concatArtifacts(input: { parts: ArtifactRef[]; kind: ArtifactKind }) {
      return concatArtifacts(deps.store, input);
    },
    async loadDataset(input: LoadDatasetInput) {
      return loadDataset(deps.store, input);
    },
    async lookupStageCache(input: CacheLookupInput) {
      return lookupStageCache(deps.cache, deps.store, input);
    },
    async decomposeTrajectories(input: { trajectories: ArtifactRef }) {
      return decomposeTrajectories(deps.store, input);
    },
    async finishFilter(input: FinishFilterInput) {
      return finishFilter(deps.store, input);
    },
    async summarizeEvaluation(input: { records: ArtifactRef; policy: string }) {
      return summarizeEvaluation(deps.store, input);
    },
    async readPolicy(input: { policy: ArtifactRef }) {
      return readPolicy(deps.store, input.policy);
    },
    async servePolicy(input: { policy: ArtifactRef; modelName: string; model: PlanModel; projectRoot: string }) {
      return servePolicy(deps.store, input);
    },
    async prepareTrainBatches(input: TrainBatchesInput) {
      return prepareTrainBatches(deps.store, input);
    },
    async sampleTrainBatch(input: SampleBatchInput) {
      return counted('sampleTrainBatch', input, () => sampleTrainBatch(deps.store, items, modelsDir, input, deps.ledger));
    },
    async sampleTrainBatchOnTrainer(input: SampleBatchInput) {
      return counted('sampleTrainBatchOnTrainer', input, () => sampleTrainBatchOnTrainer(deps.store, items, modelsDir, input, deps.ledger));
    },
    async trainStep(input: TrainStepInput) {
      return counted('trainStep', input, () => trainStep(modelsDir, input));
    },
    async writePolicy(input: { modelName: string; step: TrainStepResult; iterations: number; curve: TrainCurvePoint[] }) {
      return writePolicy(deps.store, input);
    },
    async writeStageReport(input: StageReportInput) {
      return writeStageReport(deps.store, input);
    },
    async recordStageCache(input: { stageId: string; key: string; output: ArtifactRef; stats?: Record<string, unknown>; counts?: { succeeded: number; failed: number; filtered: number } }): Promise<void> {
      await deps.cache.put(input.key, input.output, { ...(input.stats ? { stats: input.stats } : {}), ...(input.counts ? { counts: input.counts } : {}) });
    },
  }, ['processShard', 'sampleTrainBatch', 'sampleTrainBatchOnTrainer', 'trainStep']), SUMMARY_INPUTS);
}

/**
 * Patch `train-attempts-v1`: a train-loop activity given `attemptLimit` counts its own failed
 * attempts (activities/attempt-log.ts; worker stops do not count); without it Temporal counts all.
 */
function counted<R>(activity: string, input: { runKey: string; index: number; attemptLimit?: number }, run: () => Promise<R>): Promise<R> {
  if (!input.attemptLimit) return run();
  return countedAttempt(attemptLogFile(trainDir(input.runKey), activity, input.index), input.attemptLimit, `${activity} of ${input.runKey}, iteration ${input.index + 1}`, run);
}

/** Activities whose input is a bounded summary (curve, stats, a batch), not only references. */
const SUMMARY_INPUTS = { trainStep: SUMMARY_PAYLOAD_BYTES, writePolicy: SUMMARY_PAYLOAD_BYTES, writeStageReport: SUMMARY_PAYLOAD_BYTES, recordStageCache: SUMMARY_PAYLOAD_BYTES };

export type Activities = ReturnType<typeof createActivities>;

/** Which task queue (by role) serves each activity. */
export const ACTIVITY_QUEUES: Record<keyof Activities, QueueRole> = {
  loadDataset: 'orchestration',
  // Shards do the per-item work (LLM calls): they run where the models are.
  processShard: 'llm',
  concatArtifacts: 'orchestration',
  expandSamples: 'orchestration',
  summarizeTrajectories: 'orchestration',
  decomposeTrajectories: 'orchestration',
  finishFilter: 'orchestration',
  summarizeEvaluation: 'orchestration',
  readPolicy: 'orchestration',
  // Loads a trained adapter into a runtime-LoRA server and checks it (docs/gpu.md).
  servePolicy: 'llm',
  prepareTrainBatches: 'orchestration',
  // Sampling from the current policy and scoring it needs the models.
  sampleTrainBatch: 'llm',
  // `sampler: trainer`: the persistent trainer samples with the adapter it holds, so on its worker.
  sampleTrainBatchOnTrainer: 'train',
  trainStep: 'train',
  writePolicy: 'orchestration',
  writeStageReport: 'orchestration',
  lookupStageCache: 'orchestration',
  recordStageCache: 'orchestration',
};

export { QUEUE_ROLES, type QueueRole } from './queues.js';
