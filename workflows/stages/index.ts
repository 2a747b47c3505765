// One handler per stage type. A type missing here is valid in specs but not
// runnable yet; `swirl run` refuses such plans before starting a workflow.
import type { StageContext, StageOutcome } from './context.js';
import { runDataset } from './dataset.js';
import { runDecompose } from './decompose.js';
import { runEvaluate } from './evaluate.js';
import { runFilter } from './filter.js';
import { runRollout } from './rollout.js';
import { runTrain } from './train.js';
import { runReport } from './report.js';

export type StageHandler = (ctx: StageContext) => Promise<StageOutcome>;

export const STAGE_HANDLERS: Partial<Record<string, StageHandler>> = {
  dataset: runDataset,
  rollout: runRollout,
  decompose: runDecompose,
  filter: runFilter,
  evaluate: runEvaluate,
  train: runTrain,
  report: runReport,
};

export const RUNNABLE_STAGE_TYPES: readonly string[] = Object.keys(STAGE_HANDLERS);
