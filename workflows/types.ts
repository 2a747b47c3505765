// Inputs, results and progress of the pipeline workflow. Pure types.
import type { Plan } from '../compiler/plan-types.js';
import type { ArtifactRef } from '../store/artifact-ref.js';

export interface TaskQueues {
  orchestration: string;
  llm: string;
  train: string;
}

export interface PipelineInput {
  plan: Plan;
  /** Folder the plan's relative paths are resolved against, on the workers. */
  projectRoot: string;
  queues: TaskQueues;
}

export type StageStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';

export interface StageState {
  id: string;
  type: string;
  status: StageStatus;
  startedAt?: string;
  finishedAt?: string;
  output?: ArtifactRef;
  /** True when the output came from the stage cache (nothing was recomputed). */
  cached?: boolean;
  cacheKey?: string;
  error?: { type: string; message: string };
}

export interface PipelineProgress {
  pipeline: string;
  status: 'running' | 'completed' | 'failed';
  stages: StageState[];
}

export interface PipelineResult {
  pipeline: string;
  specHash: string;
  status: 'completed' | 'failed';
  stages: StageState[];
}
