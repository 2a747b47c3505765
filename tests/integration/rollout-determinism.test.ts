// Rollouts are reproducible: the same Plan run twice (no cache) gives
// byte-identical trajectories, whatever order the shards ran in. This is what
// lets a crashed rollout shard resume without changing the result.
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { StageState } from '../../workflows/types.js';
import { swirl, tempStateDir } from './helpers.js';

describe('rollout determinism', () => {
  it('two runs of the same Plan give the same trajectories', async () => {
    const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: tempStateDir() };
    // Each run has its own LLM call ledger: the second run must sample again, not reuse the first run's calls.
    const run = async () => {
      const r = await swirl(['run', 'tests/fixtures/specs/valid/rollout-small.yaml', '--json'], { ...env, SWIRL_LEDGER: path.join(tempStateDir(), 'ledger.db') });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;
    };
    const a = await run();
    const b = await run();
    expect(a.cached).toBeUndefined();
    expect(b.cached).toBeUndefined();
    expect(a.output).toMatchObject({ kind: 'trajectories', rows: 4 });
    expect(b.output!.hash).toBe(a.output!.hash);
  });
});
