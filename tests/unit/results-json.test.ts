// docs/results.json from a report's data: one arm per evaluated policy, the paired
// difference to base where the report has one, and the model the evaluations ran.
import { describe, expect, it } from 'vitest';
import { buildReportData } from '../../report/collect.js';
import { resultsJson } from '../../report/results-json.js';
import { fixtureSources } from './report-fixture.js';

describe('results.json', () => {
  it('lists every arm with accuracy, CI and the paired difference to base', () => {
    const data = buildReportData(fixtureSources());
    const r = resultsJson(data);
    expect(r.runs).toEqual([data.run.id]);
    expect(Object.keys(r.arms).sort()).toEqual(data.evaluations.map((e) => e.policy).sort());
    const base = r.arms.base!;
    const e = data.evaluations.find((x) => x.policy === 'base')!;
    expect(base).toMatchObject({ stage: e.stageId, correct: e.correct, n: e.n, accuracy: e.accuracy, ci95: e.ci95 });
    expect(base.pairedVsBase).toBeUndefined();
    const trained = Object.entries(r.arms).find(([k]) => k !== 'base')![1];
    const cmp = data.comparisons!.find((c) => c.b === trained.stage)!;
    expect(trained.pairedVsBase).toMatchObject({ diff: cmp.diff, ci95: cmp.ci95, method: cmp.method });
    if (cmp.method === 'paired') expect(trained.pairedVsBase).toMatchObject({ discordant: cmp.discordant, mcnemarP: cmp.mcnemarP });
  });

  it('names the model the evaluate stage ran, from the Plan', () => {
    const src = fixtureSources();
    const evalStage = src.plan!.stages.find((s) => s.type === 'evaluate')!;
    evalStage.config = { ...evalStage.config, model: 'policy' };
    src.plan = { ...src.plan!, models: { policy: { provider: 'llama-cpp', model: 'qwen2.5-coder-1.5b', modelSha256: 'c'.repeat(64) } } };
    expect(resultsJson(buildReportData(src)).model).toEqual({ name: 'policy', provider: 'llama-cpp', model: 'qwen2.5-coder-1.5b', sha256: 'c'.repeat(64) });
    expect(resultsJson(buildReportData(fixtureSources())).model).toBeUndefined();
  });
});
