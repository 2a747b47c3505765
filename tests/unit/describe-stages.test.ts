// `swirl status` lines: a filter that measured judge agreement gets a second
// line with kappa, raw agreement, both GOOD rates and the 2×2 counts.
import { describe, expect, it } from 'vitest';
import { judgeAgreement } from '../../agents/judges/index.js';
import { describeAgreement, describeResult, describeRows, describeStages, learnedSummary, nextSteps } from '../../cli/progress.js';
import type { StageState } from '../../workflows/types.js';

const filter = (stats: Record<string, unknown>): StageState => ({ id: 'filtered', type: 'filter', status: 'completed', stats } as StageState);

describe('status: judge agreement', () => {
  it('adds one line under the filter stage', () => {
    const agreement = judgeAgreement('gsm8k-reference', 'llm:judge', [[true, true], [true, true], [true, false], [false, false]]);
    const lines = describeStages([filter({ mode: 'process', agreement })]);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(`      judge agreement gsm8k-reference vs llm:judge on 4 steps: kappa ${agreement.kappa!.toFixed(3)}, agreement 75.0%, GOOD 75.0% vs 50.0% (GOOD/GOOD 2, GOOD/BAD 1, BAD/GOOD 0, BAD/BAD 1)`);
  });
  it('says – for kappa when no step was judged by both, and nothing without agreement', () => {
    expect(describeAgreement({ agreement: judgeAgreement('a', 'b', []) })).toContain('on 0 steps: kappa –, agreement –');
    expect(describeStages([filter({ mode: 'process' })])).toHaveLength(1);
    expect(describeAgreement(undefined)).toBeUndefined();
  });
});

