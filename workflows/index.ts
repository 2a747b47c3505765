// The workflow bundle's entry: every workflow type swirl registers.
export { pipelineWorkflow, progressQuery } from './pipeline.js';
