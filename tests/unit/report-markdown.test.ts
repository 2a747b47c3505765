// The Markdown results page: every evaluation row with its CI, the paired
// differences, yield and training endpoints, generated from ReportData.
import { describe, expect, it } from 'vitest';
import { renderResultsMarkdown } from '../../report/markdown.js';
import { buildReportData } from '../../report/collect.js';
import { FIXTURE_AGREEMENT, fixtureSources } from './report-fixture.js';

const fixtureReportData = () => buildReportData(fixtureSources());

describe('results markdown', () => {
  it('renders the accuracy table, differences, yield and training', () => {
    const data = fixtureReportData();
    const md = renderResultsMarkdown(data, { commands: ['npm run setup', 'swirl run pipelines/gsm8k.yaml'] });
    for (const e of data.evaluations) {
      expect(md).toContain(`| ${e.stageId} | ${e.policy} | ${e.dataset} | ${e.n} | ${e.correct} | ${(100 * e.accuracy).toFixed(1)}% |`);
      expect(md).toContain(`${(100 * e.ci95[0]).toFixed(1)}% – ${(100 * e.ci95[1]).toFixed(1)}%`);
    }
    for (const c of data.comparisons ?? []) {
      expect(md).toContain(`| ${c.b} (${c.policyB}) − ${c.a} (${c.policyA}) |`);
      // Paired rows end with the discordant counts and the exact McNemar p-value.
      if (c.discordant) expect(md).toMatch(new RegExp(`\\| ${c.b} \\(.*\\| paired \\| ${c.discordant.bOnly} / ${c.discordant.aOnly} \\| [<0-9. ]+ \\|\n`));
    }
    expect((data.comparisons ?? []).some((c) => c.discordant)).toBe(true);
    expect(md).toContain('```sh\nnpm run setup\nswirl run pipelines/gsm8k.yaml\n```');
    if (data.training?.length) expect(md).toContain(`## Training \`${data.training[0]!.stageId}\``);
    expect(md.endsWith('\n')).toBe(true);
  });
  it('renders judge agreement with its 2×2 table', () => {
    const md = renderResultsMarkdown(fixtureReportData(), { commands: [] });
    expect(md).toContain(`Judge agreement in \`filter\` on 843 steps, A = \`gsm8k-reference\`, B = \`llm:judge\`: Cohen's κ ${FIXTURE_AGREEMENT.kappa!.toFixed(3)}, agreement 84.6%, GOOD rate A 71.1%, B 72.5%.`);
    expect(md).toContain('| | B GOOD | B BAD |\n|---|---:|---:|\n| A GOOD | 540 | 59 |\n| A BAD | 71 | 173 |');
  });
  it('puts a preface written by a person under the title, before the commands and the numbers', () => {
    const md = renderResultsMarkdown(fixtureReportData(), { preface: '\n**No gain at this scale.** What was tried: lr 1e-4.\n\n', commands: ['scripts/does-it-learn.sh'] });
    const at = (t: string) => md.indexOf(t);
    expect(at('**No gain at this scale.** What was tried: lr 1e-4.\n\nReproduce:')).toBeGreaterThan(at('Do not edit by hand.'));
    expect(at('Reproduce:')).toBeLessThan(at('## Accuracy'));
  });
  it('says when nothing was evaluated', () => {
    const data = { ...fixtureReportData(), evaluations: [], comparisons: [], training: [] };
    expect(renderResultsMarkdown(data)).toContain('No evaluation stage reported.');
  });
  it('names the --set overrides the run used, and writes "1 step", not "1 steps"', () => {
    const src = fixtureSources();
    src.plan = { ...src.plan!, overrides: ['stages.rollouts.samples=2', 'stages.x.prompt=`a`'] };
    const md = renderResultsMarkdown(buildReportData(src));
    expect(md).toContain('Run with overrides: `stages.rollouts.samples=2`, `` stages.x.prompt=`a` ``.\n');
    expect(md.indexOf('Run with overrides')).toBeLessThan(md.indexOf('## Accuracy'));
    expect(renderResultsMarkdown(fixtureReportData())).not.toContain('overrides');
    const data = fixtureReportData();
    data.filter[0] = { ...data.filter[0]!, trajectoriesIn: 1, stepsJudged: 1, agreement: { ...data.filter[0]!.agreement!, steps: 1 } };
    data.training = [{ stageId: 't', points: [{ iteration: 1, meanReward: 0.5 }] }];
    const one = renderResultsMarkdown(data);
    expect(one).toContain('1 trajectory in, 1 step judged,');
    expect(one).toContain('on 1 step, A =');
    expect(one).toContain('over 1 iteration.');
    expect(renderResultsMarkdown(fixtureReportData())).toContain('252 trajectories in, 843 steps judged,');
  });
  it('lists the served adapter and its probe per iteration for a runtime-LoRA sampler, and only then', () => {
    const data = fixtureReportData();
    data.training = [{ stageId: 't', points: [
      { iteration: 1, meanReward: 0.2, served: 'base' },
      { iteration: 2, meanReward: 0.3, served: 'r-t-step-1', servedAdapterHash: 'abcdef0123456789abcd', probeNew: 0.0012, probeOld: 0.31, probeDistinguishable: true },
      { iteration: 3, meanReward: 0.3, served: 'r-t-step-2', servedAdapterHash: '0123456789abcdef0123', probeNew: 0.001, probeOld: 0.002, probeDistinguishable: false },
    ] }];
    const md = renderResultsMarkdown(data);
    expect(md).toContain('| 1 | `base` | base |');
    expect(md).toContain('| 2 | `r-t-step-1` | `abcdef012345` | 0.0012 | 0.3100 |');
    expect(md).toContain('| 3 | `r-t-step-2` | `0123456789ab` | 0.0010 | 0.0020 (update below tolerance) |');
    expect(renderResultsMarkdown(fixtureReportData())).not.toContain('served model');
  });
});

