// `swirl status RUN` for a run that has ended closes as `swirl run` does: the
// report the report stage wrote, and the one next command. A running run does not.
import { describe, expect, it } from 'vitest';
import { finishedReportFile } from '../../cli/progress.js';
import { describeStatus, type RunStatus } from '../../cli/status-view.js';

const ref = (kind: string, rows: number) => ({ hash: 'c'.repeat(64), kind, rows, bytes: 1 }) as never;
const stages: RunStatus['stages'] = [
  { id: 'questions', type: 'dataset', status: 'completed', output: ref('questions', 2) },
  { id: 'rollouts', type: 'rollout', status: 'completed', output: ref('trajectories', 2), stats: { answered: 2, no_action: 0, max_steps: 0, toolCalls: 1 } },
  { id: 'eval', type: 'evaluate', status: 'completed', output: ref('metrics', 2) },
  { id: 'report', type: 'report', status: 'completed', output: ref('report', 1) },
];
const finished: RunStatus = { workflowId: 'run-7', runId: 'r', status: 'COMPLETED', pipeline: 'tutorial', startTime: '2026-12-05T00:00:00.000Z', closeTime: '2026-12-05T00:01:00.000Z', stages };

describe('swirl status: closing lines', () => {
  it('a finished run ends with its report path and the next command, after the stage lines', () => {
    const lines = describeStatus({ ...finished, reportFile: '/state/reports/run-7.html' });
    expect(lines[0]).toBe('run-7  COMPLETED  pipeline tutorial');
    expect(lines.slice(-2)).toEqual(['report: /state/reports/run-7.html', 'next: swirl show run-7 eval   swirl history run-7']);
    expect(lines.findIndex((l) => l.includes('eval (evaluate)'))).toBeLessThan(lines.length - 2);
  });

  it('without the report file it points to `swirl report`; a failed run gets the next command too', () => {
    expect(describeStatus(finished).at(-1)).toBe('next: swirl show run-7 eval   swirl history run-7   swirl report run-7');
    const failed = describeStatus({ ...finished, status: 'FAILED', failure: 'boom', stages: stages.slice(0, 2) });
    expect(failed.slice(-2)).toEqual(['  failure: boom', 'next: swirl show run-7 rollouts   swirl history run-7   swirl report run-7']);
  });

  it('a running or paused run has no closing lines', () => {
    for (const status of ['RUNNING', 'PAUSED']) {
      const lines = describeStatus({ ...finished, status, reportFile: '/state/reports/run-7.html' });
      expect(lines.some((l) => l.startsWith('next:') || l.startsWith('report:'))).toBe(false);
    }
  });

  it('the report file is the report stage\'s, only when that stage completed and the file exists', () => {
    const there = (f: string) => f === '/s/reports/run-7.html';
    expect(finishedReportFile(stages, '/s/reports/run-7.html', there)).toBe('/s/reports/run-7.html');
    expect(finishedReportFile(stages, '/s/reports/gone.html', there)).toBeUndefined();
    expect(finishedReportFile(stages.slice(0, 3), '/s/reports/run-7.html', there)).toBeUndefined();
    expect(finishedReportFile([{ type: 'report', status: 'failed' }], '/s/reports/run-7.html', there)).toBeUndefined();
  });
});
