// buildReportData over fake run summaries: funnel, filter yield, evaluations
// with intervals, paired/unpaired comparisons, training curves, and tolerance
// of missing or malformed stage stats.
import { describe, expect, it } from 'vitest';
import type { AuditReport } from '../../cli/audit.js';
import { buildReportData, compareEvaluations, wilson, type ReportSources } from '../../report/collect.js';
import type { ReportEvaluation } from '../../report/types.js';
import { FIXTURE_AGREEMENT, fixtureSources } from './report-fixture.js';
import { mcnemarExact, pValue } from '../../report/intervals.js';

const ev = (stageId: string, policy: string, n: number, correct: number, outcomes?: boolean[]): ReportEvaluation & { outcomes?: boolean[] } => ({
  stageId,
  policy,
  dataset: 'gsm8k',
  n,
  correct,
  accuracy: correct / n,
  ci95: wilson(correct, n),
  ...(outcomes ? { outcomes } : {}),
});

describe('buildReportData on a finished run', () => {
  const src = fixtureSources();
  const data = buildReportData(src);

  it('keeps the plan order, edges, times, cache hits and errors of every stage', () => {
    expect(data.stages.map((s) => s.id)).toEqual(src.plan!.stages.map((s) => s.id));
    const byId = Object.fromEntries(data.stages.map((s) => [s.id, s]));
    expect(byId['eval-trained']!.inputs).toEqual(['gsm8k-test', 'train']);
    expect(byId.rollouts!.durationMs).toBe(1448_000);
    expect(byId['gsm8k-train']!.cacheHit).toBe(true);
    expect(byId.rollouts!.cacheHit).toBe(false);
    expect(byId.rollouts!.counts).toEqual({ succeeded: 252, failed: 4, filtered: 0 });
    expect(byId.report!.error?.type).toBe('ReportFailed');
    expect(data.run).toMatchObject({ id: src.workflowId, pipeline: 'gsm8k', status: 'FAILED', specHash: src.plan!.specHash });
    expect(data.run.failure).toContain('ReportFailed');
  });

  it('carries the Plan\'s --set overrides into the run, and none when the Plan has none', () => {
    expect('overrides' in data.run).toBe(false);
    const withSet = fixtureSources();
    withSet.plan = { ...withSet.plan!, overrides: ['stages.rollouts.samples=2', 'models.policy.maxTokens=64'] };
    expect(buildReportData(withSet).run.overrides).toEqual(['stages.rollouts.samples=2', 'models.policy.maxTokens=64']);
  });

  it('builds the yield funnel from output rows (questions that fed rollouts, not the test set)', () => {
    expect(data.funnel).toEqual({ questions: 64, trajectories: 256, steps: 843, kept: 391, keptTrajectories: 118 });
  });

  it('reads filter, train and evaluate stats', () => {
    expect(data.filter).toEqual([{ stageId: 'filter', mode: 'process+outcome', trajectoriesIn: 252, stepsIn: 843, stepsJudged: 843, goodRate: 0.71, kept: 118, keptSteps: 391, dropped: { process: 87, outcome: 61, 'status:no_action': 12 }, agreement: FIXTURE_AGREEMENT }]);
    expect(data.goodRates).toHaveLength(256);
    expect(data.rewards).toHaveLength(843);
    expect(data.training).toHaveLength(1);
    expect(data.training![0]!.points).toHaveLength(30);
    expect(data.evaluations.map((e) => [e.stageId, e.policy, e.n, e.correct])).toEqual([
      ['eval-base', 'base', 300, 134],
      ['eval-trained', 'train', 300, 158],
    ]);
    // Recomputed as Wilson intervals, not read: the stage stored a normal interval ([0.385, 0.497]) here.
    expect(data.evaluations[0]!.ci95[0]).toBeCloseTo(0.3914, 4);
    expect(data.evaluations[0]!.ci95[1]).toBeCloseTo(0.5032, 4);
    const [lo, hi] = data.evaluations[1]!.ci95; // not reported: Wilson too
    expect(lo).toBeCloseTo(0.4702, 3);
    expect(hi).toBeCloseTo(0.5825, 3);
    expect(data.evaluations[1]).not.toHaveProperty('outcomes'); // per-question outcomes stay out of the page data
  });

  it('pairs the two evaluations of the same questions, base first', () => {
    expect(data.comparisons).toHaveLength(1);
    const c = data.comparisons![0]!;
    expect(c).toMatchObject({ a: 'eval-base', b: 'eval-trained', policyA: 'base', policyB: 'train', n: 300, method: 'paired' });
    expect(c.diff).toBeCloseTo(24 / 300, 10);
    expect(c.ci95[0]).toBeGreaterThan(0);
  });
});

