// The train stage's knobs with the method doc's defaults (swirl-method.md §4).
// Pure: the workflow resolves them once and hands them to every activity.

export type TrainObjective = 'swirl' | 'sft' | 'stored-actions';

/** The train stage's knobs with the method doc's defaults filled in (swirl-method.md §4). */
export interface TrainSettings {
  objective: TrainObjective;
  samplesPerState: number;
  learningRate: number;
  batchStates: number;
  epochs: number;
  maxSteps?: number;
  klBeta: number;
  baseline: 'rloo' | 'none';
  lora: { rank: number; alpha: number; dropout: number; targetModules?: string[] };
  gradClip: number;
  /** Truncated importance-weight cap for sampled actions (0 = off). Only actions with sampler log-probs are weighted. */
  importanceClip: number;
  seed: number;
  /** Reward model ref as the Plan gives it (model name or `{ matcher }`). */
  rewardModel?: unknown;
  /** Training precision; absent = the trainer's `auto` (left out of the Plan when unset, so existing stage hashes stay). */
  precision?: TrainPrecision;
  /** Attention mask path of packed batches and activation recomputation (absent = the trainer's defaults; left out of the Plan when unset). */
  attention?: 'auto' | 'dense' | 'sdpa' | 'flex';
  gradientCheckpointing?: boolean;
  /**
   * Who samples the G actions: absent = the stage's model (llama.cpp, or its runtime-LoRA server);
   * `trainer` = the persistent trainer, with generate on the model's `hf` folder and the current
   * adapter. Left out of the Plan when unset, so existing Plans and stage hashes stay.
   */
  sampler?: TrainSamplerKind;
}

export type TrainSamplerKind = 'trainer';

export type TrainPrecision = 'auto' | 'fp32' | 'bf16';

export function trainSettings(c: Record<string, unknown>): TrainSettings {
  const lora = (c.lora ?? {}) as { rank?: number; alpha?: number; dropout?: number; targetModules?: string[] };
  const rank = lora.rank ?? 16;
  return {
    objective: (c.objective as TrainObjective) ?? 'swirl',
    samplesPerState: (c.samplesPerState as number) ?? 4,
    learningRate: (c.learningRate as number) ?? 1e-5,
    batchStates: (c.batchStates as number) ?? 64,
    epochs: (c.epochs as number) ?? 1,
    ...(typeof c.maxSteps === 'number' ? { maxSteps: c.maxSteps } : {}),
    klBeta: (c.klBeta as number) ?? 0.05,
    baseline: (c.baseline as 'rloo' | 'none') ?? 'rloo',
    lora: { rank, alpha: lora.alpha ?? 2 * rank, dropout: lora.dropout ?? 0, ...(lora.targetModules ? { targetModules: lora.targetModules } : {}) },
    gradClip: (c.gradClip as number) ?? 1.0,
    importanceClip: (c.importanceClip as number) ?? 2,
    seed: (c.seed as number) ?? 0,
    ...(c.rewardModel !== undefined ? { rewardModel: c.rewardModel } : {}),
    ...(typeof c.precision === 'string' ? { precision: c.precision as TrainPrecision } : {}),
    ...(typeof c.attention === 'string' ? { attention: c.attention as 'auto' | 'dense' | 'sdpa' | 'flex' } : {}),
    ...(typeof c.gradientCheckpointing === 'boolean' ? { gradientCheckpointing: c.gradientCheckpointing } : {}),
    ...(c.sampler === 'trainer' ? { sampler: 'trainer' as const } : {}),
  };
}
