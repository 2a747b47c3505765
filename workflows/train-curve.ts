// One point of a train stage's curve per iteration, from the sampled batch and the
// trainer's metrics. Pure (the train workflow builds it), so it lives with the workflows.
import type { BatchFile } from '../activities/train.js';

export interface TrainCurvePoint {
  iteration: number;
  loss?: number;
  meanReward: number;
  kl?: number;
  validActions: number;
  /** Share of states with all-equal rewards: nothing to learn from (RLOO advantage 0). */
  zeroAdvantage?: number;
  /** Share of judged actions whose verdict could not be read (counted as BAD). */
  unreadable?: number;
  /** Gradient norm before clipping. */
  gradNorm?: number;
  /** L2 norm of the update's change to the adapter: 0 = the update changed nothing. */
  adapterDelta?: number;
  /** Mean per-token log-prob gap, trainer minus sampler (off-policy drift). */
  samplerGap?: number;
  /** Runtime LoRA: the name the server sampled this batch with, the hash of the adapter it was given, and the probe check after its load. */
  served?: string;
  servedAdapterHash?: string;
  /** Mean |server - trainer| log-prob of the probe, new adapter / previous adapter (nats per token). */
  probeNew?: number;
  probeOld?: number;
  /** false when the update moved the probe less than the tolerance (a stale adapter could not be told apart). */
  probeDistinguishable?: boolean;
}

/** A curve point from one iteration's batch and trainer metrics (fields only where measured). */
export function curvePoint(iteration: number, batch: BatchFile, m: Record<string, number>, servedAdapterHash?: string): TrainCurvePoint {
  const opt = (k: keyof TrainCurvePoint, v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? { [k]: v } : {});
  return {
    iteration,
    meanReward: batch.meanReward,
    validActions: batch.validActions,
    ...opt('loss', m.loss),
    ...opt('kl', m.kl),
    ...opt('zeroAdvantage', batch.zeroAdvantageStates),
    ...opt('unreadable', batch.unreadableVerdicts),
    ...opt('gradNorm', m.gradNorm),
    ...opt('adapterDelta', m.adapterDelta),
    ...opt('samplerGap', m.samplerLogprobGap),
    ...(batch.servedModel ? { served: batch.servedModel } : {}),
    ...(batch.probeCheck && servedAdapterHash ? { servedAdapterHash } : {}),
    ...(batch.probeCheck ? { probeNew: batch.probeCheck.meanAbsNew, probeOld: batch.probeCheck.meanAbsOld, probeDistinguishable: batch.probeCheck.distinguishable } : {}),
  };
}

/** Iterations as a short list: "1, 2, 5" or "1–40" when consecutive. */
function iterations(xs: number[]): string {
  if (xs.length > 3 && xs[xs.length - 1]! - xs[0]! === xs.length - 1) return `${xs[0]}–${xs[xs.length - 1]}`;
  return xs.length > 6 ? `${xs.slice(0, 6).join(', ')}, … (${xs.length} in all)` : xs.join(', ');
}

/** Above this mean per-token gap (nats) between trainer and sampler, the samples are noticeably off-policy. */
export const SAMPLER_GAP_WARN = 0.1;

/**
 * What a train stage's curve says about its learning signal, as warnings for `swirl status`
 * and the report: updates that changed nothing, states with nothing to learn from, verdicts
 * that could not be read, samples far from the trained policy. Empty when all looks sound.
 */
export function signalWarnings(curve: ReadonlyArray<Partial<TrainCurvePoint>>, objective?: string): string[] {
  const out: string[] = [];
  const still = curve.filter((p) => p.adapterDelta === 0 || (p.adapterDelta === undefined && p.gradNorm === 0)).map((p) => p.iteration ?? 0);
  if (still.length) out.push(`update${still.length === 1 ? '' : 's'} ${iterations(still)} changed nothing (gradient norm 0, adapter unchanged)${objective === 'sft' ? '' : ': every sampled action of the batch had the same reward'}`);
  const za = curve.map((p) => p.zeroAdvantage).filter((x): x is number => typeof x === 'number');
  if (za.length) {
    const mean = za.reduce((a, b) => a + b, 0) / za.length;
    if (mean >= 0.5) out.push(`${Math.round(mean * 100)}% of the sampled states had all-equal rewards (zero advantage: no learning signal); more samples per state, a graded reward (score: probability) or a stronger policy would help`);
  }
  const un = curve.map((p) => p.unreadable).filter((x): x is number => typeof x === 'number');
  const unMax = un.length ? Math.max(...un) : 0;
  if (unMax > 0) out.push(`the reward judge's verdict was unreadable for up to ${Math.round(unMax * 100)}% of the actions of an iteration (counted as BAD)`);
  const gaps = curve.map((p) => p.samplerGap).filter((x): x is number => typeof x === 'number');
  const gapMax = gaps.length ? Math.max(...gaps.map(Math.abs)) : 0;
  if (gapMax > SAMPLER_GAP_WARN) out.push(`the sampler and the trained policy disagree by up to ${gapMax.toFixed(2)} nats per token (quantized sampler vs the trainer's weights): the samples are off-policy; importanceClip corrects for it`);
  return out;
}
