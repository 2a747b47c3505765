// What issue 19's arms table needs from the report: the answered share per evaluation, what each
// train stage's trainer did (summed over its checkpoint chain), the curves as a picture, and no
// silently dropped curve rows.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReportData, trainerTotalsOf } from '../../report/collect.js';
import { renderResultsMarkdown } from '../../report/markdown.js';
import { resultsJson } from '../../report/results-json.js';
import { curvesSvg } from '../../report/svg-curves.js';
import type { ReportSources } from '../../report/collect.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A checkpoint folder with the metadata the trainer writes (only the fields the report reads). */
function checkpoint(dir: string, hash: string, input: string | null, metrics: Record<string, unknown>): void {
  mkdirSync(path.join(dir, hash), { recursive: true });
  writeFileSync(path.join(dir, hash, 'swirl-checkpoint.json'), JSON.stringify({ hash, input, metrics }));
}

const curve = (n: number, objective: string) => Array.from({ length: n }, (_, i) => ({ iteration: i + 1, meanReward: objective === 'sft' ? 1 : i / n, loss: 0.5 - i / 100, kl: objective === 'sft' ? undefined : i / 1000 }));

function sources(n = 16): ReportSources {
  const stage = (id: string, type: string, stats: Record<string, unknown>) => ({ id, type, status: 'completed', stats });
  return {
    workflowId: 'arms-1',
    status: 'COMPLETED',
    plan: {
      pipeline: { name: 'gsm8k-learn' },
      specHash: 'x',
      stages: [
        { id: 'swirl', type: 'train', inputs: [], config: { objective: 'swirl' } },
        { id: 'sft', type: 'train', inputs: [], config: { objective: 'sft' } },
        { id: 'eval-base', type: 'evaluate', inputs: [], config: { policy: 'base', dataset: 'gsm8k' } },
        { id: 'eval-swirl', type: 'evaluate', inputs: ['swirl'], config: { dataset: 'gsm8k' } },
      ],
    } as unknown as ReportSources['plan'],
    stages: [
      stage('swirl', 'train', { curve: curve(n, 'swirl'), checkpoint: 'c3' }),
      stage('sft', 'train', { curve: curve(4, 'sft') }),
      stage('eval-base', 'evaluate', { n: 300, correct: 97, answered: 228 }),
      stage('eval-swirl', 'evaluate', { n: 300, correct: 120, answered: 301 }), // an impossible count is left out
    ],
    trainerTotals: { swirl: { updates: 3, tokens: 9000, actionTokens: 900, trainerSeconds: 5400 } },
  };
}

describe('trainerTotalsOf', () => {
  it('sums the step metrics back along the chain to the base, and stops at a missing or repeated checkpoint', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-ckpt-'));
    dirs.push(dir);
    checkpoint(dir, 'c1', null, { tokens: 1000, actionTokens: 100, wallSeconds: 60 });
    checkpoint(dir, 'c2', 'ckpt:c1', { tokens: 2000, actionTokens: 200, wallSeconds: 120 });
    checkpoint(dir, 'c3', 'ckpt:c2', { tokens: 4000, actionTokens: 400, wallSeconds: 240, attention: 'sdpa' });
    expect(trainerTotalsOf(dir, 'c3')).toEqual({ updates: 3, tokens: 7000, actionTokens: 700, trainerSeconds: 420 });
    expect(trainerTotalsOf(dir, 'c2')).toEqual({ updates: 2, tokens: 3000, actionTokens: 300, trainerSeconds: 180 });
    expect(trainerTotalsOf(dir, 'elsewhere')).toBeUndefined();
    checkpoint(dir, 'd2', 'ckpt:gone', { tokens: 5, actionTokens: 1, wallSeconds: 1 });
    expect(trainerTotalsOf(dir, 'd2')).toEqual({ updates: 1, tokens: 5, actionTokens: 1, trainerSeconds: 1 });
    checkpoint(dir, 'loop', 'ckpt:loop', { tokens: 1, actionTokens: 1, wallSeconds: 1 });
    expect(trainerTotalsOf(dir, 'loop')?.updates).toBe(1);
  });
});

describe('the arms table', () => {
  it('shows the answered share, the training cost per arm, and the curves picture', () => {
    const data = buildReportData(sources());
    expect(data.evaluations.find((e) => e.stageId === 'eval-base')?.answered).toBeCloseTo(0.76);
    expect(data.evaluations.find((e) => e.stageId === 'eval-swirl')?.answered).toBeUndefined();
    const md = renderResultsMarkdown(data, { curvesImage: 'results-curves.svg' });
    expect(md).toContain('| eval-base | base | gsm8k | 300 | 97 | 32.3% | 27.3% – 37.8% | 76.0% | 42.5% |');
    expect(md).toContain('| swirl | 3 | 9,000 | 900 | 1.50 |');
    expect(md).toContain('![Mean sampled reward, KL and loss per iteration of each train stage](results-curves.svg)');
    const json = resultsJson(data);
    expect(json.arms.base?.answeredRate).toBeCloseTo(0.76);
    expect(json.arms.base?.accuracyWhenAnswered).toBeCloseTo(97 / 228);
    expect(json.arms.swirl?.accuracyWhenAnswered).toBeUndefined();
    expect(json.arms.swirl?.training).toEqual({ updates: 3, tokens: 9000, actionTokens: 900, trainerHours: 1.5 });
    expect(json.arms.swirl?.answeredRate).toBeUndefined();
  });

  it('shows every row of a 16-iteration curve, and says how many rows a long one leaves out', () => {
    const md16 = renderResultsMarkdown(buildReportData(sources(16)));
    for (let i = 1; i <= 16; i++) expect(md16).toMatch(new RegExp(`\\n\\| ${i} \\| `));
    const md40 = renderResultsMarkdown(buildReportData(sources(40)));
    expect(md40).toContain('| … | 28 iterations not shown |');
    expect(md40).toMatch(/\n\| 6 \| /);
    expect(md40).not.toMatch(/\n\| 7 \| /);
    expect(md40).toMatch(/\n\| 35 \| /);
  });
});

describe('curvesSvg', () => {
  it('draws one line per train stage in each panel, no sampled reward for an sft stage', () => {
    const data = buildReportData(sources());
    const svg = curvesSvg(data.training ?? [])!;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('mean sampled reward');
    expect(svg).toContain('KL to the base');
    // reward: swirl only; KL: swirl only (sft has none); loss: both.
    expect(svg.match(/<path /g)).toHaveLength(4);
    expect(svg).toContain('>swirl</text>');
    expect(svg).toContain('>sft</text>');
    expect(curvesSvg([])).toBeUndefined();
    expect(curvesSvg([{ stageId: 'x', points: [{ iteration: 1 }] }])).toBeUndefined();
  });
});
