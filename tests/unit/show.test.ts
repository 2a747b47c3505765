// `swirl show`: each artifact kind printed readably; control characters escaped; ids to pick a row by.
import { describe, expect, it } from 'vitest';
import { decompose } from '../../agents/steps.js';
import type { Trajectory } from '../../agents/types.js';
import { oneLine, rowIds, showHeader, showRow } from '../../cli/show.js';

const traj: Trajectory = {
  id: 'q1#0',
  questionId: 'q1',
  dataset: 'gsm8k',
  sample: 0,
  status: 'answered',
  messages: [
    { role: 'user', content: 'Solve it.\nQuestion: Ana has 3 crates of 12 jars. How many jars?' },
    { role: 'assistant', content: 'Crates first. <math_exp>3*12</math_exp>' },
    { role: 'user', content: '3*12 -> 36' },
    { role: 'assistant', content: '<answer>36</answer>' },
  ],
  steps: [
    { index: 0, kind: 'calculator', content: '3*12', observation: '3*12 -> 36' },
    { index: 1, kind: 'answer', content: '36' },
  ],
  answer: '36',
  gold: '36',
  question: 'Ana has 3 crates of 12 jars. How many jars?',
  usage: { inputTokens: 100, outputTokens: 12, modelCalls: 2 },
  model: 'policy',
};

describe('swirl show', () => {
  it('prints a trajectory turn by turn, with tool calls and observations', () => {
    expect(showRow('trajectories', traj)).toEqual([
      'trajectory q1#0  answered  (question q1, sample 0, model policy)',
      '  question: Ana has 3 crates of 12 jars. How many jars?',
      '  1. calculator: 3*12',
      '     → 3*12 -> 36',
      '  2. answer: 36',
      '  answer: 36   gold: 36   2 model call(s), 12 tokens out',
    ]);
  });

  it('prints steps with the state tail, action and verdict, and why a trajectory was dropped', () => {
    const g = decompose(traj);
    g.steps[0]!.verdict = 'GOOD';
    g.steps[1]!.verdict = 'BAD';
    g.steps[1]!.verdictReason = 'not the gold answer';
    g.kept = false;
    g.dropReasons = ['process: step 2 BAD'];
    const lines = showRow('steps', g);
    expect(lines[0]).toBe('trajectory q1#0  answered  2 step(s)  dropped (process: step 2 BAD)');
    expect(lines).toContain('    action calculator: 3*12   → 3*12 -> 36');
    expect(lines).toContain('    verdict GOOD');
    expect(lines).toContain('    verdict BAD: not the gold answer');
    expect(lines.some((l) => l.startsWith('  step 2: state of 3 message(s), ending: user: 3*12 -> 36'))).toBe(true);
  });

  it('prints an evaluation row with gold and predicted answers', () => {
    const rec = { questionId: 'q1', dataset: 'gsm8k', status: 'answered', answer: '35', gold: '36', correct: false, score: 0, f1: 0, reason: 'numeric: 35 ≠ 36', steps: 2, toolCalls: 1, goodRate: 0.5, trajectory: traj };
    const lines = showRow('metrics', rec);
    expect(lines.slice(0, 4)).toEqual([
      'question q1  wrong  (answered; score 0, F1 0.00; 2 action(s), 1 tool call(s); process 50% GOOD)',
      '  predicted: 35',
      '  gold:      36',
      '  judge: numeric: 35 ≠ 36',
    ]);
    expect(rowIds(rec)).toEqual(['q1', 'q1#0']);
  });

  it('prints questions, and other rows as JSON', () => {
    expect(showRow('questions', { id: 'q9', dataset: 'gsm8k', question: 'How many?', answer: '4' })).toEqual(['question q9  (gsm8k)', '  How many?', '  gold: 4']);
    expect(showRow('policy', { adapter: 'a.gguf' })).toEqual(['{', '  "adapter": "a.gguf"', '}']);
  });

  it('the header counts rows by what they are: a steps artifact holds trajectories, its steps come from the stage stats', () => {
    const ref = (kind: string, rows: number) => ({ hash: 'ab'.repeat(32), kind, rows, bytes: 1 }) as never;
    expect(showHeader('steps', { type: 'decompose', stats: { trajectories: 12, steps: 16 }, output: ref('steps', 8) }, 3)).toBe('steps (decompose): 8 trajectories (16 steps), artifact abababababab; showing 3');
    expect(showHeader('filtered', { type: 'filter', stats: { kept: 1, keptSteps: 1 }, output: ref('steps', 1) }, 1, 'q1#0')).toBe('filtered (filter): 1 trajectory (1 step), artifact abababababab; showing 1 with id q1#0');
    // Without stats (an old run's summary) the step count is not guessed.
    expect(showHeader('steps', { type: 'decompose', output: ref('steps', 8) }, 3)).toBe('steps (decompose): 8 trajectories, artifact abababababab; showing 3');
    expect(showHeader('eval', { type: 'evaluate', stats: { n: 2 }, output: ref('metrics', 2) }, 2)).toBe('eval (evaluate): 2 evaluated questions, artifact abababababab; showing 2');
    expect(showHeader('rollouts', { type: 'rollout', output: ref('trajectories', 1) }, 1)).toBe('rollouts (rollout): 1 trajectory, artifact abababababab; showing 1');
  });

  it('escapes control characters and cuts long text to one line', () => {
    expect(oneLine('a\u001b[2Jb\nc')).toBe('a\\x1b[2Jb ⏎ c');
    expect(oneLine('x'.repeat(300), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});