describe('comparisons', () => {
  it('paired interval from per-question differences', () => {
    const [c] = compareEvaluations([ev('a', 'base', 4, 2, [true, true, false, false]), ev('b', 't', 4, 3, [true, false, true, true])]);
    // d = [0, -1, 1, 1]: mean 0.25, sample variance 11/12, half-width 1.96·√(11/48).
    expect(c!.method).toBe('paired');
    expect(c!.diff).toBeCloseTo(0.25, 10);
    expect(c!.ci95[0]).toBeCloseTo(0.25 - 1.959964 * Math.sqrt(11 / 48), 6);
    expect(c!.ci95[1]).toBe(1); // clamped
    // b alone right on questions 3 and 4, a alone on 2: exact McNemar over 3 discordant, min tail 1+3 of 8.
    expect(c!.discordant).toEqual({ bOnly: 2, aOnly: 1 });
    expect(c!.mcnemarP).toBeCloseTo(1, 10);
  });

  it('exact McNemar p-values', () => {
    expect(mcnemarExact(0, 0)).toBe(1);
    expect(mcnemarExact(5, 0)).toBeCloseTo(2 / 32, 12);
    expect(mcnemarExact(0, 5)).toBeCloseTo(2 / 32, 12);
    // n = 12, k = 2: 2·(1 + 12 + 66)/4096
    expect(mcnemarExact(10, 2)).toBeCloseTo((2 * 79) / 4096, 12);
    expect(mcnemarExact(2, 10)).toBeCloseTo((2 * 79) / 4096, 12);
    // Hundreds of discordant pairs stay finite; equal counts give 1.
    expect(mcnemarExact(150, 120)).toBeGreaterThan(0.05);
    expect(mcnemarExact(150, 120)).toBeLessThan(0.1);
    expect(mcnemarExact(200, 100)).toBeLessThan(1e-7);
    expect(mcnemarExact(40, 40)).toBe(1);
    expect(pValue(0.0625)).toBe('0.0625');
    expect(pValue(1)).toBe('1');
    expect(pValue(0.5)).toBe('0.5');
    expect(pValue(0.0004)).toBe('< 0.001');
  });

  it('different questionsKeys are not paired, even with outcomes', () => {
    const a = { ...ev('a', 'base', 2, 1, [true, false]), questionsKey: 'k1' };
    const b = { ...ev('b', 't', 2, 2, [true, true]), questionsKey: 'k2' };
    expect(compareEvaluations([a, b])[0]!.method).toBe('unpaired');
    expect(compareEvaluations([a, { ...b, questionsKey: 'k1' }])[0]!.method).toBe('paired');
  });

  it('unpaired interval when outcomes are missing; base is always side a; other n or data set: no comparison', () => {
    const [c] = compareEvaluations([ev('t1', 'train', 100, 60), ev('b', 'base', 100, 50)]);
    expect(c).toMatchObject({ a: 'b', b: 't1', method: 'unpaired' });
    expect(c!.mcnemarP).toBeUndefined();
    expect(c!.diff).toBeCloseTo(0.1, 10);
    expect(c!.ci95[1] - c!.diff).toBeCloseTo(1.959964 * Math.sqrt(0.0025 + 0.0024), 6);
    expect(compareEvaluations([ev('a', 'base', 100, 50), ev('b', 't', 99, 50)])).toEqual([]);
    expect(compareEvaluations([ev('a', 'base', 100, 50), { ...ev('b', 't', 100, 50), dataset: 'hotpotqa' }])).toEqual([]);
  });

  it('wilson interval at the edges', () => {
    expect(wilson(0, 10)[0]).toBe(0);
    expect(wilson(0, 10)[1]).toBeCloseTo(0.2775, 4);
    expect(wilson(10, 10)[0]).toBeCloseTo(0.7225, 4);
    expect(wilson(0, 0)).toEqual([0, 1]);
  });
});

