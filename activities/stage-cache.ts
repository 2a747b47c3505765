// Cache lookups and records, as activities: the workflow cannot hash or read
// files itself. A hit is returned only if its artifact is still in the store.
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { stageCacheKey, type StageCache } from '../store/stage-cache.js';

/**
 * Version of the code behind each stage type. Bump a type's version when its
 * implementation changes what it outputs for the same inputs, so old cache
 * entries stop matching.
 */
export const STAGE_IMPL_VERSIONS: Record<string, string> = {
  dataset: 'dataset-1',
  // rollout-2: trajectories carry the question text and the GSM8K reference solution.
  // rollout-3: prompts are tokenized with special tokens parsed (turn markers are single tokens).
  rollout: 'rollout-3',
  evaluate: 'evaluate-2',
  train: 'train-2',
};

export interface CacheLookupInput {
  stageType: string;
  stageHash: string;
  inputHashes: string[];
}

export interface CacheLookupResult {
  key: string;
  hit?: ArtifactRef;
  /** Stats and counts the stage reported when it computed the cached output. */
  stats?: Record<string, unknown>;
  counts?: { succeeded: number; failed: number; filtered: number };
}

export async function lookupStageCache(cache: StageCache, store: ArtifactStore, input: CacheLookupInput): Promise<CacheLookupResult> {
  const key = stageCacheKey({ stageHash: input.stageHash, inputHashes: input.inputHashes, implVersion: STAGE_IMPL_VERSIONS[input.stageType] ?? 'unversioned' });
  const hit = await cache.get(key);
  if (hit && (await store.has(hit.hash))) {
    const extra = (await cache.extra?.(key)) ?? {};
    return { key, hit, ...extra };
  }
  return { key };
}
