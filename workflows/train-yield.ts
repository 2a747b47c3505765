// The yield of the stages that feed a train stage (decompose, filter): how
// many trajectories and steps came in and went out, and why the rest were
// dropped. The train stage passes it to prepareTrainBatches, which explains an
// empty training input with these numbers. Pure: workflow code imports it.
import type { PlanStage } from '../compiler/plan-types.js';
import type { StageState } from './types.js';

export interface StageYield {
  stage: string;
  type: 'decompose' | 'filter';
  /** Filter mode (process, outcome, …). */
  mode?: string;
  trajectoriesIn: number;
  trajectoriesOut: number;
  stepsIn?: number;
  stepsOut: number;
  /** Dropped trajectories by reason (`process`, `outcome`, `status:no_action`, `no action`). */
  dropped: Record<string, number>;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

function yieldOf(stage: PlanStage, state: StageState | undefined): StageYield | undefined {
  const s = state?.stats;
  if (!s) return undefined;
  if (stage.type === 'decompose') {
    const empty = num(s.empty);
    return { stage: stage.id, type: 'decompose', trajectoriesIn: num(s.trajectories), trajectoriesOut: num(s.trajectories) - empty, stepsOut: num(s.steps), dropped: empty > 0 ? { 'no action': empty } : {} };
  }
  if (stage.type === 'filter') {
    const dropped = s.dropped && typeof s.dropped === 'object' ? Object.fromEntries(Object.entries(s.dropped as Record<string, unknown>).map(([k, v]) => [k, num(v)])) : {};
    return {
      stage: stage.id,
      type: 'filter',
      ...(typeof s.mode === 'string' ? { mode: s.mode } : {}),
      trajectoriesIn: num(s.trajectoriesIn),
      trajectoriesOut: num(s.kept),
      stepsIn: num(s.stepsIn),
      stepsOut: num(s.keptSteps),
      dropped,
    };
  }
  return undefined;
}

/** The chain of decompose/filter stages behind `inputId`, nearest the rollouts first (empty when their stats are unknown). */
export function trainInputYield(stages: PlanStage[], states: StageState[], inputId: string): StageYield[] {
  const chain: StageYield[] = [];
  let id: string | undefined = inputId;
  while (id !== undefined && chain.length < 8) {
    const stage = stages.find((s) => s.id === id);
    if (!stage) break;
    const y = yieldOf(stage, states.find((s) => s.id === id));
    if (!y) break;
    chain.unshift(y);
    id = stage.inputs[0];
  }
  return chain;
}
