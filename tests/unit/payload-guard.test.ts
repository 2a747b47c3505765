// Every registered activity checks the size of its inputs and result: the
// guard is applied once, in createActivities, so a new activity cannot skip it.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ACTIVITY_QUEUES, createActivities } from '../../activities/index.js';
import { guardActivities, SUMMARY_PAYLOAD_BYTES } from '../../activities/payload-guard.js';
import { MAX_PAYLOAD_BYTES } from '../../store/artifact-ref.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';

const payloadError = (e: unknown) => e instanceof ApplicationFailure && e.type === 'PayloadTooLarge' && e.nonRetryable;

describe('payload guard', () => {
  const acts = createActivities({ store: new MemoryArtifactStore(), cache: new MemoryStageCache(), scratchDir: '/nonexistent/swirl-guard-test', episodeThreads: 0 });
  const names = Object.keys(acts) as Array<keyof typeof acts>;

  it('covers every activity a worker registers', () => {
    expect(names.sort()).toEqual(Object.keys(ACTIVITY_QUEUES).sort());
  });

  it.each(names)('%s refuses an oversized input before doing any work', async (name) => {
    // Over every limit (the summary bound included), so each activity must refuse it.
    const huge = { blob: 'x'.repeat(SUMMARY_PAYLOAD_BYTES + 1) };
    const err = await (acts[name] as (a: unknown) => Promise<unknown>)(huge).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(payloadError(err), `${String(name)}: ${String(err)}`).toBe(true);
  });

  it('guards results too, and inputs at the plain limit unless a summary bound is given', async () => {
    const g = guardActivities(
      {
        big: async () => 'y'.repeat(MAX_PAYLOAD_BYTES + 1),
        echo: async (a: string) => a.length,
        summary: async (a: string) => a.length,
      },
      { summary: SUMMARY_PAYLOAD_BYTES },
    );
    expect(payloadError(await g.big().catch((e: unknown) => e))).toBe(true);
    const over = 'z'.repeat(MAX_PAYLOAD_BYTES + 1);
    expect(payloadError(await g.echo(over).catch((e: unknown) => e))).toBe(true);
    await expect(g.summary(over)).resolves.toBe(over.length);
  });
});
