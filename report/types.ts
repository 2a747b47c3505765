// ReportData: everything the HTML run report shows, and nothing else. Pure
// types, no I/O: `collectReportData` / `buildReportData` (report/collect.ts)
// produce it, `renderReport` (report/render.ts) turns it into one HTML page.
//
// Stable contract (the `report` pipeline stage and `swirl report` use it):
//   - every list is present (possibly empty); optional fields mean "not
//     measured", and the page says so instead of drawing an empty chart;
//   - numbers are plain JSON numbers; times are ISO-8601 strings;
//   - rates (accuracy, goodRate, ci95 bounds, diff) are fractions in [0, 1]
//     (diff in [-1, 1]); the page prints them as percentages.

export const REPORT_DATA_VERSION = 1;

export interface ReportRun {
  /** The workflow id (what `swirl run` printed). */
  id: string;
  /** Temporal run id, when known. */
  runId?: string;
  pipeline: string;
  description?: string;
  /** Temporal status name: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT (or PAUSED). */
  status: string;
  startedAt?: string;
  closedAt?: string;
  specHash?: string;
  /**
   * The `--set KEY=VALUE` overrides the run was compiled with (Plan
   * `overrides`), as given; absent when none. The pipeline description is
   * the spec's own text, so it does not reflect them: the page lists them.
   */
  overrides?: string[];
  /** Why the run failed, when it did (first 500 characters). */
  failure?: string;
  /** The model the (first) evaluate stage runs: what results.json names. */
  policyModel?: ReportPolicyModel;
}

export interface ReportPolicyModel {
  /** Its name in the spec's `models`. */
  name: string;
  provider: string;
  /** The served or embedded model name, or the GGUF path. */
  model?: string;
  /** The GGUF's sha256 the Plan pinned (llama-cpp). */
  sha256?: string;
}

export interface ReportStage {
  id: string;
  type: string;
  /** Ids of the stages this one consumes (the pipeline graph's edges). */
  inputs: string[];
  /** pending, running, completed, failed, skipped, cancelled. */
  status: string;
  startedAt?: string;
  durationMs?: number;
  /** True when the output came from the stage cache. */
  cacheHit: boolean;
  /** Highest activity attempt seen for this stage in the run's history (1 = no retry). */
  attempts?: number;
  /** Per-item stages: items succeeded / failed / filtered. */
  counts?: { succeeded: number; failed: number; filtered: number };
  /** Rows and bytes of the stage's output artifact. */
  output?: { kind: string; rows: number; bytes: number; hash: string };
  /** The stage's own statistics, as it reported them (numbers are shown in the stage table). */
  stats?: Record<string, unknown>;
  error?: { type: string; message: string };
}

/**
 * The yield funnel: questions that fed rollouts → trajectories → steps
 * (per-step examples) → steps kept by the filter. `keptTrajectories` (the
 * trajectories those kept steps belong to) is shown beside it.
 */
export interface ReportFunnel {
  questions?: number;
  trajectories?: number;
  steps?: number;
  kept?: number;
  keptTrajectories?: number;
}

export interface ReportFilter {
  stageId: string;
  mode: string;
  trajectoriesIn?: number;
  stepsIn?: number;
  stepsJudged?: number;
  /** Share of judged steps that were GOOD. */
  goodRate?: number;
  /** Trajectories kept. */
  kept?: number;
  /** Steps of the kept trajectories. */
  keptSteps?: number;
  /** Dropped trajectories per reason (one trajectory may have several reasons). */
  dropped: Record<string, number>;
  /** Agreement of the filter's process judge (A) with a second judge (B) on the same steps (filter `agreement`). */
  agreement?: ReportAgreement;
}

export interface ReportAgreement {
  judgeA: string;
  judgeB: string;
  steps: number;
  /** Cohen's kappa; absent when no step was judged by both. */
  kappa?: number;
  /** Share of steps with the same verdict. */
  agreement?: number;
  goodRateA?: number;
  goodRateB?: number;
  /** A's verdict first: goodBad = A GOOD, B BAD. */
  confusion: { goodGood: number; goodBad: number; badGood: number; badBad: number };
}