describe('run/status: what each stage produced', () => {
  const stage = (type: string, stats: Record<string, unknown>, kind = 'steps'): StageState => ({ id: type, type, status: 'completed', stats, output: { hash: 'a'.repeat(64), kind, rows: 3, bytes: 10 } } as StageState);

  it('rollouts by how they ended; decompose as trajectories → steps', () => {
    expect(describeResult(stage('rollout', { answered: 2, no_action: 1, max_steps: 3, toolCalls: 7 }, 'trajectories'))).toBe('answered 2, no action 1, max steps 3; 7 tool calls');
    expect(describeResult(stage('decompose', { trajectories: 3, steps: 1, empty: 2 }))).toBe('3 trajectories → 1 step (2 without an action)');
    expect(describeResult(stage('decompose', { trajectories: 1, steps: 4, empty: 0 }))).toBe('1 trajectory → 4 steps');
  });

  it('the filter: kept of judged, GOOD rate and the top drop reasons', () => {
    const line = describeResult(stage('filter', { trajectoriesIn: 5, kept: 1, keptSteps: 2, stepsIn: 9, stepsJudged: 9, goodRate: 0.3333, dropped: { 'status no_action': 1, 'process: a step BAD': 3 } }));
    expect(line).toBe('kept 1 of 5 trajectories (2 of 9 steps); 9 steps judged, 33.3% GOOD; dropped: process: a step BAD 3, status no_action 1');
  });

  it('evaluation: accuracy with its interval, F1, answered, tool calls, process score', () => {
    const line = describeResult(stage('evaluate', { n: 4, correct: 1, accuracy: 0.25, ci95: [0.046, 0.699], f1: 0.3, answered: 3, toolCallsPerQuestion: 1.5, processScore: 0.5 }, 'metrics'));
    expect(line).toBe('accuracy 25.0% (1/4, 95% CI 4.6%–69.9%), F1 0.30, answered 3/4, 1.5 tool calls/question, process score 50.0%');
  });

  it('training: iterations and the reward curve, with a warning when no reward was ever non-zero', () => {
    expect(describeResult(stage('train', { objective: 'swirl', curve: [{ iteration: 1, meanReward: 0.1, kl: 0.001, loss: 0.5 }, { iteration: 2, meanReward: 0.25, kl: 0.002, loss: 0.4 }] }, 'policy'))).toBe(
      '2 iterations, mean reward 0.100 → 0.250, KL 0.0020, loss 0.4000',
    );
    expect(describeResult(stage('train', { objective: 'swirl', curve: [{ iteration: 1, meanReward: 0 }, { iteration: 2, meanReward: 0 }] }, 'policy'))).toMatch(/every sampled reward was 0/);
  });

  it('run output: a stage line, then its result line; the report path and next commands at the end', () => {
    const lines = describeStages([stage('decompose', { trajectories: 3, steps: 5, empty: 0 })]);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('      3 trajectories → 5 steps');
    expect(nextSteps('run-1', [{ id: 'eval-base', type: 'evaluate', status: 'completed', output: { hash: 'x', kind: 'metrics', rows: 1, bytes: 1 } }], '/s/reports/run-1.html')).toEqual(['report: /s/reports/run-1.html', 'next: swirl show run-1 eval-base   swirl history run-1']);
    expect(nextSteps('run-2', [], undefined)).toEqual(['next: swirl history run-2   swirl report run-2']);
  });

  it('stage lines count a steps artifact in trajectories (its rows), with the steps from the stats', () => {
    // decompose: 8 trajectories kept (with an action) of 12, holding 16 steps.
    const dec = { ...stage('decompose', { trajectories: 12, steps: 16, empty: 4 }), output: { hash: 'a'.repeat(64), kind: 'steps', rows: 8, bytes: 10 } } as StageState;
    expect(describeStages([dec])[0]).toMatch(/^ {2}\S+ decompose \(decompose\) {2}8 trajectories \(16 steps\) {2}artifact aaaaaaaaaaaa$/);
    expect(describeStages([dec])[0]).not.toContain('8 steps');
    // filter: 3 trajectories kept with 5 steps between them.
    const fil = { ...stage('filter', { trajectoriesIn: 8, stepsIn: 16, kept: 3, keptSteps: 5 }), output: { hash: 'a'.repeat(64), kind: 'steps', rows: 3, bytes: 10 } } as StageState;
    expect(describeStages([fil])[0]).toContain('  3 trajectories (5 steps)  artifact ');
    expect(describeRows({ type: 'filter', stats: { kept: 1, keptSteps: 1 }, output: { hash: 'x', kind: 'steps', rows: 1, bytes: 1 } })).toBe('1 trajectory (1 step)');
    // No stats (an old summary): the rows only, never a guessed step count.
    expect(describeRows({ type: 'decompose', output: { hash: 'x', kind: 'steps', rows: 8, bytes: 1 } })).toBe('8 trajectories');
    expect(describeRows({ type: 'dataset', output: { hash: 'x', kind: 'questions', rows: 2, bytes: 1 } })).toBe('2 questions');
    expect(describeRows({ type: 'rollout', output: { hash: 'x', kind: 'trajectories', rows: 1, bytes: 1 } })).toBe('1 trajectory');
    expect(describeRows({ type: 'evaluate', output: { hash: 'x', kind: 'metrics', rows: 4, bytes: 1 } })).toBe('4 evaluated questions');
    expect(describeRows({ type: 'train', output: { hash: 'x', kind: 'policy', rows: 1, bytes: 1 } })).toBe('1 policy');
    expect(describeRows({ type: 'report', output: { hash: 'x', kind: 'report', rows: 1, bytes: 1 } })).toBe('1 report');
  });

  it('last line: what training learned — reward curve, accuracy base → trained, changed outputs, the report', () => {
    const train = { id: 'trained', type: 'train', status: 'completed', stats: { objective: 'swirl', curve: [{ meanReward: 0.1 }, { meanReward: 0.3 }] } } as StageState;
    const base = { id: 'eval-base', type: 'evaluate', status: 'completed', stats: { n: 4, correct: 1 } } as StageState;
    const trained = { id: 'eval-trained', type: 'evaluate', status: 'completed', stats: { n: 4, correct: 2 } } as StageState;
    const outputs = { 'eval-base': { a: 'x', b: 'y', c: 'z', d: 'w' }, 'eval-trained': { a: 'x', b: 'Y', c: 'z', d: 'W' } };
    expect(learnedSummary([train, base, trained], outputs, '/s/r.html')).toBe(
      'learned: mean reward 0.100 → 0.300 over 2 updates; accuracy 1/4 (eval-base) → 2/4 (eval-trained); 2 of 4 evaluation outputs changed; report: /s/r.html',
    );
    const flat = { ...train, stats: { objective: 'swirl', curve: [{ meanReward: 0 }] } } as StageState;
    expect(learnedSummary([flat, base, trained], {}, undefined)).toBe('learned: mean reward 0.000 → 0.000 over 1 update (every sampled reward was 0: nothing to learn from); accuracy 1/4 (eval-base) → 2/4 (eval-trained)');
    expect(learnedSummary([base, trained], outputs, undefined)).toBeUndefined();
  });

  it('last line with several arms: each train stage against its own evaluation and the base, SFT without a reward curve', () => {
    const rl = { id: 'swirl', type: 'train', status: 'completed', stats: { objective: 'swirl', curve: [{ meanReward: 0.5 }, { meanReward: 0.75 }] } } as StageState;
    const sft = { id: 'sft', type: 'train', status: 'completed', stats: { objective: 'sft', curve: [{ meanReward: 1 }, { meanReward: 1 }, { meanReward: 1 }] } } as StageState;
    const ev = (id: string, policy: string, correct: number) => ({ id, type: 'evaluate', status: 'completed', stats: { policy, n: 10, correct } }) as StageState;
    // Evaluations completed in another order than the train stages: pairing goes by policy, not position.
    const stages = [rl, sft, ev('eval-sft', 'sft', 4), ev('eval-base', 'base', 3), ev('eval-swirl', 'swirl', 6)];
    const outputs = { 'eval-base': { a: 'x', b: 'y' }, 'eval-swirl': { a: 'X', b: 'y' }, 'eval-sft': { a: 'X', b: 'Y' } };
    expect(learnedSummary(stages, outputs, undefined)).toBe(
      'learned: swirl: mean reward 0.500 → 0.750 over 2 updates; accuracy 3/10 (eval-base) → 6/10 (eval-swirl); 1 of 2 evaluation outputs changed | sft: 3 SFT updates; accuracy 3/10 (eval-base) → 4/10 (eval-sft); 2 of 2 evaluation outputs changed',
    );
    // An arm not evaluated: its training only, never another arm's accuracy.
    expect(learnedSummary([rl, sft, ev('eval-base', 'base', 3), ev('eval-sft', 'sft', 4)], {}, undefined)).toBe(
      'learned: swirl: mean reward 0.500 → 0.750 over 2 updates | sft: 3 SFT updates; accuracy 3/10 (eval-base) → 4/10 (eval-sft)',
    );
    // The base evaluation of the arm's own questions, not the first one named base.
    const other = { id: 'eval-base-hotpot', type: 'evaluate', status: 'completed', stats: { policy: 'base', n: 10, correct: 9, questionsKey: 'hotpot' } } as StageState;
    const keyed = (e: StageState) => ({ ...e, stats: { ...e.stats, questionsKey: 'gsm' } }) as StageState;
    expect(learnedSummary([rl, other, keyed(ev('eval-base', 'base', 3)), keyed(ev('eval-swirl', 'swirl', 6))], {}, undefined)).toBe(
      'learned: mean reward 0.500 → 0.750 over 2 updates; accuracy 3/10 (eval-base) → 6/10 (eval-swirl)',
    );
    // Runs that name policies never fall back to first-vs-last: the arm's own evaluation failed, so no accuracy.
    expect(learnedSummary([rl, ev('eval-base', 'base', 3), ev('eval-adapter', 'base', 5)], {}, undefined)).toBe('learned: mean reward 0.500 → 0.750 over 2 updates');
    // A thinned curve: the update count is the stage's iterations.
    const long = { ...rl, stats: { ...rl.stats, iterations: 400 } } as StageState;
    expect(learnedSummary([long], {}, undefined)).toBe('learned: mean reward 0.500 → 0.750 over 400 updates');
  });
});