describe('buildReportData on partial data', () => {
  const plan = (stages: Array<{ id: string; type: string; inputs?: string[]; config?: Record<string, unknown> }>): ReportSources['plan'] => ({
    pipeline: { name: 'p', labels: {} },
    specHash: 'ab'.repeat(32),
    stages: stages.map((s) => ({ inputs: [], config: {}, ...s }) as never),
  });

  it('judge agreement: a null kappa is left out, malformed agreement stats are ignored', () => {
    const withAgreement = (agreement: unknown) => {
      const src = fixtureSources();
      const f = src.stages.find((x) => x.id === 'filter')!;
      f.stats = { ...f.stats, agreement };
      return buildReportData(src).filter[0]!.agreement;
    };
    expect(withAgreement({ judgeA: 'a', judgeB: 'b', steps: 0, kappa: null, agreement: null, goodRateA: null, goodRateB: null, confusion: { goodGood: 0, goodBad: 0, badGood: 0, badBad: 0 } })).toEqual({ judgeA: 'a', judgeB: 'b', steps: 0, confusion: { goodGood: 0, goodBad: 0, badGood: 0, badBad: 0 } });
    expect(withAgreement('kappa 0.5')).toBeUndefined();
    expect(withAgreement({ kappa: 0.5 })).toBeUndefined();
  });

  it('tolerates missing and malformed stats', () => {
    const data = buildReportData({
      workflowId: 'w',
      status: 'COMPLETED',
      plan: plan([
        { id: 'f', type: 'filter' },
        { id: 't', type: 'train' },
        { id: 'e', type: 'evaluate' },
        { id: 'e2', type: 'evaluate' },
      ]),
      stages: [
        { id: 'f', type: 'filter', status: 'completed', stats: { mode: 5, dropped: 'x', goodRates: 'no', 'dropped.judge_error': 4 } },
        { id: 't', type: 'train', status: 'completed', stats: { curve: 'bad', rewards: [1, 'x', null, 0] } },
        { id: 'e', type: 'evaluate', status: 'completed', stats: {} },
        { id: 'e2', type: 'evaluate', status: 'completed', stats: { ci95: 'wide', outcomes: [true, 'x'] } as never },
      ],
    });
    expect(data.filter).toEqual([{ stageId: 'f', mode: '?', dropped: { judge_error: 4 } }]);
    expect(data.goodRates).toBeUndefined();
    expect(data.rewards).toEqual([1, 0]);
    expect(data.training).toBeUndefined();
    expect(data.evaluations).toEqual([]);
    expect(data.funnel).toEqual({});
  });

  it('evaluate stats per data set (results[]), with policy and data set from the plan when the stage omits them', () => {
    const data = buildReportData({
      workflowId: 'w',
      status: 'COMPLETED',
      plan: plan([
        { id: 'qs', type: 'dataset' },
        { id: 'train', type: 'train' },
        { id: 'ev', type: 'evaluate', inputs: ['qs', 'train'] },
      ]),
      stages: [{ id: 'ev', type: 'evaluate', status: 'completed', stats: { results: [{ dataset: 'gsm8k', n: 10, correct: 7 }, { n: 4, outcomes: [true, false, true, true] }] } }],
    });
    expect(data.evaluations.map((e) => [e.policy, e.dataset, e.n, e.correct, e.accuracy])).toEqual([
      ['train', 'gsm8k', 10, 7, 0.7],
      ['train', 'qs', 4, 3, 0.75],
    ]);
  });

  it('a memo-only run: stage times and attempts come from the history audit, with a note', () => {
    const audit: AuditReport = {
      workflowId: 'w',
      status: 'CANCELLED',
      startTime: '2026-11-27T10:00:00.000Z',
      entries: [
        { time: '', offsetMs: 3000, kind: 'activity', event: 'completed', name: 'loadDataset', stage: 'qs', attempt: 1, durationMs: 2000 },
        { time: '', offsetMs: 9000, kind: 'activity', event: 'completed', name: 'x', stage: 'qs', attempt: 3, durationMs: 1000 },
      ],
      activities: { scheduled: 2, completed: 2, failed: 0, retried: 2, cacheHits: 0 },
      events: 20,
    };
    const data = buildReportData({ workflowId: 'w', status: 'CANCELLED', plan: plan([{ id: 'qs', type: 'dataset' }]), stages: [{ id: 'qs', type: 'dataset', status: 'completed' }], audit });
    expect(data.stages[0]).toMatchObject({ startedAt: '2026-11-27T10:00:01.000Z', durationMs: 8000, attempts: 3 });
    expect(data.notes?.join(' ')).toMatch(/estimated from the activities/);
    expect(data.run.startedAt).toBe('2026-11-27T10:00:00.000Z');
  });

  it('a running run: pending stages from the plan, running stage timed up to now, and a note', () => {
    const data = buildReportData({
      workflowId: 'w',
      status: 'RUNNING',
      plan: plan([
        { id: 'qs', type: 'dataset' },
        { id: 'r', type: 'rollout', inputs: ['qs'] },
      ]),
      stages: [{ id: 'r', type: 'rollout', status: 'running', startedAt: '2026-11-27T10:00:00.000Z' }],
      now: new Date('2026-11-27T10:00:05.000Z'),
    });
    expect(data.stages.map((s) => [s.id, s.status, s.durationMs])).toEqual([
      ['qs', 'pending', undefined],
      ['r', 'running', 5000],
    ]);
    expect(data.notes?.join(' ')).toMatch(/still in progress/);
  });
});