export interface TrainingPoint {
  iteration: number;
  loss?: number;
  meanReward?: number;
  kl?: number;
  /** Share of sampled actions that parsed as a valid step (0–1). */
  validActions?: number;
  /** Share of states whose G rewards were all equal (no learning signal). */
  zeroAdvantage?: number;
  /** Share of judged actions with an unreadable verdict. */
  unreadable?: number;
  gradNorm?: number;
  /** L2 norm of the update's change to the adapter (0: the update changed nothing). */
  adapterDelta?: number;
  /** Mean per-token log-prob, trainer minus sampler. */
  samplerGap?: number;
  /** Runtime LoRA: the name the server sampled with, the hash of the adapter it served, and the probe distances after its load (nats per token). */
  served?: string;
  servedAdapterHash?: string;
  probeNew?: number;
  probeOld?: number;
  probeDistinguishable?: boolean;
}

export interface TrainingCurve {
  stageId: string;
  points: TrainingPoint[];
  /** The stage's objective (`swirl`, `sft`): an sft stage samples nothing, so its "reward" is not a sampled one. */
  objective?: string;
  /** What the stage's trainer did in all, from its checkpoint chain (absent when the checkpoints are not on this machine). */
  totals?: TrainerTotals;
}

/** Sums over every update of a train stage (each checkpoint's recorded step metrics). */
export interface TrainerTotals {
  /** Updates found in the checkpoint chain. */
  updates: number;
  /** Tokens the trainer ran forward and backward (prompt and action, every sequence). */
  tokens: number;
  /** Action tokens the loss was taken on. */
  actionTokens: number;
  /** Seconds the trainer spent in its updates (model loading included; sampling not). */
  trainerSeconds: number;
  /** The stage's final checkpoint (the policy its evaluation loads). */
  checkpoint?: string;
  /** sha256 of that checkpoint's adapter GGUF: the file the llama.cpp evaluation loaded (compare with an exported copy). */
  adapterSha256?: string;
}

export interface ReportEvaluation {
  stageId: string;
  /** 'base' or the id of the train stage whose policy was evaluated. */
  policy: string;
  dataset: string;
  n: number;
  correct: number;
  accuracy: number;
  ci95: [number, number];
  f1?: number;
  avgSteps?: number;
  toolCallsPerQuestion?: number;
  /** Mean per-step GOOD rate (SWiRL Tab. 3 process-quality score). */
  processScore?: number;
  /** Share of questions that ended with an answer (not no_action or max_steps). */
  answered?: number;
  /** Hash of the question ids in order, when the stage reports it: equal keys = the same questions. */
  questionsKey?: string;
}

/** Accuracy of b minus accuracy of a on the same data set (a is the base policy when one side is). */
export interface PairedComparison {
  /** Evaluate stage ids. */
  a: string;
  b: string;
  policyA: string;
  policyB: string;
  dataset: string;
  n: number;
  diff: number;
  ci95: [number, number];
  /** 'paired': from per-question outcomes (same questions); 'unpaired': from the two accuracies only (wider, conservative). */
  method: 'paired' | 'unpaired';
  /** Paired only: questions b got right and a wrong, and the reverse. */
  discordant?: { bOnly: number; aOnly: number };
  /** Paired only: two-sided exact McNemar p-value over the discordant questions. */
  mcnemarP?: number;
  /**
   * Paired, when both evaluations' rows were readable: the same comparison restricted to the
   * questions both policies answered (no missing action, no step limit) — what differs there is
   * the answers, not protocol following.
   */
  bothAnswered?: { n: number; aCorrect: number; bCorrect: number; bOnly: number; aOnly: number; mcnemarP: number };
}

export interface ReportData {
  version: typeof REPORT_DATA_VERSION;
  generatedAt: string;
  run: ReportRun;
  /** In topological order (inputs before consumers). */
  stages: ReportStage[];
  funnel: ReportFunnel;
  filter: ReportFilter[];
  /** Per-trajectory GOOD-rate values (histogram), from filter stages. */
  goodRates?: number[];
  /** Reward values (histogram), from train stages. */
  rewards?: number[];
  training?: TrainingCurve[];
  evaluations: ReportEvaluation[];
  comparisons?: PairedComparison[];
  /** Caveats about what could not be collected (shown under the header). */
  notes?: string[];
}
