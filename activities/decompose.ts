// The decompose stage: trajectories → one step group per trajectory (K
// (state, action) examples stored with one copy of the conversation).
import { decompose, type StepGroup } from '../agents/steps.js';
import type { Trajectory } from '../agents/types.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';

export interface DecomposeStats {
  trajectories: number;
  steps: number;
  /** Trajectories with no action at all (nothing to learn from). */
  empty: number;
  byKind: Record<string, number>;
  /** Steps per trajectory: K → count. */
  stepsHistogram: Record<string, number>;
}

export async function decomposeTrajectories(store: ArtifactStore, input: { trajectories: ArtifactRef }): Promise<{ output: ArtifactRef; stats: DecomposeStats }> {
  const stats: DecomposeStats = { trajectories: 0, steps: 0, empty: 0, byKind: {}, stepsHistogram: {} };
  async function* groups(): AsyncGenerator<StepGroup> {
    for await (const t of store.read<Trajectory>(input.trajectories)) {
      stats.trajectories++;
      const g = decompose(t);
      if (g.steps.length === 0) {
        stats.empty++;
        continue;
      }
      stats.steps += g.steps.length;
      const k = String(g.steps.length);
      stats.stepsHistogram[k] = (stats.stepsHistogram[k] ?? 0) + 1;
      for (const s of g.steps) stats.byKind[s.actionKind] = (stats.byKind[s.actionKind] ?? 0) + 1;
      yield g;
    }
  }
  const output = await store.put('steps', groups());
  return { output, stats };
}
