// Activities are built from injected dependencies so tests can pass
// in-memory stores and fake models; worker.ts passes the real ones.
import type { ArtifactStore } from '../store/artifacts.js';
import { loadDataset, type LoadDatasetInput } from './dataset.js';
import { guardPayload } from './payload-guard.js';
import type { QueueRole } from './queues.js';
import type { StageCache } from '../store/stage-cache.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { lookupStageCache, type CacheLookupInput } from './stage-cache.js';

export interface ActivityDeps {
  store: ArtifactStore;
  cache: StageCache;
}

export function createActivities(deps: ActivityDeps) {
  return {
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
  lookupStageCache: 'orchestration',
  recordStageCache: 'orchestration',
};

export { QUEUE_ROLES, type QueueRole } from './queues.js';
