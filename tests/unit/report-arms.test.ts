// What issue 19's arms table needs from the report: the answered share per evaluation, what each
// train stage's trainer did (summed over its checkpoint chain), the curves as a picture, and no
// silently dropped curve rows.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { answeredFlagsOf, buildReportData, compareEvaluations, trainerTotalsOf } from '../../report/collect.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { renderResultsMarkdown } from '../../report/markdown.js';
import { renderReport } from '../../report/render.js';
import { stageReportPath, writeStageReport } from '../../activities/report.js';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
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
    trainerTotals: { swirl: { updates: 3, tokens: 9000, actionTokens: 900, trainerSeconds: 5400, checkpoint: 'c3', adapterSha256: 'ab'.repeat(32) } },
  };
}

describe('trainerTotalsOf', () => {
  it('sums the step metrics back along the chain to the base, and stops at a missing or repeated checkpoint', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-ckpt-'));
    dirs.push(dir);
    checkpoint(dir, 'c1', null, { tokens: 1000, actionTokens: 100, wallSeconds: 60 });
    checkpoint(dir, 'c2', 'ckpt:c1', { tokens: 2000, actionTokens: 200, wallSeconds: 120 });
    checkpoint(dir, 'c3', 'ckpt:c2', { tokens: 4000, actionTokens: 400, wallSeconds: 240, attention: 'sdpa' });
    // The final checkpoint's adapter GGUF is named by its sha256 (the file the evaluation loaded).
    writeFileSync(path.join(dir, 'c3', 'adapter.gguf'), 'gguf bytes');
    expect(trainerTotalsOf(dir, 'c3')).toEqual({ updates: 3, tokens: 7000, actionTokens: 700, trainerSeconds: 420, checkpoint: 'c3', adapterSha256: createHash('sha256').update('gguf bytes').digest('hex') });
    expect(trainerTotalsOf(dir, 'c2')).toEqual({ updates: 2, tokens: 3000, actionTokens: 300, trainerSeconds: 180, checkpoint: 'c2' });
    expect(trainerTotalsOf(dir, 'elsewhere')).toBeUndefined();
    checkpoint(dir, 'd2', 'ckpt:gone', { tokens: 5, actionTokens: 1, wallSeconds: 1 });
    expect(trainerTotalsOf(dir, 'd2')).toEqual({ updates: 1, tokens: 5, actionTokens: 1, trainerSeconds: 1, checkpoint: 'd2' });
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
    expect(md).toContain(`| swirl | 3 | 9,000 | 900 | 1.50 | \`${'ab'.repeat(32)}\` |`);
    expect(md).toContain('![Mean sampled reward, KL and loss per iteration of each train stage](results-curves.svg)');
    const json = resultsJson(data);
    expect(json.arms.base?.answeredRate).toBeCloseTo(0.76);
    expect(json.arms.base?.accuracyWhenAnswered).toBeCloseTo(97 / 228);
    expect(json.arms.swirl?.accuracyWhenAnswered).toBeUndefined();
    expect(json.arms.swirl?.training).toEqual({ updates: 3, tokens: 9000, actionTokens: 900, trainerHours: 1.5, checkpoint: 'c3', adapterSha256: 'ab'.repeat(32) });
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

  it('gives an sft stage no sampled reward: a dash in the table and no reward summary', () => {
    const md = renderResultsMarkdown(buildReportData(sources()));
    const sft = md.slice(md.indexOf('## Training `sft`'));
    expect(sft).toMatch(/\n\| 1 \| – \| 0\.5000 \|/);
    expect(sft).toContain('Supervised fine-tuning (objective sft)');
    expect(sft).not.toContain('Mean reward 1.000');
    const swirl = md.slice(md.indexOf('## Training `swirl`'), md.indexOf('## Training `sft`'));
    expect(swirl).toMatch(/Mean reward 0\.000 → /);
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

describe('the comparison on questions both policies answered', () => {
  // Four questions: base answers q1 (right), q2 (wrong), gives no action on q3 and q4;
  // the arm answers q1 (wrong), q2 (right), q3 (right), q4 (no action).
  const rows = {
    base: [
      { questionId: 'q1', status: 'answered', correct: true },
      { questionId: 'q2', status: 'answered', correct: false },
      { questionId: 'q3', status: 'no_action', correct: false },
      { questionId: 'q4', status: 'max_steps', correct: false },
    ],
    arm: [
      { questionId: 'q1', status: 'answered', correct: false },
      { questionId: 'q2', status: 'answered', correct: true },
      { questionId: 'q3', status: 'answered', correct: true },
      { questionId: 'q4', status: 'no_action', correct: false },
    ],
  };
  const ev = (stageId: string, policy: string, r: typeof rows.base, flags?: boolean[]) => ({
    stageId, policy, dataset: 'gsm8k', n: r.length, correct: r.filter((x) => x.correct).length, accuracy: 0, ci95: [0, 0] as [number, number],
    outcomes: r.map((x) => x.correct), ...(flags ? { answeredFlags: flags } : {}),
  });

  it('reads the answered flags from the evaluations\' rows and restricts the paired comparison to questions both answered', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-answered-'));
    dirs.push(dir);
    const store = new FsArtifactStore(dir);
    const refBase = await store.put('metrics', rows.base);
    const refArm = await store.put('metrics', rows.arm);
    const notes: string[] = [];
    const flags = await answeredFlagsOf(
      [
        { id: 'eval-base', type: 'evaluate', status: 'completed', output: refBase },
        { id: 'eval-arm', type: 'evaluate', status: 'completed', output: refArm },
        { id: 'eval-gone', type: 'evaluate', status: 'completed', output: { ...refArm, hash: 'f'.repeat(64) } },
        { id: 'eval-running', type: 'evaluate', status: 'running' },
      ] as never,
      store,
      notes,
    );
    expect(flags).toEqual({ 'eval-base': [true, true, false, false], 'eval-arm': [true, true, true, false] });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('eval-gone');

    const [c] = compareEvaluations([ev('eval-base', 'base', rows.base, flags['eval-base']), ev('eval-arm', 'arm', rows.arm, flags['eval-arm'])]);
    // Overall: the arm gains q2 and q3, loses q1. Both answered: q1 and q2 only.
    expect(c!.discordant).toEqual({ bOnly: 2, aOnly: 1 });
    expect(c!.bothAnswered).toEqual({ n: 2, aCorrect: 1, bCorrect: 1, bOnly: 1, aOnly: 1, mcnemarP: 1 });
    // Without flags on either side: no restricted comparison, never a guessed one.
    expect(compareEvaluations([ev('eval-base', 'base', rows.base), ev('eval-arm', 'arm', rows.arm, flags['eval-arm'])])[0]!.bothAnswered).toBeUndefined();
  });

  it('shows the restricted comparison in the Markdown and in results.json', () => {
    const src = sources();
    src.stages = src.stages.map((s) => (s.type === 'evaluate' ? { ...s, stats: { ...s.stats, n: 4, correct: s.id === 'eval-base' ? 1 : 2, answered: s.id === 'eval-base' ? 2 : 3, outcomes: (s.id === 'eval-base' ? rows.base : rows.arm).map((x) => x.correct) } } : s));
    src.answeredFlags = { 'eval-base': [true, true, false, false], 'eval-swirl': [true, true, true, false] };
    const data = buildReportData(src);
    const md = renderResultsMarkdown(data);
    expect(md).toContain('On the questions both policies answered');
    expect(md).toContain('| eval-swirl (swirl) − eval-base (base) | 2 | 1 (50.0%) | 1 (50.0%) | 1 / 1 | 1 |');
    expect(renderReport(data)).toContain('both answered 2: 1 vs 1 right, 1 vs 1 discordant, p 1');
    expect(resultsJson(data).arms.swirl?.pairedVsBase?.bothAnswered).toEqual({ n: 2, aCorrect: 1, bCorrect: 1, bOnly: 1, aOnly: 1, mcnemarP: 1 });
    // Flags of another length than the outcomes (a different artifact): not used.
    src.answeredFlags = { 'eval-base': [true], 'eval-swirl': [true, true, true, false] };
    expect(renderResultsMarkdown(buildReportData(src))).not.toContain('On the questions both policies answered');
  });

  it('is in the report the run\'s own report stage writes, too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-stage-report-'));
    dirs.push(dir);
    const saved = process.env.SWIRL_STATE_DIR;
    process.env.SWIRL_STATE_DIR = dir;
    try {
      const store = new FsArtifactStore(path.join(dir, 'artifacts'));
      const stats = (policy: string, r: typeof rows.base) => ({ policy, dataset: 'gsm8k', n: 4, correct: r.filter((x) => x.correct).length, outcomes: r.map((x) => x.correct) });
      const stages = [
        { id: 'eval-base', type: 'evaluate', status: 'completed', output: await store.put('metrics', rows.base), stats: stats('base', rows.base) },
        { id: 'eval-arm', type: 'evaluate', status: 'completed', output: await store.put('metrics', rows.arm), stats: stats('arm', rows.arm) },
      ];
      const plan = { pipeline: { name: 'p' }, specHash: 'x', stages: stages.map((s) => ({ id: s.id, type: s.type, inputs: [], config: {} })) } as never;
      await writeStageReport(store, { workflowId: 'w-1', runId: 'r', startTime: new Date(0).toISOString(), plan, stages: stages as never });
      expect(readFileSync(stageReportPath('w-1'), 'utf8')).toContain('both answered 2: 1 vs 1 right');
    } finally {
      if (saved === undefined) delete process.env.SWIRL_STATE_DIR;
      else process.env.SWIRL_STATE_DIR = saved;
    }
  });
});
