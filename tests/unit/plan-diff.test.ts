import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileSource } from '../../compiler/index.js';
import { diffPlans, forceFrom } from '../../cli/plan-diff.js';
import { packageRoot } from '../../runtime/paths.js';

const file = path.join(packageRoot, 'pipelines', 'gsm8k.yaml');
const src = readFileSync(file, 'utf8');
const plan = (text: string) => {
  const r = compileSource(text, file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.plan;
};

describe('diffPlans', () => {
  it('reuses everything for an unchanged spec', () => {
    expect(diffPlans(plan(src), plan(src)).every((d) => d.verdict === 'reuse')).toBe(true);
  });

  it('reruns a changed stage and its descendants, and says why', () => {
    const d = diffPlans(plan(src.replace('maxSteps: 10\n    shardSize', 'maxSteps: 8\n    shardSize')), plan(src));
    const by = Object.fromEntries(d.map((x) => [x.id, x]));
    expect(by.rollouts).toMatchObject({ verdict: 'rerun', reason: 'config changed: maxSteps' });
    expect(by.steps).toMatchObject({ verdict: 'rerun', reason: 'input rollouts will change' });
    expect(by['eval-swirl']!.verdict).toBe('rerun');
    expect(by['train-questions']!.verdict).toBe('reuse');
    expect(by['eval-base']!.verdict).toBe('reuse');
  });

  it('reports new and removed stages, and stages that did not complete before', () => {
    const p = plan(src);
    const smaller = { ...p, stages: p.stages.filter((s) => s.id !== 'report') };
    expect(diffPlans(p, smaller).find((x) => x.id === 'report')!.verdict).toBe('new');
    expect(diffPlans(smaller, p).find((x) => x.id === 'report')!.verdict).toBe('removed');
    const summary = { status: 'failed' as const, stages: [{ id: 'train-questions', type: 'dataset', status: 'failed' as const }] };
    expect(diffPlans(p, p, summary).find((x) => x.id === 'train-questions')).toMatchObject({ verdict: 'rerun', reason: 'unchanged, but it failed in the earlier run' });
  });

  it('forceFrom uncaches a stage and everything downstream', () => {
    const f = forceFrom(plan(src), 'filtered');
    const uncached = f.stages.filter((s) => !s.cache).map((s) => s.id).sort();
    expect(uncached).toEqual(['eval-swirl', 'filtered', 'report', 'trained']);
  });
});
