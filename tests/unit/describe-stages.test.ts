// `swirl status` lines: a filter that measured judge agreement gets a second
// line with kappa, raw agreement, both GOOD rates and the 2×2 counts.
import { describe, expect, it } from 'vitest';
import { judgeAgreement } from '../../agents/judges/index.js';
import { describeAgreement, describeStages } from '../../cli/progress.js';
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
