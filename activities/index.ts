// Activities are built from injected dependencies so tests can pass
// in-memory stores and fake models; worker.ts passes the real ones.
import type { ArtifactStore } from '../store/artifacts.js';
import { loadDataset, type LoadDatasetInput } from './dataset.js';
import { guardPayload } from './payload-guard.js';
import type { QueueRole } from './queues.js';
import type { StageCache } from '../store/stage-cache.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { lookupStageCache, type CacheLookupInput } from './stage-cache.js';
import { concatArtifacts, ItemCache, processShard, type ItemProcessor } from './fanout.js';
import { expandSamples, rolloutProcessor, summarizeTrajectories } from './rollout.js';
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
}

export function createActivities(deps: ActivityDeps) {
  const items = new ItemCache();
  const processors: Record<string, ItemProcessor> = { rollout: rolloutProcessor(deps.modelsDir ?? swirlPaths().models), ...deps.processors };
  const shardDeps = { store: deps.store, scratchDir: deps.scratchDir, processors, items };
  return {
    async processShard(spec: ShardSpec) {
      guardPayload('processShard input', spec);
      return guardPayload('processShard result', await processShard(shardDeps, spec));
    },
    async summarizeTrajectories(ref: ArtifactRef) {
      return summarizeTrajectories(deps.store, ref);
    },
    async expandSamples(input: { questions: ArtifactRef; samples: number }) {
      return expandSamples(deps.store, input);
    },
    async concatArtifacts(input: { parts: ArtifactRef[]; kind: ArtifactKind }) {
      guardPayload('concatArtifacts input', input);
      return concatArtifacts(deps.store, input);
    },
    async loadDataset(input: LoadDatasetInput) {
      guardPayload('loadDataset input', input);
      return guardPayload('loadDataset result', await loadDataset(deps.store, input));
    },
    async lookupStageCache(input: CacheLookupInput) {
      return guardPayload('lookupStageCache result', await lookupStageCache(deps.cache, deps.store, input));
    },
    async recordStageCache(input: { stageId: string; key: string; output: ArtifactRef }): Promise<void> {
      await deps.cache.put(input.key, input.output);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Which task queue (by role) serves each activity. */
export const ACTIVITY_QUEUES: Record<keyof Activities, QueueRole> = {
  loadDataset: 'orchestration',
  // Shards do the per-item work (LLM calls): they run where the models are.
  processShard: 'llm',
  concatArtifacts: 'orchestration',
  expandSamples: 'orchestration',
  summarizeTrajectories: 'orchestration',
  lookupStageCache: 'orchestration',
  recordStageCache: 'orchestration',
};

export { QUEUE_ROLES, type QueueRole } from './queues.js';
