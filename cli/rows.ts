// How many rows a stage output has, named by what a row is. Shared by the CLI
// (stage lines, `swirl show`) and the report; imports nothing.

export const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * A stage output's row count, named by what a row is. A `steps` artifact holds
 * one StepGroup per trajectory, so its rows are trajectories; the steps inside
 * them are counted by the stage's stats (decompose `steps`, filter `keptSteps`)
 * and shown when known. `metrics` rows are one evaluated question each.
 */
export function describeRows<O extends { kind: string; rows: number }>(s: { type: string; stats?: unknown; output: O }): string {
  const n = s.output.rows;
  const st = (s.stats ?? {}) as Record<string, unknown>;
  switch (s.output.kind) {
    case 'questions':
      return plural(n, 'question', 'questions');
    case 'trajectories':
      return plural(n, 'trajectory', 'trajectories');
    case 'steps': {
      const steps = s.type === 'decompose' ? num(st.steps) : s.type === 'filter' ? num(st.keptSteps) : undefined;
      return `${plural(n, 'trajectory', 'trajectories')}${steps === undefined ? '' : ` (${plural(steps, 'step', 'steps')})`}`;
    }
    case 'metrics':
      return plural(n, 'evaluated question', 'evaluated questions');
    case 'policy':
      return plural(n, 'policy', 'policies');
    case 'report':
      return plural(n, 'report', 'reports');
    case 'failures':
      return plural(n, 'failure', 'failures');
    default:
      return plural(n, 'item', 'items');
  }
}