describe('yield funnel with alternative stages', () => {
  it('two filters over one decompose count once (the first), with a note; dataset stages of separate rollouts add up', () => {
    const ref = (rows: number) => ({ hash: 'h', kind: 'steps' as const, rows, bytes: 1 });
    const stages = [
      { id: 'a', type: 'dataset', inputs: [] as string[], rows: 10 },
      { id: 'b', type: 'dataset', inputs: [], rows: 5 },
      { id: 'ra', type: 'rollout', inputs: ['a'], rows: 40 },
      { id: 'rb', type: 'rollout', inputs: ['b'], rows: 20 },
      { id: 'd', type: 'decompose', inputs: ['ra', 'rb'], rows: 58, stats: { trajectories: 60, steps: 150, empty: 2 } },
      { id: 'f-process', type: 'filter', inputs: ['d'], rows: 20, stats: { kept: 20, keptSteps: 70 } },
      { id: 'f-outcome', type: 'filter', inputs: ['d'], rows: 30, stats: { kept: 30, keptSteps: 90 } },
    ];
    const data = buildReportData({
      workflowId: 'w',
      status: 'COMPLETED',
      plan: { pipeline: { name: 'p', labels: {} }, specHash: 'x', stages: stages.map((s) => ({ id: s.id, type: s.type, inputs: s.inputs, config: {} })) as never },
      stages: stages.map((s) => ({ id: s.id, type: s.type, status: 'completed', output: ref(s.rows), ...(s.stats ? { stats: s.stats } : {}) })),
    });
    expect(data.funnel).toEqual({ questions: 15, trajectories: 60, steps: 150, kept: 70, keptTrajectories: 20 });
    expect(data.notes).toEqual(['The yield funnel counts filter stage f-process; f-outcome read the same input(s) and are shown in the tables only.']);
  });

  it('a decompose stage without stats counts its output rows as steps; a filter without stats has no kept steps', () => {
    const ref = (rows: number) => ({ hash: 'h', kind: 'steps' as const, rows, bytes: 1 });
    const data = buildReportData({
      workflowId: 'w',
      status: 'COMPLETED',
      stages: [
        { id: 'd', type: 'decompose', status: 'completed', output: ref(12) },
        { id: 'f', type: 'filter', status: 'completed', output: ref(3) },
      ],
    });
    expect(data.funnel).toEqual({ steps: 12, keptTrajectories: 3 });
  });
});
