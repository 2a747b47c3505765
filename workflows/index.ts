// The workflow bundle's entry: every workflow type swirl registers.
export { pipelineWorkflow, progressQuery } from './pipeline.js';
export { fanoutWorkflow, fanoutProgressQuery, fanoutPauseSignal } from './fanout.js';
export { shardWorkflow } from './shard.js';
export { trainLoopWorkflow, trainProgressQuery, trainPauseSignal } from './train.js';
