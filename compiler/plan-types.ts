// The Plan: the versioned, canonical JSON IR that the workflow interprets.
// Pure types and constants only: workflow code imports this module.
import type { ArtifactKind, StageType } from './stage-kinds.js';

export const PLAN_VERSION = 1;

export interface PlanRetry {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
}

export interface PlanStage {
  id: string;
  type: StageType;
  description?: string;
  /** Ids of the stages this one consumes, in spec order. */
  inputs: string[];
  outputKind: ArtifactKind;
  /** Type-specific options with defaults resolved; paths are project-relative. */
  config: Record<string, unknown>;
  retry: PlanRetry;
  timeoutMs: number;
  concurrency: number;
  cache: boolean;
  /**
   * sha256 of everything that can change the stage's output (compiler/plan.ts
   * stageHashMaterial): type, implementation version, config with defaults and
   * file hashes, the full definitions of the models and tools it uses, and its
   * input stages' hashes.
   */
  hash: string;
}

export interface PlanModel {
  provider: string;
  /** Secrets travel as the name of an environment variable, never as a value. */
  apiKeyEnv?: string;
  /** llama-cpp: sha256 of the GGUF file the model runs (an embedded model's pinned hash); the worker checks it. */
  modelSha256?: string;
  /** llama-cpp: the LoRA adapter GGUF applied to the model, project-relative. */
  adapter?: string;
  /** sha256 of `adapter`; the worker checks it like `modelSha256`. */
  adapterSha256?: string;
  [option: string]: unknown;
}

export interface Plan {
  planVersion: typeof PLAN_VERSION;
  pipeline: { name: string; description?: string; labels: Record<string, string> };
  /** sha256 of the canonical spec. */
  specHash: string;
  models: Record<string, PlanModel>;
  tools: Record<string, Record<string, unknown>>;
  /** The run budget (spec `budget`): the run pauses when its LLM calls have spent this much. */
  budget?: { maxTokens?: number; maxCostUsd?: number };
  /** Stages in a topological order (inputs before consumers). */
  stages: PlanStage[];
  /**
   * The `--set KEY=VALUE` overrides the spec was compiled with, in the order
   * given, as errors show them (a secret field's literal value redacted);
   * absent when none were given, so such Plans keep their bytes. Already in
   * the spec hash and stage hashes: this records them for people (the report).
   */
  overrides?: string[];
}
