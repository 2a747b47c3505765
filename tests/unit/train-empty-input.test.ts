// What the train stage does when the filter kept nothing (common with a tiny
// policy): a non-retryable DataError that says why and what to change, so no
// retry is spent on it and the run fails with a clear message.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { prepareTrainBatches } from '../../activities/train.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';

describe('train input', () => {
  it('an empty steps artifact fails non-retryably with a hint', async () => {
    const store = new MemoryArtifactStore();
    const steps = await store.put('steps', []);
    const err = await prepareTrainBatches(store, { steps, batchStates: 1, epochs: 1, seed: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('DataError');
    expect(f.message).toMatch(/no states to train on.*did the filter keep nothing/);
    expect(f.details).toEqual(['loosen the filter (mode, keepStatuses) or generate more rollouts']);
  });
});
