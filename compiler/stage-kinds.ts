// What each stage type consumes and produces. The compiler checks every
// input edge against this table; the engine uses the output kind to label
// artifacts.

export type ArtifactKind = 'questions' | 'trajectories' | 'steps' | 'policy' | 'metrics' | 'report' | 'failures' | 'items';
export type StageType = 'dataset' | 'rollout' | 'decompose' | 'filter' | 'train' | 'evaluate' | 'report';

export interface StageKindInfo {
  output: ArtifactKind;
  /** Kinds accepted as inputs; empty means the stage takes no input. */
  accepts: readonly ArtifactKind[];
  /** Input kinds that must be present. */
  needs: readonly ArtifactKind[];
}

export const STAGE_KINDS: Record<StageType, StageKindInfo> = {
  dataset: { output: 'questions', accepts: [], needs: [] },
  // rollout and train start from the base model: a `policy` input (sampling
  // from / training on top of a trained adapter) is refused at compile time
  // until it is implemented (semantic.ts says so in the hint).
  rollout: { output: 'trajectories', accepts: ['questions'], needs: ['questions'] },
  decompose: { output: 'steps', accepts: ['trajectories'], needs: ['trajectories'] },
  filter: { output: 'steps', accepts: ['steps'], needs: ['steps'] },
  train: { output: 'policy', accepts: ['steps'], needs: ['steps'] },
  evaluate: { output: 'metrics', accepts: ['questions', 'policy'], needs: ['questions'] },
  report: { output: 'report', accepts: ['metrics', 'questions', 'trajectories', 'steps', 'policy'], needs: [] },
};

/**
 * Version of the code behind each stage type. Bump a type's version when its
 * implementation changes what it outputs for the same inputs: it is part of
 * every stage hash, so old cache entries stop matching.
 */
export const STAGE_IMPL_VERSIONS: Record<StageType, string> = {
  dataset: 'dataset-1',
  // rollout-2: trajectories carry the question text and the GSM8K reference solution.
  // rollout-3: prompts are tokenized with special tokens parsed (turn markers are single tokens).
  // rollout-4: the default instructions show a worked example instead of "between <tag> and </tag>".
  // rollout-5 / decompose-2 / filter-4: trajectories and steps carry the dataset's answer aliases,
  // and a filter's outcome judge accepts them (MuSiQue), as the evaluation always did.
  rollout: 'rollout-5',
  decompose: 'decompose-2',
  // filter-2 / evaluate-3: the gsm8k-reference judge rewards progress only (repeats and bare
  // numbers are BAD) and answers are read by one rule (`72 clips (48+24)` is 72, `.5` is 0.5).
  // filter-3 / evaluate-4: restated numbers (`72*1`) and exponent results are BAD too.
  filter: 'filter-4',
  evaluate: 'evaluate-4',
  // train-3: that judge as the reward; actions sampled at temperature 1, untruncated, and
  // trained on the sampled token ids.
  // train-4: the same judge fixes; generation capped to the context.
  // train-5: packed batches attend through scaled_dot_product_attention on CPU (attention: auto
  // resolves to sdpa, not eager): the same maths, other float sums.
  train: 'train-5',
  report: 'report-1',
};
