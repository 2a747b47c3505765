// One handler per stage type. A type missing here is valid in specs but not
// runnable yet; `swirl run` refuses such plans before starting a workflow.
import type { ArtifactRef } from '../../store/artifact-ref.js';
import type { StageContext } from './context.js';
import { runDataset } from './dataset.js';

export type StageHandler = (ctx: StageContext) => Promise<ArtifactRef>;

export const STAGE_HANDLERS: Partial<Record<string, StageHandler>> = {
  dataset: runDataset,
};

export const RUNNABLE_STAGE_TYPES: readonly string[] = Object.keys(STAGE_HANDLERS);
