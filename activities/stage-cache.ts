// Cache lookups and records, as activities: the workflow cannot hash or read
// files itself. A hit is returned only if its artifact is still in the store.
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { stageCacheKey, type StageCache } from '../store/stage-cache.js';
import { STAGE_IMPL_VERSIONS } from '../compiler/stage-kinds.js';

/** Stage implementation versions live with the compiler: they are part of each stage hash. */
export { STAGE_IMPL_VERSIONS };

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
  const key = stageCacheKey({ stageHash: input.stageHash, inputHashes: input.inputHashes, implVersion: (STAGE_IMPL_VERSIONS as Record<string, string>)[input.stageType] ?? 'unversioned' });
  const hit = await cache.get(key);
  if (hit && (await store.has(hit.hash))) {
    const extra = (await cache.extra?.(key)) ?? {};
    return { key, hit, ...extra };
  }
  return { key };
}
