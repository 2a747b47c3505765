// A realistic finished GSM8K run as the engine would report it (plan + stage
// states with the stats shapes the stages emit), for the report tests. The
// pipeline description and a stage error carry markup that must be escaped.
import { judgeAgreement } from '../../agents/judges/index.js';
import type { ReportSources, StageLike } from '../../report/collect.js';
import type { PlanStage } from '../../compiler/plan-types.js';

/** Deterministic pseudo-random numbers (LCG), so fixtures are stable. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export const HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>';

function planStage(id: string, type: PlanStage['type'], inputs: string[], config: Record<string, unknown> = {}): PlanStage {
  return {
    id,
    type,
    inputs,
    outputKind: 'items',
    config,
    retry: { maximumAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 30000 },
    timeoutMs: 600000,
    concurrency: 4,
    cache: true,
    hash: `${id}-hash`.padEnd(64, '0'),
  };
}

const ref = (kind: string, rows: number) => ({ hash: `${kind}${rows}`.padEnd(64, 'a'), kind: kind as never, rows, bytes: rows * 612 });

/** The filter's judge agreement: reference judge (A) vs an LLM judge (B) on the 843 judged steps, A GOOD 599 times. */
export const FIXTURE_AGREEMENT = judgeAgreement('gsm8k-reference', 'llm:judge', [
  ...Array.from({ length: 540 }, () => [true, true] as const),
  ...Array.from({ length: 59 }, () => [true, false] as const),
  ...Array.from({ length: 71 }, () => [false, true] as const),
  ...Array.from({ length: 173 }, () => [false, false] as const),
]);

export function fixtureSources(): ReportSources {
  const rand = lcg(7);
  const n = 300;
  const base = Array.from({ length: n }, () => rand() < 0.44);
  // The trained policy fixes some base failures and breaks a few successes (paired data).
  const trained = base.map((ok) => (ok ? rand() > 0.06 : rand() < 0.17));
  // Per trajectory: GOOD steps / steps, 1–5 steps, each GOOD with a trajectory-specific chance.
  const goodRates = Array.from({ length: 256 }, () => {
    const k = 1 + Math.floor(rand() * 5);
    const p = Math.sqrt(rand());
    let good = 0;
    for (let i = 0; i < k; i++) if (rand() < p) good++;
    return good / k;
  });
  // Per step: the reward model's P(GOOD), bimodal.
  const rewards = Array.from({ length: 843 }, () => (rand() < 0.7 ? 0.75 + rand() * 0.25 : rand() * 0.4));
  const curve = Array.from({ length: 30 }, (_, i) => ({ iteration: i + 1, loss: 2.4 * Math.exp(-i / 9) + 0.35 + rand() * 0.08, meanReward: 0.42 + 0.3 * (1 - Math.exp(-i / 10)) + (rand() - 0.5) * 0.04, kl: 0.002 * i + rand() * 0.01, validActions: Math.min(1, 0.55 + 0.4 * (1 - Math.exp(-i / 6)) + (rand() - 0.5) * 0.05) }));
  const t0 = Date.parse('2026-11-27T09:00:00Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const stages: StageLike[] = [
    { id: 'gsm8k-train', type: 'dataset', status: 'completed', startedAt: at(1), finishedAt: at(1.4), cached: true, output: ref('questions', 64) },
    { id: 'rollouts', type: 'rollout', status: 'completed', startedAt: at(2), finishedAt: at(1450), output: ref('trajectories', 256), counts: { succeeded: 252, failed: 4, filtered: 0 }, stats: { answered: 231, no_action: 13, max_steps: 8, error: 4, toolCalls: 612, outputTokens: 81234 } },
    // Decompose writes one row per non-empty trajectory (the state once, steps by prefix); its stats count steps.
    { id: 'decompose', type: 'decompose', status: 'completed', startedAt: at(1451), finishedAt: at(1455), output: ref('steps', 252), stats: { trajectories: 256, steps: 843, empty: 4, byKind: { search: 0, calculator: 612, answer: 231 } } },
    {
      id: 'filter',
      type: 'filter',
      status: 'completed',
      startedAt: at(1456),
      finishedAt: at(1890),
      output: ref('steps', 118),
      stats: { mode: 'process+outcome', trajectoriesIn: 252, stepsIn: 843, stepsJudged: 843, good: 599, goodRate: 0.71, kept: 118, keptSteps: 391, dropped: { process: 87, outcome: 61, 'status:no_action': 12 }, goodRates, judged: ref('steps', 252), agreement: FIXTURE_AGREEMENT },
    },
    { id: 'train', type: 'train', status: 'completed', startedAt: at(1891), finishedAt: at(3710), output: ref('policy', 1), stats: { curve, rewards } },
    { id: 'gsm8k-test', type: 'dataset', status: 'completed', startedAt: at(1), finishedAt: at(1.2), cached: true, output: ref('questions', n) },
    {
      id: 'eval-base',
      type: 'evaluate',
      status: 'completed',
      startedAt: at(2),
      finishedAt: at(1301),
      output: ref('metrics', n),
      stats: { policy: 'base', dataset: 'gsm8k-test-300', n, correct: base.filter(Boolean).length, accuracy: base.filter(Boolean).length / n, ci95: [0.385, 0.497], f1: 0.47, avgSteps: 2.7, toolCallsPerQuestion: 1.8, processScore: 0.64, outcomes: base },
    },
    {
      id: 'eval-trained',
      type: 'evaluate',
      status: 'completed',
      startedAt: at(3711),
      finishedAt: at(5012),
      output: ref('metrics', n),
      stats: { policy: 'train', dataset: 'gsm8k-test-300', n, correct: trained.filter(Boolean).length, accuracy: trained.filter(Boolean).length / n, f1: 0.55, avgSteps: 3.1, toolCallsPerQuestion: 2.2, processScore: 0.77, outcomes: trained },
    },
    { id: 'report', type: 'report', status: 'failed', startedAt: at(5013), finishedAt: at(5014), error: { type: 'ReportFailed', message: `bad title ${HOSTILE}` } },
  ];
  return {
    workflowId: 'gsm8k-20261127-0900-x7k2',
    runId: '0191c3c4-aaaa-bbbb-cccc-0123456789ab',
    status: 'FAILED',
    startTime: at(0),
    closeTime: at(5015),
    failure: `stage report failed: ReportFailed: bad title ${HOSTILE}`,
    plan: {
      pipeline: { name: 'gsm8k', description: `SWiRL on GSM8K ${HOSTILE}`, labels: {} },
      specHash: 'f3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      stages: [
        planStage('gsm8k-train', 'dataset', []),
        planStage('gsm8k-test', 'dataset', []),
        planStage('rollouts', 'rollout', ['gsm8k-train']),
        planStage('eval-base', 'evaluate', ['gsm8k-test']),
        planStage('decompose', 'decompose', ['rollouts']),
        planStage('filter', 'filter', ['decompose'], { mode: 'process+outcome' }),
        planStage('train', 'train', ['filter']),
        planStage('eval-trained', 'evaluate', ['gsm8k-test', 'train']),
        planStage('report', 'report', ['eval-base', 'eval-trained', 'filter']),
      ],
    },
    stages,
    now: new Date(t0 + 5100 * 1000),
  };
}
