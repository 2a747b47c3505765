// Activities are built from injected dependencies so tests can pass
// in-memory stores and fake models; worker.ts passes the real ones.
import type { ArtifactStore } from '../store/artifacts.js';
import { loadDataset, type LoadDatasetInput } from './dataset.js';
import { guardPayload } from './payload-guard.js';
import type { QueueRole } from './queues.js';

export interface ActivityDeps {
  store: ArtifactStore;
}

export function createActivities(deps: ActivityDeps) {
  return {
    async loadDataset(input: LoadDatasetInput) {
      guardPayload('loadDataset input', input);
      return guardPayload('loadDataset result', await loadDataset(deps.store, input));
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Which task queue (by role) serves each activity. */
export const ACTIVITY_QUEUES: Record<keyof Activities, QueueRole> = {
  loadDataset: 'orchestration',
};

export { QUEUE_ROLES, type QueueRole } from './queues.js';
