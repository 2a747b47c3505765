// How many episode threads a worker runs, and which rollouts may use them
// (activities/episode-threads.ts; the threads themselves: tests/integration/episode-threads.test.ts).
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultEpisodeThreads, threadEligible, threadedRolloutProcessor } from '../../activities/episode-threads.js';
import type { RolloutConfig } from '../../activities/rollout.js';
import { parseEpisodeThreads } from '../../cli/commands/worker.js';
import { SwirlError } from '../../runtime/errors.js';

const remote = (over: Partial<RolloutConfig> = {}): RolloutConfig =>
  ({ modelName: 'p', model: { provider: 'openai-compatible', model: 'm', baseUrl: 'http://127.0.0.1:1/v1' }, tools: { calculator: { kind: 'calculator' } }, maxSteps: 3, projectRoot: '.', ...over }) as RolloutConfig;

describe('episode threads: configuration', () => {
  it('defaults to the cores (at most 4); SWIRL_EPISODE_THREADS overrides, 0 turns them off, junk is refused', () => {
    expect(defaultEpisodeThreads({})).toBe(Math.min(4, availableParallelism()));
    expect(defaultEpisodeThreads({ SWIRL_EPISODE_THREADS: '0' })).toBe(0);
    expect(defaultEpisodeThreads({ SWIRL_EPISODE_THREADS: '6' })).toBe(6);
    expect(() => defaultEpisodeThreads({ SWIRL_EPISODE_THREADS: 'two' })).toThrow(/whole number/);
    expect(() => defaultEpisodeThreads({ SWIRL_EPISODE_THREADS: '-1' })).toThrow(/whole number/);
  });

  it('`swirl worker --episode-threads` takes a whole number ≥ 0 and refuses anything else with E_USAGE', () => {
    expect(parseEpisodeThreads('0')).toBe(0);
    expect(parseEpisodeThreads('3')).toBe(3);
    for (const bad of ['-1', '1.5', 'x', '']) {
      const e = (() => {
        try {
          parseEpisodeThreads(bad);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(SwirlError);
      expect((e as SwirlError).code).toBe('E_USAGE');
    }
  });

  it('sends only remote models with calculator/search tools and no adapter to threads', () => {
    expect(threadEligible(remote())).toBe(true);
    for (const provider of ['openai', 'anthropic', 'google']) expect(threadEligible(remote({ model: { provider, model: 'm' } as never }))).toBe(true);
    expect(threadEligible(remote({ tools: { s: { kind: 'search' } as never, c: { kind: 'calculator' } as never } }))).toBe(true);
    expect(threadEligible(remote({ model: { provider: 'llama-cpp', model: 'gemma3-270m' } as never }))).toBe(false);
    expect(threadEligible(remote({ tools: { m: { kind: 'mcp' } as never } }))).toBe(false);
    expect(threadEligible(remote({ loraPath: 'a.gguf' }))).toBe(false);
  });

  it('with no pool or 0 threads the processor is the main-thread one itself', () => {
    const inline = async () => ({ outcome: 'filtered' as const });
    expect(threadedRolloutProcessor(inline, undefined, 'x.db')).toBe(inline);
  });
});
